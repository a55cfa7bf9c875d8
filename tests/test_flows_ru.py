"""Every Russian flow at the level of recognition results: text turns, same dialog code."""

from datetime import datetime

from conftest import events, run_call

PHONE = "79161234567"


def booking_turns():
    return ["записаться", "завтра", "в одиннадцать", "на двоих", "Иван Петров", "да"]


def test_booking_by_voice_with_caller_id(ru_line):
    record = run_call(ru_line, booking_turns(), caller_id=PHONE)
    assert record["outcome"] == "booked"
    booking = ru_line.store.find_booking_by_code(record["booking_code"])
    assert booking["places"] == 2
    assert booking["name"] == "Иван Петров"
    assert booking["phone"] == PHONE
    assert datetime.fromisoformat(booking["tour_starts_at"]).hour == 11


def test_booking_asks_phone_without_caller_id(ru_line):
    turns = ["записаться", "key:1", "key:3", "key:1", "Анна", "key:89031234567#", "да"]
    record = run_call(ru_line, turns)
    assert record["outcome"] == "booked"
    booking = ru_line.store.find_booking_by_code(record["booking_code"])
    assert booking["phone"] == "89031234567"
    assert booking["places"] == 1
    assert datetime.fromisoformat(booking["tour_starts_at"]).hour == 12


def test_booking_phone_by_voice_digits(ru_line):
    turns = ["записаться", "первый день", "десять", "один", "Олег", "восемь девять ноль три один",
             "да"]
    record = run_call(ru_line, turns)
    assert record["outcome"] == "booked"
    assert ru_line.store.find_booking_by_code(record["booking_code"])["phone"] == "89031"


def test_booking_declined_is_not_committed(ru_line):
    turns = ["записаться", "завтра", "десять", "два", "Иван", "нет", "hangup"]
    record = run_call(ru_line, turns, caller_id=PHONE)
    assert record["outcome"] == "abandoned"
    assert ru_line.store.list_bookings() == []


def test_party_size_bounded_by_places_left(ru_line):
    tour = ru_line.store.tours_with_room()[0]
    ru_line.store.book(tour["id"], tour["capacity"] - 2)
    turns = ["записаться", "завтра", "десять", "пять", "двое", "Иван", "да"]
    record = run_call(ru_line, turns, caller_id=PHONE)
    assert events(record, "places") == ["nomatch", "match"]
    assert record["outcome"] == "booked"
    assert ru_line.store.get_tour(tour["id"])["places_left"] == 0


def test_tour_filling_mid_dialog_offers_nearest(ru_line):
    store = ru_line.store
    tour = store.tours_with_room()[0]

    turns = ["записаться", "завтра", "десять", "двое", "Иван"]
    record_turns = turns + ["да", "key:1", "да"]

    # Another caller takes the last places while this caller gives the name.
    original_record = ru_line.store.add_turn

    def add_turn(call_id, **fields):
        original_record(call_id, **fields)
        if fields.get("field") == "name":
            left = store.get_tour(tour["id"])["places_left"]
            if left:
                store.book(tour["id"], left)

    ru_line.store.add_turn = add_turn
    record = run_call(ru_line, record_turns, caller_id=PHONE)
    assert record["outcome"] == "booked"
    booking = store.find_booking_by_code(record["booking_code"])
    assert booking["tour_id"] != tour["id"]
    assert booking["places"] == 2
    assert store.get_tour(tour["id"])["booked"] == tour["capacity"]
    assert "alternative" in [t["field"] for t in record["turns"]]


def test_check_by_caller_id(ru_line):
    booked = run_call(ru_line, booking_turns(), caller_id=PHONE)
    record = run_call(ru_line, ["проверить"], caller_id=PHONE)
    assert record["outcome"] == "checked"
    assert record["booking_code"] == booked["booking_code"]


def test_check_by_code_keys(ru_line):
    booked = run_call(ru_line, booking_turns(), caller_id=PHONE)
    record = run_call(ru_line, ["key:2", f"key:{booked['booking_code']}"])
    assert record["outcome"] == "checked"
    assert record["booking_code"] == booked["booking_code"]


def test_check_unknown_code_then_operator(ru_line):
    record = run_call(ru_line, ["проверить", "key:123456", "key:0"])
    assert events(record, "check_code") == ["nomatch", "operator"]
    assert record["outcome"] == "transferred"
    assert record["outcome_reason"] == "caller_request"


def test_cancel_by_caller_id(ru_line):
    booked = run_call(ru_line, booking_turns(), caller_id=PHONE)
    record = run_call(ru_line, ["отменить запись", "да"], caller_id=PHONE)
    assert record["outcome"] == "cancelled"
    assert ru_line.store.find_booking_by_code(booked["booking_code"]) is None
    tour = ru_line.store.get_tour(ru_line.store.get_booking(1)["tour_id"])
    assert tour["booked"] == 0


def test_cancel_declined_keeps_booking(ru_line):
    booked = run_call(ru_line, booking_turns(), caller_id=PHONE)
    record = run_call(ru_line, ["отменить", "нет"], caller_id=PHONE)
    assert record["outcome"] == "checked"
    assert ru_line.store.find_booking_by_code(booked["booking_code"]) is not None


def test_question_with_qualifying_turns(ru_line):
    turns = ["задать вопрос", "до тридцати пяти", "студент", "программист",
             "Когда начинается первая экскурсия?"]
    record = run_call(ru_line, turns, caller_id=PHONE)
    assert record["outcome"] == "question_recorded"
    question = ru_line.store.get_question(record["question_id"])
    assert question["transcript"] == "Когда начинается первая экскурсия?"
    assert question["age_group"] == "18_35"
    assert question["social_status"] == "student"
    assert question["occupation"] == "программист"
    assert question["phone"] == PHONE


def test_operator_by_voice_at_menu(ru_line):
    for phrase in ("оператор", "живой человек", "соедините с оператором"):
        record = run_call(ru_line, [phrase])
        assert record["outcome"] == "transferred"
        assert record["channel"].transfers == ["caller_request"]


def test_operator_key_zero_inside_booking(ru_line):
    record = run_call(ru_line, ["записаться", "завтра", "key:0"])
    assert record["outcome"] == "transferred"


def test_operator_after_three_no_matches(ru_line):
    record = run_call(ru_line, ["погода", "футбол", "что"])
    assert events(record, "menu") == ["nomatch", "nomatch", "nomatch"]
    assert record["outcome"] == "transferred"
    assert record["outcome_reason"] == "too_many_failures"


def test_second_reprompt_names_keys(ru_line):
    record = run_call(ru_line, ["погода", "футбол", "key:2", "key:000000"])
    prompts = [t["prompt"] for t in record["turns"] if t["field"] == "menu"]
    assert "Извините, я не поняла." in prompts[1]
    assert "Нажмите 1" in prompts[2]


def test_no_input_reprompts_then_transfer(ru_line):
    record = run_call(ru_line, ["silence:8", "silence:8", "silence:8"])
    assert events(record, "menu") == ["noinput", "noinput", "noinput"]
    assert record["outcome"] == "transferred"


def test_operators_busy_offers_question(ru_line):
    record = run_call(ru_line, ["оператор", "да", "старше шестидесяти", "на пенсии", "садовник",
                                "Можно ли прийти с внуком?"], operators=False)
    assert record["outcome"] == "question_recorded"
    assert record["channel"].transfers == []


def test_transfer_no_answer_returns_to_line(ru_line):
    record = run_call(ru_line, ["оператор", "нет"], transfer_result="no_answer")
    assert record["outcome"] == "abandoned"
    assert record["outcome_reason"] == "transfer_no_answer"
    assert [t["meaning"] for t in record["turns"] if t["field"] == "transfer"] == ["no_answer"]


def test_repeat_replays_prompt_without_failure(ru_line):
    record = run_call(ru_line, ["повторите", "повторите", "повторите", "проверить", "key:0"])
    assert events(record, "menu") == ["repeat", "repeat", "repeat", "match"]


def test_back_returns_to_previous_question(ru_line):
    turns = ["записаться", "завтра", "назад", "послезавтра", "десять", "один", "Иван", "да"]
    record = run_call(ru_line, turns, caller_id=PHONE)
    assert events(record, "day") == ["match", "match"]
    booking = ru_line.store.find_booking_by_code(record["booking_code"])
    first_day = datetime.fromisoformat(ru_line.store.list_tours()[0]["starts_at"]).date()
    assert datetime.fromisoformat(booking["tour_starts_at"]).date() > first_day


def test_hangup_at_every_turn_loses_nothing(ru_line):
    script = booking_turns()
    for cut in range(len(script)):
        record = run_call(ru_line, script[:cut] + ["hangup"], caller_id=PHONE)
        assert record["outcome"] == "abandoned", cut
        assert record["ended_at"] is not None
    assert ru_line.store.list_bookings() == []


def test_hangup_after_confirmation_keeps_booking(ru_line):
    record = run_call(ru_line, booking_turns() + ["hangup"], caller_id=PHONE)
    assert record["outcome"] == "booked"


def test_hangup_before_question_saves_nothing(ru_line):
    record = run_call(ru_line, ["вопрос", "key:2", "key:2", "инженер", "!hangup"])
    assert record["outcome"] == "abandoned"
    assert record["question_id"] is None
    assert ru_line.store.connect().execute("SELECT count(*) FROM questions").fetchone()[0] == 0


def test_flood_of_keys(ru_line):
    record = run_call(ru_line, ["key:" + "9" * 200])
    assert record["outcome"] in ("transferred", "abandoned")
    assert record["ended_at"] is not None


def test_max_call_length_ends_politely(tmp_path, prompt_cache):
    from conftest import make_settings
    from ivr.line import Line
    line = Line(make_settings(tmp_path, prompt_cache, lang="ru", max_call_seconds=20),
                model=False)
    record = run_call(line, ["повторите"] * 30)
    assert record["outcome"] == "failed"
    assert record["outcome_reason"] == "max_call_length"


def test_call_log_has_turns(ru_line):
    record = run_call(ru_line, booking_turns(), caller_id=PHONE)
    call = ru_line.store.get_call(record["call_id"])
    assert call["caller_id"] == PHONE
    assert call["started_at"] <= call["ended_at"]
    fields = [t["field"] for t in record["turns"]]
    assert fields[:3] == ["menu", "day", "tour"]
    assert all(t["prompt"] for t in record["turns"])


def test_hash_after_full_code_is_swallowed(ru_line):
    booked = run_call(ru_line, booking_turns(), caller_id=PHONE)
    record = run_call(ru_line, ["key:3", f"key:{booked['booking_code']}#", "да"])
    assert events(record, "cancel_code") == ["match"]
    assert events(record, "cancel_confirm") == ["match"]
    assert record["outcome"] == "cancelled"


def test_operators_closed_names_hours(tmp_path, prompt_cache):
    from conftest import make_settings
    from ivr.line import Line
    settings = make_settings(tmp_path, prompt_cache, lang="ru", operator_hours=(0, 0))
    line = Line(settings, model=False)
    record = run_call(line, ["оператор", "нет"])
    assert record["channel"].transfers == []
    assert record["outcome_reason"] == "transfer_unavailable"
    assert "Операторы работают с девяти до восемнадцати часов." not in record["prompts"]
    assert "Операторы работают с нуля до нуля часов." in record["prompts"]


def test_ten_places_by_voice(ru_line):
    record = run_call(ru_line, ["записаться", "завтра", "десять", "десять мест", "Иван", "да"],
                      caller_id=PHONE)
    assert record["outcome"] == "booked"
    assert ru_line.store.find_booking_by_code(record["booking_code"])["places"] == 10
