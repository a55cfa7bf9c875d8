"""SipChannel: one answered SIP call seen by its dialog as an ivr.channel.Channel.

Three threads meet here. PJSUA2's clock thread puts caller frames on the event
queue and takes prompt frames from the PromptBuffer. The worker's main thread
(the only thread that calls PJSUA2 for call control) puts DTMF and HangUp
events on the queue and carries out transfer and hang-up requests. The call's
dialog thread reads events with `next_event()` and calls `play()`,
`stop_playback()`, `transfer()` and `hangup()`; those never call PJSUA2
directly, they hand a request to the worker's main thread.
"""

import logging
import queue
from concurrent.futures import Future, TimeoutError as FutureTimeout

from ivr import channel as contract
from ivr.sip.media import PromptBuffer

logger = logging.getLogger(__name__)

# Frames kept for a dialog that is not reading (10 s at 20 ms); newer frames are dropped.
MAX_QUEUED_FRAMES = 500


class SipChannel(contract.Channel):
    """The caller's side of one SIP call at `rate` Hz (16000 or 8000).

    `call_id` is the id of the call in the store, `sip_call_id` the SIP
    Call-ID header. `post(request)` hands a request to the worker's main thread.
    """

    name = "sip"

    def __init__(self, call_id, sip_call_id, caller_id, rate, post, transfer_timeout):
        self.call_id = call_id
        self.sip_call_id = sip_call_id
        self.caller_id = caller_id
        self.sample_rate = rate
        self.prompt = PromptBuffer(rate)
        self.frames_dropped = 0
        self.transfer_result = None
        self._events = queue.Queue()
        self._post = post
        self._transfer_timeout = transfer_timeout
        self._hung_up = False
        self._transferring = False

    # Called by the worker (clock thread and main thread).

    def put_frame(self, pcm):
        """Queue a caller frame; drop it when the dialog has stopped reading."""
        if self._hung_up:
            return
        if self._events.qsize() >= MAX_QUEUED_FRAMES:
            if not self._transferring:   # the dialog waits in transfer() and reads no frames
                self.frames_dropped += 1
            return
        self._events.put(contract.Frame(pcm))

    def put_dtmf(self, digit):
        if not self._hung_up:
            self._events.put(contract.Dtmf(digit))

    def put_hangup(self):
        if not self._hung_up:
            self._hung_up = True
            self.prompt.stop()
            self._events.put(contract.HangUp())

    # The Channel contract, called on the dialog thread.

    def next_event(self):
        return self._events.get()

    def play(self, pcm):
        self.prompt.play(pcm)

    def stop_playback(self):
        self.prompt.stop()

    def is_playing(self):
        return self.prompt.is_playing()

    def transfer(self, reason):
        """Transfer the caller to the operator; block until the transfer ends.

        Returns TRANSFERRED, BUSY, NO_ANSWER or TRANSFER_FAILED (see
        ivr.channel). Blocks at most the transfer timeout plus 10 seconds.
        """
        if self._hung_up:
            return contract.TRANSFER_FAILED
        self.prompt.stop()
        result = Future()
        self._transferring = True
        self._post(("transfer", self, reason, result))
        try:
            self.transfer_result = result.result(timeout=self._transfer_timeout + 10)
        except FutureTimeout:
            logger.error("call_id=%s transfer got no result from the SIP worker", self.call_id)
            self.transfer_result = contract.TRANSFER_FAILED
        finally:
            self._transferring = False
        self._discard_queued_frames()
        return self.transfer_result

    def _discard_queued_frames(self):
        """Drop the audio heard while the transfer rang; keep keys and a hang-up."""
        kept = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if not isinstance(event, contract.Frame):
                kept.append(event)
        for event in kept:
            self._events.put(event)

    def hangup(self):
        """End the call; the worker ignores it while the caller is bridged to an operator."""
        self.prompt.stop()
        self._post(("hangup", self))
