"""Prompts: texts from prompts/<lang>/prompts.json, turned into telephone audio.

A prompt's audio comes from, in order:
1. prompts/<lang>/audio/<prompt id>.wav, a recording by a voice artist (any
   rate, mono or stereo, converted on load);
2. the prompt cache (IVR_DATA_DIR/prompt-cache/<lang>/), where the text was
   rendered once by espeak-ng as 8 kHz 16-bit mono WAV, named by a hash of the
   text so that an edited text is rendered anew.

Dynamic read-backs (dates, times, numbers of places, booking codes) are texts
built at run time by the language module and rendered the same way.
"""

import hashlib
import json
import logging
import math
import shutil
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

from .audio import AudioFormatError, read_wav, resample, write_wav

logger = logging.getLogger(__name__)

CACHE_RATE = 8000
ESPEAK_VOICES = {"ru": "ru", "ko": "ko", "en": "en"}


class PromptError(Exception):
    """A prompt is missing or cannot be rendered."""


class Prompts:
    def __init__(self, prompt_dir, cache_dir, lang):
        self.prompt_dir = Path(prompt_dir)
        self.cache_dir = Path(cache_dir) / lang
        self.lang = lang
        path = self.prompt_dir / "prompts.json"
        try:
            self.texts = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise PromptError(f"prompt file {path} cannot be read: {error}") from None
        self._memory = {}
        self._lock = threading.Lock()

    def text(self, prompt_id, **values):
        try:
            template = self.texts[prompt_id]
        except KeyError:
            raise PromptError(f"prompt {prompt_id!r} is missing from "
                              f"{self.prompt_dir / 'prompts.json'}") from None
        return template.format(**values) if values else template

    def audio(self, prompt_id, rate):
        """Return the PCM of a fixed prompt at `rate` Hz (recording first, else synthesis)."""
        recorded = self.prompt_dir / "audio" / f"{prompt_id}.wav"
        if recorded.is_file():
            key = ("recorded", prompt_id, rate, recorded.stat().st_mtime)
            if key not in self._memory:
                try:
                    self._memory[key] = read_wav(recorded, rate)[0]
                except AudioFormatError as error:
                    raise PromptError(f"recorded prompt {recorded} cannot be used: {error}") \
                        from None
            return self._memory[key]
        return self.speech(self.text(prompt_id), rate)

    def speech(self, text, rate):
        """Return synthesised speech of `text` at `rate` Hz, rendering it on first use."""
        key = ("speech", text, rate)
        cached = self._memory.get(key)
        if cached is not None:
            return cached
        path = self.cache_path(text)
        with self._lock:
            if not path.is_file():
                self._render(text, path)
        pcm = read_wav(path, rate)[0]
        if len(self._memory) < 2000:
            self._memory[key] = pcm
        return pcm

    def cache_path(self, text):
        digest = hashlib.sha1(f"{self.lang}\n{text}".encode()).hexdigest()[:16]
        return self.cache_dir / f"{digest}.wav"

    def _render(self, text, path):
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise PromptError("espeak-ng is not installed, so prompts cannot be synthesised; "
                              "install it (apt-get install espeak-ng) or record every prompt "
                              f"as a WAV file in {self.prompt_dir / 'audio'}")
        voice = ESPEAK_VOICES.get(self.lang, self.lang)
        with tempfile.TemporaryDirectory() as work:
            raw = Path(work) / "speech.wav"
            result = subprocess.run([espeak, "-v", voice, "-w", str(raw), text],
                                    capture_output=True, timeout=60)
            if result.returncode != 0 or not raw.is_file():
                raise PromptError(f"espeak-ng failed for voice {voice!r}: "
                                  f"{result.stderr.decode(errors='replace').strip()}")
            pcm, rate = read_wav(raw)
        write_wav(path, resample(pcm, rate, CACHE_RATE), CACHE_RATE)

    def render_all(self, rate):
        """Render every prompt without placeholders, so calls wait only for read-backs."""
        for prompt_id, text in self.texts.items():
            if "{" not in text:
                self.audio(prompt_id, rate)


def beep(rate, seconds=0.35, frequency=1000, level=0.3):
    """Return a sine beep as linear16 PCM, the signal to start speaking."""
    count = int(rate * seconds)
    amplitude = int(32767 * level)
    samples = (int(amplitude * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)
