"""A local softphone: talk to the line with a microphone and hear it in a speaker.

PyAudio captures 20 ms frames from the default input device and plays the
line's prompts on the default output device, both at 16 kHz mono. Keys typed
on the keyboard (0-9, *, #) followed by Enter are sent as DTMF; an empty line
or Ctrl-D hangs up.

Run `python -m ivr.softphone --help` for the options.
"""

import argparse
import logging
import queue
import sys
import threading

from . import audio
from .channel import Channel, Dtmf, Frame, HangUp

RATE = 16000


class SoftphoneChannel(Channel):
    """A channel on the local sound card; prompt audio is written from a player thread."""

    name = "softphone"

    def __init__(self, pyaudio_module=None, caller_id="", rate=RATE):
        import pyaudio
        self.pyaudio = pyaudio_module or pyaudio.PyAudio()
        self.sample_rate = rate
        self.caller_id = caller_id
        self.frame_size = audio.frame_bytes(rate)
        self.events = queue.Queue()
        self._playing = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        frames_per_buffer = self.frame_size // audio.SAMPLE_WIDTH
        self.input = self.pyaudio.open(format=pyaudio.paInt16, channels=1, rate=rate,
                                       input=True, frames_per_buffer=frames_per_buffer)
        self.output = self.pyaudio.open(format=pyaudio.paInt16, channels=1, rate=rate,
                                        output=True, frames_per_buffer=frames_per_buffer)
        threading.Thread(target=self._capture, daemon=True).start()
        threading.Thread(target=self._player, daemon=True).start()
        threading.Thread(target=self._keyboard, daemon=True).start()

    def _capture(self):
        per_buffer = self.frame_size // audio.SAMPLE_WIDTH
        while not self._closed.is_set():
            pcm = self.input.read(per_buffer, exception_on_overflow=False)
            self.events.put(Frame(pcm))

    def _player(self):
        silence = b"\x00" * self.frame_size
        while not self._closed.is_set():
            with self._lock:
                chunk = self._playing.pop(0) if self._playing else None
            self.output.write(chunk or silence)

    def _keyboard(self):
        for line in sys.stdin:
            keys = line.strip()
            if not keys:
                break
            for key in keys:
                if key in "0123456789*#ABCD":
                    self.events.put(Dtmf(key))
        self.events.put(HangUp())

    def next_event(self):
        return self.events.get()

    def play(self, pcm):
        chunks = [pcm[i:i + self.frame_size] for i in range(0, len(pcm), self.frame_size)]
        with self._lock:
            self._playing = chunks

    def stop_playback(self):
        with self._lock:
            self._playing = []

    def is_playing(self):
        with self._lock:
            return bool(self._playing)

    def hangup(self):
        self._closed.set()
        print("The line hung up.", file=sys.stderr)


def main(argv=None):
    from .config import load_settings
    from .line import Line

    parser = argparse.ArgumentParser(
        prog="python -m ivr.softphone",
        description="Call the voice line from this computer's microphone and speaker.")
    parser.add_argument("--lang", help="dialog language (default: IVR_LANG or ru)")
    parser.add_argument("--caller-id", default="", help="caller ID (phone number) to present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(**({"lang": args.lang} if args.lang else {}))
    line = Line(settings)
    try:
        channel = SoftphoneChannel(caller_id=args.caller_id)
    except OSError as error:
        print(f"error: no usable microphone or speaker ({error}); check the sound devices "
              "or use the simulator: python -m ivr.simulator", file=sys.stderr)
        return 2
    print("Speak after the prompts. Type keys and Enter for DTMF; an empty line hangs up.",
          file=sys.stderr)
    record = line.run_call(channel)
    print(f"Call ended: {record['outcome']} {record['outcome_reason']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
