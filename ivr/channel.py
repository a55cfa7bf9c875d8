"""The contract between a channel (SIP call, microphone, simulator) and a call session.

A channel only moves audio and events. It delivers the caller's side as a
stream of events from `next_event()`: a Frame of 20 ms of linear16 PCM at the
channel's `sample_rate` (delivered every 20 ms of stream time, silence
included), a Dtmf key, or HangUp. It plays prompt audio handed to `play()`
without blocking, so that the session can keep reading the caller's frames and
stop the prompt on barge-in.

All timing in the session is counted in frames, so a channel that runs faster
than real time (the simulator) and one that runs in real time (SIP) behave the
same way.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Frame:
    """20 ms of the caller's audio: linear16 mono PCM at the channel's rate."""
    pcm: bytes


@dataclass(frozen=True)
class Dtmf:
    """One key the caller pressed: 0-9, *, #, A-D."""
    digit: str


@dataclass(frozen=True)
class HangUp:
    """The caller hung up, or the call was lost."""


@dataclass(frozen=True)
class Text:
    """A recognition result given as text, skipping the recogniser.

    Only the simulator's text turns produce it, to test flows in a language
    whose model is not installed; it is logged as such.
    """
    text: str


# Results of Channel.transfer().
TRANSFERRED = "transferred"      # the caller now talks to an operator; the line's part is over
BUSY = "busy"                    # the operator rejected the call as busy
NO_ANSWER = "no_answer"          # the operator did not answer in time
UNAVAILABLE = "unavailable"      # this channel cannot transfer (no operator configured)
TRANSFER_FAILED = "failed"       # signalling error; the caller is still on the line


class Channel:
    """Base class of channels; subclasses override every method that raises here."""

    name = "channel"
    sample_rate = 16000
    caller_id = ""

    def next_event(self):
        """Block until the next caller event (Frame, Dtmf, Text or HangUp) and return it."""
        raise NotImplementedError

    def play(self, pcm):
        """Start playing linear16 PCM at `sample_rate`, replacing what was playing."""
        raise NotImplementedError

    def stop_playback(self):
        """Stop the prompt now (barge-in); a no-op when nothing plays."""
        raise NotImplementedError

    def is_playing(self):
        """Return True while prompt audio is still being played to the caller."""
        raise NotImplementedError

    def operators_available(self):
        """Return whether an operator can take the call now, as the channel reports it,
        or None to let the configuration decide."""
        return None

    def transfer(self, reason):
        """Hand the caller to an operator; return one of the transfer results above."""
        return UNAVAILABLE

    def hangup(self):
        """End the call from the line's side."""
        raise NotImplementedError
