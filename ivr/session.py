"""The dialog engine of one call: prompts, turns, re-prompts, recordings, the call log.

Turns behave as VoiceXML fields do: each has a no-input timeout and counts
no-input and no-match events, re-prompts with escalating help (the second
re-prompt names the keys), and after `max_failures` events raises
TransferRequested. The universal commands work at every turn: "operator" or
key 0 transfers, "repeat" or key * replays the prompt, "back" or key # returns
to the previous question of a form. In a digits turn the keys are digits, so
there only a 0 pressed as the first key means the operator, and # ends the
entry.

The engine runs on the call's own thread and blocks on the channel's events.
Time is counted in 20 ms frames of the caller's stream.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import audio
from .channel import Dtmf, Frame, HangUp, Text
from .grammar import normalize
from .prompts import beep
from .vad import VoiceActivityDetector

logger = logging.getLogger(__name__)

FRAMES_PER_SECOND = 50
INTER_DIGIT_TIMEOUT = 4.0
TERMINATOR_WAIT = 1.0
FEED_EVERY_FRAMES = 10


class CallEnded(Exception):
    """Base class of the reasons a call cannot go on."""


class CallerHungUp(CallEnded):
    """The caller hung up."""


class CallTooLong(CallEnded):
    """The call reached the maximum call length."""


class TransferRequested(Exception):
    """Request to hand the caller to an operator; `reason` is the cause, as logged."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class GoBack(Exception):
    """The caller asked to return to the previous question."""


@dataclass
class Heard:
    """Result of one listening step: speech, keys, a text turn or no-input."""
    kind: str                      # speech, dtmf, text or noinput
    text: str = ""
    keys: str = ""
    confidence: float | None = None
    recognition_ms: float | None = None
    barge_in: bool = False


@dataclass
class Answer:
    """The meaning a turn settled on."""
    meaning: str
    text: str = ""
    keys: str = ""
    confidence: float | None = None


@dataclass
class Recording:
    path: Path | None
    seconds: float
    transcript: str
    ended_by: str                  # silence, max_length, key, hangup, text
    speech: bool = False           # whether the caller spoke at all


@dataclass
class Interruption:
    """Caller input that stopped a prompt (barge-in)."""
    kind: str                      # speech, dtmf or text
    frames: list = field(default_factory=list)
    digit: str = ""
    text: str = ""


class CallSession:
    def __init__(self, line, channel, call_id, observer=None):
        self.line, self.channel, self.call_id = line, channel, call_id
        self.settings, self.store = line.settings, line.store
        self.grammars, self.prompts = line.grammars, line.prompts
        self.rate = channel.sample_rate
        self.frames = 0
        self.max_frames = int(self.settings.max_call_seconds * FRAMES_PER_SECOND)
        self.observer = observer or (lambda kind, **details: None)
        self.pending_keys = ""
        self.pending_interruption = None

    # Events

    def next_event(self):
        """Return the next Frame, Dtmf or Text; raise CallerHungUp or CallTooLong."""
        event = self.channel.next_event()
        if isinstance(event, HangUp):
            raise CallerHungUp()
        if isinstance(event, Frame):
            self.frames += 1
            if self.frames > self.max_frames:
                raise CallTooLong()
        return event

    @property
    def seconds(self):
        return self.frames / FRAMES_PER_SECOND

    # Prompts

    def render(self, parts):
        """Turn prompt parts into (pcm, text).

        A part is a prompt id, ("say", text) for a dynamic read-back,
        ("prompt", id, values) for a prompt text with values filled in, or
        ("pcm", bytes, label) for recorded audio such as the caller's name.
        """
        chunks, texts = [], []
        for part in parts:
            if isinstance(part, str):
                chunks.append(self.prompts.audio(part, self.rate))
                texts.append(self.prompts.text(part))
            elif part[0] == "say":
                chunks.append(self.prompts.speech(part[1], self.rate))
                texts.append(part[1])
            elif part[0] == "prompt":
                text = self.prompts.text(part[1], **part[2])
                chunks.append(self.prompts.speech(text, self.rate))
                texts.append(text)
            elif part[0] == "pcm":
                chunks.append(part[1])
                texts.append(f"[{part[2]}]")
            else:
                raise ValueError(f"unknown prompt part {part!r}")
        return b"".join(chunks), " ".join(texts)

    def play(self, parts, barge_in=True):
        """Play prompt parts; return an Interruption if the caller barged in, else None."""
        pcm, text = self.render(parts)
        self.observer("prompt", text=text)
        self.last_prompt_text = text
        self.channel.play(pcm)
        vad = VoiceActivityDetector()
        while self.channel.is_playing():
            event = self.next_event()
            if not barge_in:
                if isinstance(event, Dtmf):
                    self.pending_keys += event.digit
                continue
            if isinstance(event, Frame) and vad.speech_started(event.pcm):
                self.channel.stop_playback()
                return Interruption("speech", frames=list(vad.preroll))
            if isinstance(event, Dtmf):
                self.channel.stop_playback()
                return Interruption("dtmf", digit=event.digit)
            if isinstance(event, Text):
                self.channel.stop_playback()
                return Interruption("text", text=event.text)
        return None

    def say(self, *parts):
        """Play a prompt with barge-in; what interrupts it answers the next turn."""
        interruption = self.play(list(parts))
        if interruption is not None:
            self.pending_interruption = interruption

    # Listening

    def listen(self, phrases, interruption=None, digits=False, max_digits=1,
               timeout=None, max_speech=None, free=False):
        """Wait for the caller's answer after a prompt and return a Heard.

        `phrases` is the Vosk phrase list (None with free=True for free speech).
        """
        timeout = self.settings.no_input_timeout if timeout is None else timeout
        max_speech = self.settings.max_utterance if max_speech is None else max_speech
        barge_in = interruption is not None
        keys = self.pending_keys
        self.pending_keys = ""
        if interruption is not None and interruption.kind == "dtmf":
            keys += interruption.digit
        if interruption is not None and interruption.kind == "text":
            return Heard("text", text=interruption.text, barge_in=True)
        if keys:
            return self._collect_keys(keys, digits, max_digits, barge_in)

        vad = VoiceActivityDetector()
        speech = None
        if interruption is not None and interruption.kind == "speech":
            speech = self._start_speech(phrases, free, interruption.frames)
        waited = 0
        while speech is None:
            event = self.next_event()
            if isinstance(event, Dtmf):
                return self._collect_keys(event.digit, digits, max_digits, barge_in)
            if isinstance(event, Text):
                return Heard("text", text=event.text)
            waited += 1
            if vad.speech_started(event.pcm):
                speech = self._start_speech(phrases, free, list(vad.preroll))
            elif waited >= timeout * FRAMES_PER_SECOND:
                return Heard("noinput")
        return self._finish_speech(speech, max_speech, barge_in)

    def _start_speech(self, phrases, free, first_frames):
        if self.line.model is None:
            raise RuntimeError("this line runs without a speech model (text turns only), "
                               "so it cannot recognise audio; start it with a model")
        stream = self.line.model.stream(self.rate, None if free else phrases)
        return {"stream": stream, "buffer": list(first_frames), "frames": len(first_frames)}

    def _finish_speech(self, speech, max_speech, barge_in):
        vad = VoiceActivityDetector()
        stream, buffer = speech["stream"], speech["buffer"]
        silent = 0
        end_frames = self.settings.end_of_speech * FRAMES_PER_SECOND
        while True:
            event = self.next_event()
            if isinstance(event, Dtmf):
                continue
            if isinstance(event, Text):
                continue
            buffer.append(event.pcm)
            speech["frames"] += 1
            silent = 0 if vad.is_voiced(event.pcm) else silent + 1
            if len(buffer) >= FEED_EVERY_FRAMES:
                stream.feed(b"".join(buffer))
                buffer.clear()
            if silent >= end_frames or speech["frames"] >= max_speech * FRAMES_PER_SECOND:
                break
        if buffer:
            stream.feed(b"".join(buffer))
        utterance = stream.finish()
        return Heard("speech", text=utterance.text, confidence=utterance.confidence,
                     recognition_ms=utterance.recognition_ms, barge_in=barge_in)

    def _collect_keys(self, keys, digits, max_digits, barge_in):
        """Gather DTMF keys: one key for a choice, up to # or max_digits for digits."""
        if not digits or keys[:1] in ("0", "*"):
            return Heard("dtmf", keys=keys[:1], barge_in=barge_in)
        waited = 0
        while "#" not in keys and len(keys) < max_digits:
            event = self.next_event()
            if isinstance(event, Dtmf):
                keys += event.digit
                waited = 0
            elif isinstance(event, Frame):
                waited += 1
                if waited >= INTER_DIGIT_TIMEOUT * FRAMES_PER_SECOND:
                    break
        if "#" not in keys and len(keys) >= max_digits:
            keys += self._swallow_terminator()
        return Heard("dtmf", keys=keys.split("#")[0] + ("#" if "#" in keys else ""),
                     barge_in=barge_in)

    def _swallow_terminator(self):
        """Consume a # pressed just after a full-length entry, so it does not answer
        the next question. Returns "#" when one came within TERMINATOR_WAIT seconds."""
        for _ in range(int(TERMINATOR_WAIT * FRAMES_PER_SECOND)):
            event = self.next_event()
            if isinstance(event, Dtmf):
                if event.digit == "#":
                    return "#"
                self.pending_keys += event.digit
                return ""
            if isinstance(event, Text):
                self.pending_interruption = Interruption("text", text=event.text)
                return ""
        return ""

    # Turns

    def ask(self, field, prompt, grammar, help_prompt=None, keys=None, digits=False,
            max_digits=1, allow_back=True, validate=None):
        """Run one turn until it yields an Answer.

        `grammar` is a Grammar; `keys` maps DTMF keys to meanings and replaces
        the grammar's own keys; `validate(answer)` may return prompt parts that
        explain why a valid-sounding answer cannot be used (counted as a
        no-match). Raises TransferRequested, GoBack, CallerHungUp, CallTooLong.
        """
        commands = self.grammars.commands
        phrases = grammar.phrases + commands.phrases
        help_prompt = help_prompt or prompt
        failures = {"noinput": 0, "nomatch": 0}
        parts = list(prompt)
        while True:
            self.store.set_current_turn(self.call_id, field)
            interruption = self.pending_interruption
            self.pending_interruption = None
            if interruption is None:
                interruption = self.play(parts)
            heard = self.listen(phrases, interruption, digits=digits, max_digits=max_digits)
            command = self._command(heard, commands, grammar, digits)
            answer = None if command else self._interpret(heard, grammar, keys, digits)
            reason_parts = None
            if answer is not None and validate is not None:
                reason_parts = validate(answer)
                if reason_parts:
                    answer = None
            if command == "ambiguous":
                command = None
            event = ("noinput" if heard.kind == "noinput" else command or
                     ("match" if answer is not None else "nomatch"))
            self._log_turn(field, heard, event, answer)

            if command == "operator":
                raise TransferRequested("caller_request")
            if command == "repeat":
                parts = list(prompt)
                continue
            if command == "back":
                if allow_back:
                    raise GoBack()
                parts = ["cannot_go_back", *prompt]
                continue
            if answer is not None:
                return answer

            kind = "noinput" if heard.kind == "noinput" else "nomatch"
            failures[kind] += 1
            if sum(failures.values()) >= self.settings.max_failures:
                raise TransferRequested("too_many_failures")
            prefix = [*reason_parts] if reason_parts else [f"{kind}_{min(failures[kind], 2)}"]
            parts = prefix + (list(help_prompt) if failures[kind] >= 2 else list(prompt))

    def _command(self, heard, commands, grammar, digits):
        if heard.kind == "dtmf":
            if heard.keys == "0" or (digits and heard.keys.startswith("0")):
                return "operator"
            if not digits and heard.keys == "*":
                return "repeat"
            if not digits and heard.keys == "#":
                return "back"
            if digits and heard.keys == "*":
                return "repeat"
            return None
        if heard.kind in ("speech", "text"):
            match = commands.match(heard.text)
            if match is None:
                return None
            # Words of a command inside an answer ("back" next to a menu word) are
            # ambiguous; only an utterance that is the command phrase itself counts.
            if grammar.match(heard.text) is not None and normalize(heard.text) != match.phrase:
                return "ambiguous"
            return match.meaning
        return None

    def _interpret(self, heard, grammar, keys, digits):
        if heard.kind == "dtmf":
            pressed = heard.keys.rstrip("#")
            if digits:
                return Answer(pressed, keys=heard.keys) if pressed.isdigit() else None
            meaning = (keys or {}).get(pressed) if keys is not None else grammar.dtmf_meaning(pressed)
            return Answer(meaning, keys=heard.keys) if meaning else None
        if heard.kind in ("speech", "text"):
            match = grammar.match(heard.text)
            if match is None:
                return None
            return Answer(match.meaning, text=heard.text, confidence=heard.confidence)
        return None

    def _log_turn(self, field, heard, event, answer):
        self.store.add_turn(
            self.call_id, field=field, prompt=getattr(self, "last_prompt_text", ""),
            event=event, heard=heard.text, meaning=answer.meaning if answer else "",
            confidence=heard.confidence, keys=heard.keys, barge_in=int(heard.barge_in),
            recognition_ms=heard.recognition_ms)
        self.observer("heard", field=field, input_kind=heard.kind, text=heard.text, keys=heard.keys,
                      event=event, meaning=answer.meaning if answer else "",
                      confidence=heard.confidence, barge_in=heard.barge_in)
        logger.debug("call_id=%s field=%s event=%s heard=%r", self.call_id, field, event,
                     heard.text)

    # Recording

    def record(self, field, path, max_seconds, end_silence, stop_key="#", transcribe=True):
        """Beep, then record the caller until silence, max_seconds or the stop key.

        The audio is appended to `<path>.part` as it arrives and, whatever ends
        the recording (a hang-up included), written to `path` durably. A
        CallerHungUp or CallTooLong raised here carries the Recording in its
        `recording` attribute, so the audio recorded before the hang-up is kept.
        """
        self.store.set_current_turn(self.call_id, field)
        self.channel.play(beep(self.rate))
        while self.channel.is_playing():
            self.next_event()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part_path = path.with_name(path.name + ".part")
        stream = (self.line.model.stream(self.rate, None)
                  if transcribe and self.line.model is not None else None)
        vad = VoiceActivityDetector()
        frames, pending = [], []
        heard_speech, silent, ended_by = False, 0, "max_length"
        max_frames = int(max_seconds * FRAMES_PER_SECOND)
        silence_frames = int(end_silence * FRAMES_PER_SECOND)
        with open(part_path, "wb") as part:
            try:
                while len(frames) < max_frames:
                    event = self.next_event()
                    if isinstance(event, Dtmf):
                        if event.digit == stop_key:
                            ended_by = "key"
                            break
                        continue
                    if isinstance(event, Text):
                        # A simulator text turn: the words stand for the recording.
                        return self._close_recording(path, part_path, frames, pending, stream,
                                                     "text", True, field, event.text)
                    frames.append(event.pcm)
                    part.write(event.pcm)
                    pending.append(event.pcm)
                    if len(pending) >= FEED_EVERY_FRAMES:
                        part.flush()
                        if stream is not None:
                            stream.feed(b"".join(pending))
                        pending.clear()
                    voiced = vad.is_voiced(event.pcm)
                    heard_speech = heard_speech or voiced
                    silent = 0 if voiced else silent + 1
                    if silent >= silence_frames and (heard_speech or silent >= 2 * silence_frames):
                        ended_by = "silence"
                        break
            except CallEnded as ended:
                ended.recording = self._close_recording(
                    path, part_path, frames, pending, stream, "hangup", heard_speech, field)
                raise
        return self._close_recording(path, part_path, frames, pending, stream, ended_by,
                                     heard_speech, field)

    def _close_recording(self, path, part_path, frames, pending, stream, ended_by,
                         heard_speech, field, transcript=""):
        pcm = b"".join(frames)
        if stream is not None:
            if pending:
                stream.feed(b"".join(pending))
            transcript = stream.finish().text
        if pcm:
            audio.write_wav(path, pcm, self.rate)
        if part_path.exists():
            os.unlink(part_path)
        seconds = audio.duration_seconds(pcm, self.rate)
        self.store.add_turn(self.call_id, field=field, prompt="[beep]",
                            event="recorded" if heard_speech else "noinput",
                            heard=transcript, meaning=ended_by)
        self.observer("recorded", field=field, seconds=seconds, transcript=transcript,
                      ended_by=ended_by)
        return Recording(path if pcm else None, seconds, transcript if heard_speech else "",
                         ended_by, heard_speech)
