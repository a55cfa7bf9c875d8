"""Small dialogs that drive the SIP channel in tests, in place of the voice line.

Each handler factory takes the line's settings and returns `handler(channel)`.
A handler appends one JSON line per call to the file named by
IVR_TEST_EVENTS: the call's id, caller ID, keys, transfer result and frames.
"""

import json
import math
import os
import struct
import threading

from ivr.channel import Dtmf, Frame, HangUp

_write_lock = threading.Lock()


def tone(seconds, rate, hz=440):
    samples = int(seconds * rate)
    return b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * i / rate)))
                    for i in range(samples))


def _record(entry):
    with _write_lock, open(os.environ["IVR_TEST_EVENTS"], "a") as file:
        file.write(json.dumps(entry) + "\n")


def keys(settings):
    """Play a tone; on each key: '0' transfers, '#' hangs up, others are noted."""
    def handler(channel):
        entry = {"call_id": channel.call_id, "caller_id": channel.caller_id,
                 "rate": channel.sample_rate, "keys": "", "frames": 0, "transfer": None}
        channel.play(tone(2.0, channel.sample_rate))
        try:
            while True:
                event = channel.next_event()
                if isinstance(event, Frame):
                    entry["frames"] += 1
                elif isinstance(event, Dtmf):
                    entry["keys"] += event.digit
                    _record(dict(entry, event="key"))
                    if event.digit == "0":
                        # Like the line, announce the transfer first (here with
                        # 0.5 s of tone), so that the INFO that carried the key is
                        # answered before the REFER goes out, in the order the
                        # sipp scenarios expect.
                        channel.play(tone(0.5, channel.sample_rate))
                        while channel.is_playing():
                            if isinstance(channel.next_event(), HangUp):
                                return entry
                        entry["transfer"] = channel.transfer("caller_asked")
                        _record(dict(entry, event="transfer"))
                        if entry["transfer"] == "transferred":
                            return entry
                    elif event.digit == "#":
                        channel.hangup()
                elif isinstance(event, HangUp):
                    return entry
        finally:
            _record(dict(entry, event="end"))
    return handler


def hold(settings):
    """Keep the call until the caller hangs up, playing nothing."""
    def handler(channel):
        while not isinstance(channel.next_event(), HangUp):
            pass
        _record({"call_id": channel.call_id, "event": "end"})
    return handler


def stored(settings):
    """Write the call to the store, then hold it until the caller hangs up."""
    from ivr.store import Store

    store = Store(settings.db_path)

    def handler(channel):
        store.start_call(channel.call_id, "sip", settings.lang, channel.caller_id)
        _record({"call_id": channel.call_id, "event": "start"})
        while not isinstance(channel.next_event(), HangUp):
            pass
        store.end_call(channel.call_id, "abandoned", "caller_hung_up")
    return handler


def dump(settings):
    """Write all caller audio to <IVR_TEST_EVENTS>.<call_id>.wav at hang-up."""
    from ivr import audio

    def handler(channel):
        pcm = bytearray()
        while True:
            event = channel.next_event()
            if isinstance(event, Frame):
                pcm.extend(event.pcm)
            elif isinstance(event, HangUp):
                break
        path = f"{os.environ['IVR_TEST_EVENTS']}.{channel.call_id}.wav"
        audio.write_wav(path, bytes(pcm), channel.sample_rate)
        _record({"call_id": channel.call_id, "event": "end", "wav": path})
    return handler
