"""The one wrapper around Vosk: one model per process, one recogniser per turn.

The Vosk binding releases the GIL while decoding, so calls on several threads
share one `SpeechModel` and decode in parallel. Audio is resampled to the
model's rate (16 kHz for the small models) before it reaches the recogniser,
because Vosk aborts the process on a rate mismatch.
"""

import json
import logging
import time
from dataclasses import dataclass

import vosk

from .audio import SAMPLE_WIDTH, StreamResampler, audioop, line_noise

logger = logging.getLogger(__name__)

MODEL_RATE = 16000

# Faint noise added to all audio before decoding. With the Korean small model,
# stretches of digital silence (exact zeros, as synthesised speech and some
# phone gateways produce) turned correct grammar results into wrong ones in our
# runs. A -70 dBFS floor, far below any line noise, is meant to avoid that.
# NOTE: checked on espeak-ng speech only; the effect on real callers is unmeasured.
_DITHER = line_noise(1.0, MODEL_RATE, level=10, seed=3)


def _dither(pcm):
    noise = _DITHER * (len(pcm) // len(_DITHER) + 1)
    return audioop.add(pcm, noise[:len(pcm)], SAMPLE_WIDTH)


class ModelLoadError(Exception):
    """The Vosk model folder could not be loaded."""


@dataclass
class Utterance:
    """Recognition result of one turn: text, mean word confidence and decoding time."""
    text: str
    confidence: float | None
    recognition_ms: float


class SpeechModel:
    """A loaded Vosk model; thread-safe to share."""

    def __init__(self, path, rate=MODEL_RATE):
        vosk.SetLogLevel(-1)
        started = time.monotonic()
        try:
            self.model = vosk.Model(str(path))
        except Exception as error:  # the binding raises a bare Exception
            raise ModelLoadError(f"Vosk could not load the model at {path} ({error}); check "
                                 "that the folder is an unpacked Vosk model") from None
        self.path, self.rate = path, rate
        self.has_unk = self.has_word("[unk]")
        logger.info("Vosk model loaded from %s in %.1f s", path, time.monotonic() - started)

    def has_word(self, word):
        return self.model.vosk_model_find_word(word) != -1

    def stream(self, input_rate, phrases=None):
        """Return a RecognitionStream; `phrases` None means free speech."""
        return RecognitionStream(self, input_rate, phrases)


class RecognitionStream:
    """One turn's recogniser: feed PCM chunks as they arrive, then call `finish()`."""

    def __init__(self, model, input_rate, phrases=None):
        if phrases is None:
            self._recognizer = vosk.KaldiRecognizer(model.model, model.rate)
        else:
            grammar = list(phrases)
            if model.has_unk:
                grammar.append("[unk]")
            # ensure_ascii=False: escaped non-ASCII words would all be dropped as unknown.
            self._recognizer = vosk.KaldiRecognizer(model.model, model.rate,
                                                    json.dumps(grammar, ensure_ascii=False))
        self._recognizer.SetWords(True)
        self._resampler = StreamResampler(input_rate, model.rate)
        self._texts, self._confidences = [], []
        self._busy_seconds = 0.0

    def feed(self, pcm):
        started = time.monotonic()
        pcm = _dither(self._resampler.convert(pcm))
        if self._recognizer.AcceptWaveform(pcm):
            self._collect(self._recognizer.Result())
        self._busy_seconds += time.monotonic() - started

    def finish(self):
        """Return the Utterance; recognition_ms counts only the time spent after the
        last chunk (what a caller waits for after the end of speech)."""
        started = time.monotonic()
        self._collect(self._recognizer.FinalResult())
        waited = (time.monotonic() - started) * 1000
        text = " ".join(t for t in self._texts if t)
        confidence = (sum(self._confidences) / len(self._confidences)
                      if self._confidences else None)
        return Utterance(text.replace("[unk]", "").strip(), confidence, waited)

    def _collect(self, result_json):
        result = json.loads(result_json)
        text = result.get("text", "")
        if text:
            self._texts.append(text)
        for word in result.get("result", []):
            self._confidences.append(float(word.get("conf", 0.0)))
