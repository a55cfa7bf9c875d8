"""Settings of the voice line, read once from environment variables.

Every setting has a default that runs the line on one machine. The table in
README.md lists them; this module is the single place that reads them.

| variable | default | meaning |
| --- | --- | --- |
| IVR_LANG | ru | dialog language: a folder name under grammars/ and prompts/ |
| IVR_DATA_DIR | ./data | database, recordings and the prompt cache |
| IVR_DB | <data>/ivr.sqlite3 | SQLite file of tours, bookings, questions and calls |
| IVR_MODEL_DIR | ~/.local/share/ivr/models | where downloaded Vosk models are kept |
| IVR_MODEL_PATH | (per language) | path to a Vosk model folder; overrides the lookup |
| IVR_MODEL_URL | (per language) | where the model is downloaded from on first run |
| IVR_SCHEDULE | <package>/schedule_default.json | tour schedule loaded into an empty database |
| IVR_NO_INPUT_TIMEOUT | 5 | seconds of silence after a prompt before a no-input |
| IVR_END_OF_SPEECH | 0.8 | seconds of silence that end an utterance |
| IVR_MAX_UTTERANCE | 15 | seconds after which an utterance is cut |
| IVR_MAX_FAILURES | 3 | no-input plus no-match events per turn before a transfer |
| IVR_MAX_CALL_SECONDS | 600 | a call longer than this is ended politely |
| IVR_QUESTION_MAX_SECONDS | 60 | maximum length of a recorded question |
| IVR_QUESTION_END_SILENCE | 4 | seconds of silence that end a recorded question |
| IVR_QUALIFYING | 1 | ask age group, social status and occupation before a question |
| IVR_OPERATORS | available | available, busy or none: operator state when the channel reports none |
| IVR_OPERATOR_HOURS | 09:00-18:00 | local hours when operators take calls |
| IVR_OPERATOR_URI | sip:operator@127.0.0.1:5090 | where transfers go |
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


class ConfigError(Exception):
    """A setting has a value the line cannot use."""


def _env_float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to a number of seconds "
                          f"or unset it to use the default {default}") from None


def _env_int(name, default):
    value = _env_float(name, default)
    if value != int(value) or value < 0:
        raise ConfigError(f"{name}={value} must be a whole number of 0 or more")
    return int(value)


def _parse_hours(raw):
    try:
        start, end = raw.split("-")
        start_h, start_m = (int(x) for x in start.split(":"))
        end_h, end_m = (int(x) for x in end.split(":"))
    except ValueError:
        raise ConfigError(f"IVR_OPERATOR_HOURS={raw!r} is invalid; "
                          "use the form HH:MM-HH:MM, for example 09:00-18:00") from None
    return start_h * 60 + start_m, end_h * 60 + end_m


@dataclass
class Settings:
    lang: str = "ru"
    data_dir: Path = PROJECT_DIR / "data"
    db_path: Path = None
    model_dir: Path = Path.home() / ".local" / "share" / "ivr" / "models"
    model_path: Path = None
    model_url: str = None
    schedule_path: Path = PACKAGE_DIR / "schedule_default.json"
    no_input_timeout: float = 5.0
    end_of_speech: float = 0.8
    max_utterance: float = 15.0
    max_failures: int = 3
    max_call_seconds: float = 600.0
    question_max_seconds: float = 60.0
    question_end_silence: float = 4.0
    qualifying: bool = True
    operators: str = "available"
    operator_hours: tuple = (9 * 60, 18 * 60)
    operator_uri: str = "sip:operator@127.0.0.1:5090"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.data_dir = Path(self.data_dir)
        if self.db_path is None:
            self.db_path = self.data_dir / "ivr.sqlite3"
        self.db_path = Path(self.db_path)
        if self.operators not in ("available", "busy", "none"):
            raise ConfigError(f"IVR_OPERATORS={self.operators!r} is invalid; "
                              "use available, busy or none")

    @property
    def recordings_dir(self):
        return self.data_dir / "recordings"

    @property
    def prompt_cache_dir(self):
        return self.data_dir / "prompt-cache"

    @property
    def grammar_dir(self):
        return PROJECT_DIR / "grammars" / self.lang

    @property
    def prompt_dir(self):
        return PROJECT_DIR / "prompts" / self.lang


def load_settings(**overrides):
    """Build Settings from the environment; keyword arguments win over both."""
    env = os.environ
    values = dict(
        lang=env.get("IVR_LANG", "ru"),
        data_dir=Path(env.get("IVR_DATA_DIR", PROJECT_DIR / "data")),
        db_path=env.get("IVR_DB") or None,
        model_dir=Path(env.get("IVR_MODEL_DIR",
                               Path.home() / ".local" / "share" / "ivr" / "models")),
        model_path=env.get("IVR_MODEL_PATH") or None,
        model_url=env.get("IVR_MODEL_URL") or None,
        schedule_path=Path(env.get("IVR_SCHEDULE", PACKAGE_DIR / "schedule_default.json")),
        no_input_timeout=_env_float("IVR_NO_INPUT_TIMEOUT", 5.0),
        end_of_speech=_env_float("IVR_END_OF_SPEECH", 0.8),
        max_utterance=_env_float("IVR_MAX_UTTERANCE", 15.0),
        max_failures=_env_int("IVR_MAX_FAILURES", 3),
        max_call_seconds=_env_float("IVR_MAX_CALL_SECONDS", 600.0),
        question_max_seconds=_env_float("IVR_QUESTION_MAX_SECONDS", 60.0),
        question_end_silence=_env_float("IVR_QUESTION_END_SILENCE", 4.0),
        qualifying=env.get("IVR_QUALIFYING", "1") not in ("0", "no", "false", "off"),
        operators=env.get("IVR_OPERATORS", "available"),
        operator_hours=_parse_hours(env.get("IVR_OPERATOR_HOURS", "09:00-18:00")),
        operator_uri=env.get("IVR_OPERATOR_URI", "sip:operator@127.0.0.1:5090"),
    )
    values.update(overrides)
    if values["model_path"] is not None:
        values["model_path"] = Path(values["model_path"])
    return Settings(**values)
