"""Korean read-backs: numbers with Korean counters, which espeak-ng reads in Korean."""

SINO_DIGITS = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]


def day_phrase(day):
    return f"{day.month}월 {day.day}일"


def time_phrase(moment):
    text = f"{moment.hour}시"
    if moment.minute:
        text += f" {moment.minute}분"
    return text


def tour_phrase(moment):
    return f"{day_phrase(moment.date())} {time_phrase(moment)}"


def places_phrase(n):
    return f"{n}명"


def digits_phrase(digits):
    return " ".join(SINO_DIGITS[int(d)] for d in digits if d.isdigit())


def hours_phrase(start_minute, end_minute):
    return f"{start_minute // 60}시부터 {end_minute // 60}시까지"
