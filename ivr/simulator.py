"""A caller simulator: runs a whole call through the real pipeline from a script.

The caller's turns are given in order; each is one of:

    path/to/file.wav   the caller says this recording
    key:123#           the caller presses these keys (100 ms apart)
    silence:4          the caller says nothing for 4 seconds
    hangup             the caller hangs up
    any other text     with --speak, espeak-ng speaks it and Vosk recognises it;
                       without, it is given to the dialog as a recognition result

A turn starting with "!" barges in: it starts 1 second into the prompt instead
of after it. The caller answers each prompt that ends (or that it barges into)
with its next turn; when the turns run out, the caller hangs up at the next
question. Time is simulated in 20 ms frames, so a call runs faster than real
time with exactly the same timing rules as a phone call.

Run `python -m ivr.simulator --help` for the options.
"""

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import audio
from .channel import TRANSFERRED, UNAVAILABLE, Channel, Dtmf, Frame, HangUp, Text

GAP_SECONDS = 0.4
BARGE_IN_AFTER_SECONDS = 1.0
KEY_GAP_FRAMES = 5
HANGUP_AFTER_SECONDS = 1.0


@dataclass
class CallerTurn:
    kind: str                   # audio, keys, text, silence, hangup
    pcm: bytes = b""
    keys: str = ""
    text: str = ""
    seconds: float = 0.0
    barge_in: bool = False


class SimulatedChannel(Channel):
    """A channel whose caller follows a script; time advances one frame per event."""

    name = "simulator"

    def __init__(self, turns, sample_rate=16000, caller_id="", transfer_result=TRANSFERRED,
                 operators=None):
        self.turns = list(turns)
        self.sample_rate = sample_rate
        self.caller_id = caller_id
        self.transfer_result = transfer_result
        self.operators = operators
        self.frame_size = audio.frame_bytes(sample_rate)
        self._silence = audio.line_noise(0.02, sample_rate)
        self._prompt_frames = 0       # frames of the current prompt still to play
        self._prompt_played = 0       # frames of the current prompt already played
        self._answered_prompt = True  # whether the current prompt already got a turn
        self._queue = []              # events of the turn being delivered
        self._idle_frames = 0
        self.played = []              # (frame number, seconds) of every prompt started
        self.frame_number = 0
        self.transfers = []
        self.hung_up_by_line = False

    # Playback

    def play(self, pcm):
        frames = -(-len(pcm) // self.frame_size)
        self._prompt_frames, self._prompt_played = frames, 0
        self._answered_prompt = False
        self.played.append((self.frame_number, frames / 50))

    def stop_playback(self):
        self._prompt_frames = 0

    def is_playing(self):
        return self._prompt_played < self._prompt_frames

    # Caller side

    def next_event(self):
        self.frame_number += 1
        if self.is_playing():
            self._prompt_played += 1
        if not self._queue:
            self._maybe_start_turn()
        if self._queue:
            event = self._queue.pop(0)
            return event
        return Frame(self._silence)

    def _maybe_start_turn(self):
        if self._answered_prompt:
            return
        turn = self.turns[0] if self.turns else None
        playing = self.is_playing()
        if turn is not None and turn.barge_in and playing:
            if self._prompt_played < BARGE_IN_AFTER_SECONDS * 50:
                return
        elif playing:
            return
        elif self._idle_frames < GAP_SECONDS * 50:
            self._idle_frames += 1
            return
        self._idle_frames = 0
        self._answered_prompt = True
        if turn is None:
            self._queue = [Frame(self._silence)] * int(HANGUP_AFTER_SECONDS * 50) + [HangUp()]
            return
        self.turns.pop(0)
        self._queue = self._events_of(turn)

    def _events_of(self, turn):
        if turn.kind == "hangup":
            return [HangUp()]
        if turn.kind == "text":
            return [Text(turn.text)]
        if turn.kind == "keys":
            events = []
            for digit in turn.keys:
                events.append(Dtmf(digit))
                events.extend([Frame(self._silence)] * KEY_GAP_FRAMES)
            return events
        if turn.kind == "silence":
            return [Frame(self._silence)] * int(turn.seconds * 50)
        pcm = turn.pcm + self._silence[:-len(turn.pcm) % self.frame_size]
        return [Frame(pcm[i:i + self.frame_size]) for i in range(0, len(pcm), self.frame_size)]

    # Line actions

    def operators_available(self):
        return self.operators

    def transfer(self, reason):
        self.transfers.append(reason)
        return self.transfer_result

    def hangup(self):
        self.hung_up_by_line = True


def speak(text, lang, rate):
    """Synthesise caller speech with espeak-ng; return linear16 PCM at `rate` Hz."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed; install it (apt-get install espeak-ng) "
                         "or give the caller's turns as WAV files")
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "turn.wav"
        subprocess.run([espeak, "-v", lang, "-w", str(path), text], check=True,
                       capture_output=True)
        return audio.read_wav(path, rate)[0]


def parse_turn(spec, lang, rate, speak_text=False, telephone=None):
    """Turn one command-line turn into a CallerTurn (see the module docstring)."""
    barge_in = spec.startswith("!")
    spec = spec[1:] if barge_in else spec
    if spec == "hangup":
        return CallerTurn("hangup", barge_in=barge_in)
    if spec.startswith("key:"):
        return CallerTurn("keys", keys=spec[4:], barge_in=barge_in)
    if spec.startswith("silence:"):
        try:
            seconds = float(spec[8:])
        except ValueError:
            raise ValueError(f"turn {spec!r}: silence needs a number of seconds, "
                             "for example silence:4") from None
        return CallerTurn("silence", seconds=seconds, barge_in=barge_in)
    if spec.lower().endswith(".wav"):
        pcm = audio.read_wav(spec, rate)[0]
    elif speak_text:
        pcm = speak(spec, lang, rate)
    else:
        return CallerTurn("text", text=spec, barge_in=barge_in)
    # A caller takes a breath before speaking and after: 0.3 s of silence on both sides.
    pad = audio.line_noise(0.3, rate)
    pcm = pad + pcm + pad
    if telephone:
        pcm = audio.telephone_band(pcm, rate, telephone)
    return CallerTurn("audio", pcm=pcm, barge_in=barge_in)


def _printer(stream):
    def observe(kind, **details):
        if kind == "prompt":
            print(f"LINE:   {details['text']}", file=stream)
        elif kind == "heard":
            heard = details["text"] or details["keys"] or "(nothing)"
            confidence = details["confidence"]
            extra = f" confidence={confidence:.2f}" if confidence is not None else ""
            barge = " barge-in" if details["barge_in"] else ""
            print(f"CALLER: {heard}  -> {details['event']} {details['meaning']}{extra}{barge}",
                  file=stream)
        elif kind == "recorded":
            print(f"CALLER: [recorded {details['seconds']:.1f} s, ended by "
                  f"{details['ended_by']}] {details['transcript']}", file=stream)
        stream.flush()
    return observe


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m ivr.simulator",
        description="Simulate a caller: run one call through the voice line from a script "
                    "of turns (WAV files, keys, text).")
    parser.add_argument("turns", nargs="*",
                        help="the caller's turns in order: FILE.wav, key:DIGITS, silence:SECONDS, "
                             "hangup, or text; prefix ! to barge in")
    parser.add_argument("--lang", help="dialog language (default: IVR_LANG or ru)")
    parser.add_argument("--caller-id", default="", help="caller ID (phone number) of the call")
    parser.add_argument("--speak", action="store_true",
                        help="say text turns with espeak-ng and recognise them with Vosk "
                             "instead of passing them as recognition results")
    parser.add_argument("--text-only", action="store_true",
                        help="run without a speech model (text and key turns only)")
    parser.add_argument("--rate", type=int, default=16000, choices=(8000, 16000),
                        help="sample rate of the simulated call in Hz (default 16000)")
    parser.add_argument("--telephone", choices=("ulaw", "alaw"),
                        help="pass audio turns through an 8 kHz G.711 line first")
    parser.add_argument("--operators", choices=("available", "busy", "none"),
                        help="operator state the channel reports (default: configuration)")
    parser.add_argument("--transfer-result", default=TRANSFERRED,
                        choices=(TRANSFERRED, "busy", "no_answer", UNAVAILABLE),
                        help="what a transfer to an operator returns (default transferred)")
    parser.add_argument("--json", action="store_true",
                        help="print the call record as JSON (turns, outcome, booking code) "
                             "instead of the dialog")
    return parser


def main(argv=None):
    from .config import ConfigError, load_settings
    from .grammar import GrammarError
    from .line import Line
    from .models import ModelNotFound

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(**({"lang": args.lang} if args.lang else {}))
        turns = [parse_turn(t, settings.lang, args.rate, args.speak, args.telephone)
                 for t in args.turns]
        if args.text_only and any(t.kind == "audio" for t in turns):
            raise ValueError("--text-only runs without a speech model, so it takes no WAV "
                             "files and no --speak; drop --text-only or give text turns")
        line = Line(settings, model=False if args.text_only else None)
    except (ConfigError, GrammarError, ModelNotFound, audio.AudioFormatError,
            ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    operators = None if args.operators is None else args.operators == "available"
    channel = SimulatedChannel(turns, sample_rate=args.rate, caller_id=args.caller_id,
                               transfer_result=args.transfer_result, operators=operators)
    observer = None if args.json else _printer(sys.stdout)
    record = line.run_call(channel, observer=observer)
    if args.json:
        json.dump(record, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print(f"OUTCOME: {record['outcome']} {record['outcome_reason']}".rstrip()
              + (f" booking code {record['booking_code']}" if record["booking_code"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
