"""PCM audio helpers: reading and checking WAV files, resampling, G.711, WAV writing.

All audio inside the line is 16-bit signed little-endian mono PCM ("linear16")
at a stated sample rate in Hz. Frames are 20 ms long, as on a phone call.
"""

import math
import os
import random
import struct
import tempfile
import wave
from pathlib import Path

try:  # audioop left the standard library in Python 3.13; audioop-lts replaces it.
    import audioop
except ImportError:  # pragma: no cover
    import audioop_lts as audioop  # type: ignore

SAMPLE_WIDTH = 2
FRAME_MS = 20


class AudioFormatError(ValueError):
    """An audio file cannot be used; the message says what is wrong and what to do."""


def frame_bytes(rate):
    """Return the size in bytes of one 20 ms frame at `rate` Hz."""
    return rate * FRAME_MS // 1000 * SAMPLE_WIDTH


def read_wav(path, rate=None):
    """Read a WAV file as mono linear16 PCM; resample to `rate` Hz when given.

    Returns (pcm, rate). Stereo is mixed down; 8-bit and 24/32-bit samples are
    converted; G.711 WAV files (mu-law, A-law) are decoded. Raises
    AudioFormatError for a missing, truncated or non-WAV file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFormatError(f"audio file {path} not found")
    pcm, source_rate = _decode_wav(path)
    if rate is not None and rate != source_rate:
        pcm = resample(pcm, source_rate, rate)
        source_rate = rate
    return pcm, source_rate


def _decode_wav(path):
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioFormatError(f"{path} is not a WAV file (no RIFF/WAVE header); "
                               "convert it, for example: sox INPUT -r 16000 -c 1 -b 16 OUTPUT.wav")
    format_tag = _wav_format_tag(path)
    if format_tag in (6, 7):  # A-law, mu-law: the wave module reads only PCM.
        return _decode_g711_wav(path, format_tag)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError, struct.error) as error:
        raise AudioFormatError(f"{path} is not a readable PCM WAV file ({error}); convert it, "
                               "for example: sox INPUT -r 16000 -c 1 -b 16 OUTPUT.wav") from None
    if not data:
        raise AudioFormatError(f"{path} contains no audio samples (empty or truncated file); record or convert it again")
    data = data[:len(data) - len(data) % (width * channels)]
    if width == 1:
        data = audioop.bias(data, 1, -128)
    if width != SAMPLE_WIDTH:
        data = audioop.lin2lin(data, width, SAMPLE_WIDTH)
    if channels == 2:
        data = audioop.tomono(data, SAMPLE_WIDTH, 0.5, 0.5)
    elif channels != 1:
        raise AudioFormatError(f"{path} has {channels} channels; use mono or stereo audio")
    return data, rate


def _wav_format_tag(path):
    """Return the WAVE format tag (1 PCM, 6 A-law, 7 mu-law), or 0 when no fmt chunk is found."""
    with open(path, "rb") as f:
        f.seek(12)
        while True:
            header = f.read(8)
            if len(header) < 8:
                return 0
            chunk_id, size = struct.unpack("<4sI", header)
            if chunk_id == b"fmt ":
                return struct.unpack("<H", f.read(2))[0]
            f.seek(size + (size & 1), os.SEEK_CUR)


def _decode_g711_wav(path, format_tag):
    with open(path, "rb") as f:
        raw = f.read()
    position, fmt, data = 12, None, None
    while position + 8 <= len(raw):
        chunk_id, size = struct.unpack_from("<4sI", raw, position)
        body = raw[position + 8:position + 8 + size]
        if chunk_id == b"fmt ":
            fmt = struct.unpack_from("<HHI", body)
        elif chunk_id == b"data":
            data = body
        position += 8 + size + (size & 1)
    if fmt is None or not data:
        raise AudioFormatError(f"{path} is a truncated G.711 WAV file (no fmt or data chunk)")
    _, channels, rate = fmt
    decode = audioop.alaw2lin if format_tag == 6 else audioop.ulaw2lin
    pcm = decode(data, SAMPLE_WIDTH)
    if channels == 2:
        pcm = audioop.tomono(pcm, SAMPLE_WIDTH, 0.5, 0.5)
    return pcm, rate


def resample(pcm, from_rate, to_rate):
    """Resample a whole linear16 mono PCM buffer; use StreamResampler for a stream."""
    if from_rate == to_rate:
        return pcm
    converted, _ = audioop.ratecv(pcm, SAMPLE_WIDTH, 1, from_rate, to_rate, None)
    return converted


class StreamResampler:
    """Resample a stream chunk by chunk without clicks at chunk borders."""

    def __init__(self, from_rate, to_rate):
        self.from_rate, self.to_rate = from_rate, to_rate
        self._state = None

    def convert(self, pcm):
        if self.from_rate == self.to_rate:
            return pcm
        out, self._state = audioop.ratecv(pcm, SAMPLE_WIDTH, 1, self.from_rate, self.to_rate,
                                          self._state)
        return out


def telephone_band(pcm, rate, codec="ulaw"):
    """Pass audio through an 8 kHz G.711 phone line and back to `rate` Hz."""
    narrow = resample(pcm, rate, 8000)
    if codec == "ulaw":
        narrow = audioop.ulaw2lin(audioop.lin2ulaw(narrow, SAMPLE_WIDTH), SAMPLE_WIDTH)
    elif codec == "alaw":
        narrow = audioop.alaw2lin(audioop.lin2alaw(narrow, SAMPLE_WIDTH), SAMPLE_WIDTH)
    return resample(narrow, 8000, rate)


def rms_dbfs(pcm):
    """Return the level of a PCM chunk in dB relative to full scale (-100 for silence)."""
    if not pcm:
        return -100.0
    rms = audioop.rms(pcm, SAMPLE_WIDTH)
    if rms <= 0:
        return -100.0
    return 20 * math.log10(rms / 32768)


def silence(seconds, rate):
    return b"\x00" * (int(seconds * rate) * SAMPLE_WIDTH)


def line_noise(seconds, rate, level=30, seed=1):
    """Return faint Gaussian noise (about -60 dBFS): the floor of a quiet phone line.

    Digital silence (all zeros) is not what a recogniser hears on a real line,
    and Vosk decodes speech followed by exact zeros noticeably worse.
    """
    rng = random.Random(seed)
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(int(rng.gauss(0, level)) for _ in range(count)))


def duration_seconds(pcm, rate):
    return len(pcm) / SAMPLE_WIDTH / rate


def write_wav(path, pcm, rate):
    """Write a mono linear16 WAV durably: temporary file, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            with wave.open(f, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(SAMPLE_WIDTH)
                w.setframerate(rate)
                w.writeframes(pcm)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
