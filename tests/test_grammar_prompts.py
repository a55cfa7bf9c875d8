import json
import math
import shutil
import struct
from pathlib import Path

import pytest

from ivr import audio
from ivr.grammar import Grammar, GrammarError, GrammarSet
from ivr.prompts import Prompts

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ru():
    return GrammarSet(PROJECT_DIR / "grammars" / "ru")


@pytest.mark.parametrize("text, grammar, meaning", [
    ("оператор", "commands", "operator"),
    ("Живой человек!", "commands", "operator"),
    ("соедините с оператором", "commands", "operator"),
    ("пятнадцатое", "days", "dom:15"),
    ("двадцать третье число", "days", "dom:23"),
    ("на двоих", "party_size", "2"),
    ("в четырнадцать часов", "times", "hour:14"),
    ("всё верно", "yes_no", "yes"),
    ("запишите меня", "menu", "book"),
])
def test_russian_phrases_map_to_meanings(ru, text, grammar, meaning):
    assert ru[grammar].match(text).meaning == meaning


def test_extra_words_around_phrase_still_match(ru):
    assert ru["menu"].match("я хочу записаться на экскурсию пожалуйста").meaning == "book"


def test_two_meanings_in_one_utterance_is_no_match(ru):
    assert ru["yes_no"].match("да нет") is None


def test_digits_grammar_reads_digit_strings(ru):
    assert ru["digits"].match("восемь девять ноль три").meaning == "8903"
    assert ru["digits"].match("восемь девять привет") is None


def test_keys_map_to_meanings(ru):
    assert ru["menu"].dtmf_meaning("3") == "cancel"
    assert ru["menu"].dtmf_meaning("9") is None


def test_invalid_grammar_kind_rejected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "regex", "items": []}')
    with pytest.raises(GrammarError, match="kind 'regex' is invalid"):
        Grammar.load(path)


def test_missing_commands_file_rejected(tmp_path):
    (tmp_path / "menu.json").write_text('{"items": []}')
    with pytest.raises(GrammarError, match="commands.json is missing"):
        GrammarSet(tmp_path)


def tone(seconds, rate):
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 440 * n / rate))
                                       for n in range(count)))


def test_recorded_prompt_replaces_synthesis(tmp_path):
    prompt_dir = tmp_path / "prompts"
    prompt_dir.mkdir()
    shutil.copy(PROJECT_DIR / "prompts" / "ru" / "prompts.json", prompt_dir)
    prompts = Prompts(prompt_dir, tmp_path / "cache", "ru")
    synthesised = prompts.audio("greeting", 8000)
    audio.write_wav(prompt_dir / "audio" / "greeting.wav", tone(1.5, 44100), 44100)
    recorded = prompts.audio("greeting", 8000)
    assert recorded != synthesised
    assert audio.duration_seconds(recorded, 8000) == pytest.approx(1.5, abs=0.01)


def test_synthesised_prompt_cached_as_telephone_wav(tmp_path):
    prompts = Prompts(PROJECT_DIR / "prompts" / "ru", tmp_path / "cache", "ru")
    pcm = prompts.audio("goodbye", 16000)
    cached = prompts.cache_path(prompts.text("goodbye"))
    assert cached.is_file()
    assert audio.read_wav(cached)[1] == 8000
    assert audio.duration_seconds(pcm, 16000) > 1
    fresh = Prompts(PROJECT_DIR / "prompts" / "ru", tmp_path / "cache", "ru")
    mtime = cached.stat().st_mtime_ns
    fresh.audio("goodbye", 8000)
    assert cached.stat().st_mtime_ns == mtime


def test_every_prompt_language_has_same_ids():
    ids = {lang: set(json.loads((PROJECT_DIR / "prompts" / lang / "prompts.json")
                                .read_text(encoding="utf-8")))
           for lang in ("ru", "ko")}
    assert ids["ru"] == ids["ko"]
