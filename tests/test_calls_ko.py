"""Whole calls by audio through the real Vosk model with the Korean pack.

Caller speech comes from espeak-ng; the phrases used are ones the Korean model
recognises reliably from that synthesiser.
"""

import random
import struct
import wave
from datetime import datetime

import pytest

from conftest import events, run_call, sox
from ivr import audio
from ivr.simulator import parse_turn, speak

PHONE = "01012345678"
BOOKING = ["예약", "내일", "열 시", "열 명", "김민수", "좋아요"]


def check_booking(line, record, places=10, hour=10):
    assert record["outcome"] == "booked", [(t["field"], t["event"], t["heard"])
                                           for t in record["turns"]]
    booking = line.store.find_booking_by_code(record["booking_code"])
    assert booking["places"] == places
    assert datetime.fromisoformat(booking["tour_starts_at"]).hour == hour
    assert booking["phone"] == PHONE
    assert (line.settings.data_dir / booking["name_recording"]).is_file()
    return booking


def test_booking_by_voice(ko_line):
    record = run_call(ko_line, BOOKING, caller_id=PHONE)
    check_booking(ko_line, record)
    menu_turn = record["turns"][0]
    assert menu_turn["heard"] == "예약"
    assert menu_turn["confidence"] is not None
    assert menu_turn["recognition_ms"] is not None


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_booking_through_telephone_band(ko_line, codec):
    record = run_call(ko_line, BOOKING, caller_id=PHONE, telephone=codec)
    check_booking(ko_line, record)


def test_booking_on_8khz_channel(ko_line):
    record = run_call(ko_line, BOOKING, caller_id=PHONE, rate=8000, telephone="ulaw")
    check_booking(ko_line, record)


def test_cancellation_by_voice(ko_line):
    booked = run_call(ko_line, BOOKING, caller_id=PHONE)
    record = run_call(ko_line, ["취소", "좋아요"], caller_id=PHONE)
    assert record["outcome"] == "cancelled"
    assert ko_line.store.find_booking_by_code(booked["booking_code"]) is None


def test_question_recorded_and_transcribed(ko_line):
    question = "견학은 몇 시에 시작합니까"
    record = run_call(ko_line, ["key:4", "key:4", "key:4", "학생", question], caller_id=PHONE)
    assert record["outcome"] == "question_recorded"
    stored = ko_line.store.get_question(record["question_id"])
    assert stored["age_group"] == "over_60"
    assert stored["social_status"] == "unemployed"  # key 4
    assert stored["transcript"]
    assert stored["ended_by"] == "silence"
    path = ko_line.settings.data_dir / stored["recording"]
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000
        assert w.getnframes() / 16000 > 1.0
    assert not list(path.parent.glob("*.part"))


def test_keys_only_caller(ko_line):
    record = run_call(ko_line, ["key:1", "key:1", "key:1", "key:2", "김민수", "key:1"],
                      caller_id=PHONE)
    assert record["outcome"] == "booked"
    booking = ko_line.store.find_booking_by_code(record["booking_code"])
    assert booking["places"] == 2
    assert all(t["keys"] for t in record["turns"] if t["field"] in ("menu", "day", "tour"))


def test_operator_fallback_after_no_matches(ko_line):
    record = run_call(ko_line, ["중년", "빵", "음"])
    assert events(record, "menu") == ["nomatch"] * 3
    assert record["outcome"] == "transferred"
    assert record["outcome_reason"] == "too_many_failures"


def test_operator_by_voice(ko_line):
    record = run_call(ko_line, ["상담원"])
    assert record["outcome"] == "transferred"
    assert record["outcome_reason"] == "caller_request"


def test_barge_in_stops_prompt(ko_line):
    record = run_call(ko_line, ["!예약", "!내일", "열 시", "열 명", "김민수", "좋아요"],
                      caller_id=PHONE)
    check_booking(ko_line, record)
    first = record["turns"][0]
    assert first["barge_in"] == 1
    assert first["meaning"] == "book"
    channel = record["channel"]
    # The menu prompt lasts several seconds; the caller cut it after about one second.
    assert channel.played[1][1] > 3


def test_barge_in_by_key(ko_line):
    record = run_call(ko_line, ["!key:3"], caller_id=PHONE)
    assert record["turns"][0]["barge_in"] == 1
    assert record["turns"][0]["meaning"] == "cancel"


def test_silence_gives_no_input(ko_line):
    record = run_call(ko_line, ["silence:7", "silence:7", "silence:7"])
    assert events(record, "menu") == ["noinput"] * 3
    assert record["outcome"] == "transferred"


def test_noise_is_a_no_match_or_no_input(ko_line, tmp_path):
    rng = random.Random(7)
    samples = [int(rng.gauss(0, 3000)) for _ in range(16000 * 3)]
    noise = tmp_path / "noise.wav"
    audio.write_wav(noise, struct.pack(f"<{len(samples)}h", *samples), 16000)
    record = run_call(ko_line, [str(noise)] * 3)
    # Without an [unk] word the Korean model may force noise onto a command word,
    # so the check is that noise never books anything and the call ends cleanly.
    assert "match" not in events(record, "menu")
    assert record["outcome"] in ("transferred", "abandoned")
    assert ko_line.store.list_bookings() == []


def test_wrong_sample_rate_is_resampled(ko_line, tmp_path):
    path = tmp_path / "word.wav"
    audio.write_wav(tmp_path / "16k.wav", speak("상담원", "ko", 16000), 16000)
    sox(tmp_path / "16k.wav", "-r", "44100", "-c", "2", path)
    record = run_call(ko_line, [str(path)])
    assert record["outcome"] == "transferred"
    assert record["turns"][0]["heard"] == "상담원"


def test_non_wav_and_truncated_files_rejected(tmp_path):
    text_file = tmp_path / "notes.wav"
    text_file.write_text("not audio")
    with pytest.raises(audio.AudioFormatError, match="not a WAV file"):
        parse_turn(str(text_file), "ko", 16000)
    good = tmp_path / "good.wav"
    audio.write_wav(good, speak("예약", "ko", 16000), 16000)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:44])
    with pytest.raises(audio.AudioFormatError, match="no audio samples|truncated"):
        parse_turn(str(truncated), "ko", 16000)
    with pytest.raises(audio.AudioFormatError, match="not found"):
        parse_turn(str(tmp_path / "missing.wav"), "ko", 16000)


def test_ten_minute_question_is_cut_at_maximum(ko_line, tmp_path):
    speech = speak("견학은 몇 시에 시작합니까", "ko", 16000)
    long_pcm = (speech * 400)[:16000 * 2 * 600]
    path = tmp_path / "ten-minutes.wav"
    audio.write_wav(path, long_pcm, 16000)
    record = run_call(ko_line, ["key:4", "key:4", "key:4", "학생", str(path)], caller_id=PHONE)
    assert record["outcome"] == "question_recorded"
    stored = ko_line.store.get_question(record["question_id"])
    assert stored["ended_by"] == "max_length"
    assert stored["duration_seconds"] == pytest.approx(60, abs=0.1)


def test_hangup_mid_question_keeps_what_was_said(ko_line, tmp_path):
    speech = speak("견학은 몇 시에 시작합니까 주차장이 있습니까", "ko", 16000)
    path = tmp_path / "cut.wav"
    audio.write_wav(path, speech[:len(speech) // 2 // 2 * 2], 16000)
    record = run_call(ko_line, ["key:4", "key:4", "key:4", "학생", str(path), "hangup"],
                      caller_id=PHONE)
    question_id = record["question_id"]
    assert record["outcome"] == "question_recorded"
    stored = ko_line.store.get_question(question_id)
    assert stored["duration_seconds"] > 0.5
    assert (ko_line.settings.data_dir / stored["recording"]).is_file()


def test_hangup_at_every_turn(ko_line):
    for cut in range(len(BOOKING)):
        record = run_call(ko_line, BOOKING[:cut] + ["hangup"], caller_id=PHONE)
        assert record["outcome"] == "abandoned"
        assert record["ended_at"] is not None
    assert ko_line.store.list_bookings() == []
