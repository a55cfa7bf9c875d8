"""Russian read-backs, written out in words so that any synthesiser pronounces them correctly."""

UNITS = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь",
         "девять", "десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать",
         "пятнадцать", "шестнадцать", "семнадцать", "восемнадцать", "девятнадцать"]
TENS = {20: "двадцать", 30: "тридцать", 40: "сорок", 50: "пятьдесят"}
ORDINALS_NEUTER = ["", "первое", "второе", "третье", "четвёртое", "пятое", "шестое",
                   "седьмое", "восьмое", "девятое", "десятое", "одиннадцатое", "двенадцатое",
                   "тринадцатое", "четырнадцатое", "пятнадцатое", "шестнадцатое",
                   "семнадцатое", "восемнадцатое", "девятнадцатое", "двадцатое"]
MONTHS_GENITIVE = ["", "января", "февраля", "марта", "апреля", "мая", "июня", "июля",
                   "августа", "сентября", "октября", "ноября", "декабря"]
WEEKDAYS = ["понедельник", "вторник", "среда", "четверг", "пятница", "суббота",
            "воскресенье"]


def number_words(n):
    if n < 20:
        return UNITS[n]
    tens, units = divmod(n, 10)
    return TENS[tens * 10] + ("" if units == 0 else " " + UNITS[units])


def plural(n, one, few, many):
    """Pick the Russian noun form for n: 1 место, 2 места, 5 мест."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def day_phrase(day):
    if day.day <= 20:
        ordinal = ORDINALS_NEUTER[day.day]
    elif day.day == 30:
        ordinal = "тридцатое"
    else:
        tens, units = divmod(day.day, 10)
        ordinal = TENS[tens * 10] + " " + ORDINALS_NEUTER[units]
    return f"{ordinal} {MONTHS_GENITIVE[day.month]}"


def time_phrase(moment):
    hours = plural(moment.hour, "час", "часа", "часов")
    text = f"{number_words(moment.hour)} {hours}"
    if moment.minute:
        text += f" {number_words(moment.minute)} " + plural(moment.minute, "минута", "минуты",
                                                             "минут")
    return text


def tour_phrase(moment):
    return f"{day_phrase(moment.date())}, в {time_phrase(moment)}"


def places_phrase(n):
    words = {1: "одно", 2: "два"}.get(n, number_words(n))
    return f"{words} {plural(n, 'место', 'места', 'мест')}"


def digits_phrase(digits):
    return ", ".join(UNITS[int(d)] for d in digits if d.isdigit())


def hours_phrase(start_minute, end_minute):
    """Read opening hours given in minutes after midnight: "с девяти до восемнадцати часов"."""
    return (f"с {_genitive_hour(start_minute // 60)} до {_genitive_hour(end_minute // 60)} "
            "часов")


def _genitive_hour(hour):
    genitive = {0: "нуля", 1: "одного", 2: "двух", 3: "трёх", 4: "четырёх", 5: "пяти",
                6: "шести", 7: "семи", 8: "восьми", 9: "девяти", 10: "десяти",
                11: "одиннадцати", 12: "двенадцати", 13: "тринадцати", 14: "четырнадцати",
                15: "пятнадцати", 16: "шестнадцати", 17: "семнадцати", 18: "восемнадцати",
                19: "девятнадцати", 20: "двадцати", 21: "двадцати одного",
                22: "двадцати двух", 23: "двадцати трёх", 24: "двадцати четырёх"}
    return genitive[hour]
