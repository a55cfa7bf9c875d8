"""The voice line of one process: model, grammars, prompts and store, shared by its calls.

`Line(settings)` loads the Vosk model once, checks every grammar word against
the model's vocabulary (a missing word stops start-up with GrammarError),
renders the fixed prompts and opens the store. `Line.run_call(channel)` runs
one call to its end on the calling thread and returns the call record.
"""

import logging
import uuid
from datetime import datetime

from . import channel as channel_results
from . import languages
from .flows import BookingLine, Outcome
from .grammar import GrammarSet
from .models import resolve_model
from .prompts import Prompts
from .recognizer import SpeechModel
from .session import CallEnded, CallSession, CallTooLong, TransferRequested
from .store import Store

logger = logging.getLogger(__name__)


class Line:
    def __init__(self, settings, model=None, store=None, download=True):
        self.settings = settings
        self.grammars = GrammarSet(settings.grammar_dir)
        self.prompts = Prompts(settings.prompt_dir, settings.prompt_cache_dir, settings.lang)
        self.read_back = languages.get(settings.lang)
        self.store = store or Store(settings.db_path)
        self.store.load_schedule(settings.schedule_path)
        # Synthesise every fixed prompt now, so that no caller waits for espeak-ng.
        self.prompts.render_all(8000)
        if model is None:
            model = SpeechModel(resolve_model(settings, download=download))
        self.model = model or None   # model=False: text turns only, no recognition
        if self.model is not None:
            self.grammars.check_vocabulary(model.has_word)

    def operator_state(self, channel, now=None):
        """Return "available", "busy" or "closed" (outside IVR_OPERATOR_HOURS)."""
        reported = channel.operators_available()
        if reported is not None:
            return "available" if reported else "busy"
        if self.settings.operators != "available":
            return "busy"
        now = now or datetime.now()
        minute = now.hour * 60 + now.minute
        start, end = self.settings.operator_hours
        return "available" if start <= minute < end else "closed"

    def operators_available(self, channel, now=None):
        """Return whether a transfer can reach an operator now."""
        return self.operator_state(channel, now) == "available"

    def run_call(self, channel, channel_name=None, observer=None, call_id=None, now=None):
        """Run one call from answer to hang-up; return the call record (a dict)."""
        call_id = call_id or uuid.uuid4().hex
        name = channel_name or channel.name
        self.store.start_call(call_id, name, self.settings.lang, channel.caller_id)
        logger.info("call_id=%s started channel=%s", call_id, name)
        session = CallSession(self, channel, call_id, observer)
        flow = BookingLine(session, now=now)
        outcome = self._run_flow(session, flow)
        self.store.end_call(call_id, outcome.outcome, outcome.reason, outcome.booking_code,
                            outcome.question_id)
        logger.info("call_id=%s ended outcome=%s reason=%s seconds=%.1f", call_id,
                    outcome.outcome, outcome.reason, session.seconds)
        if outcome.outcome != "transferred":
            try:
                channel.hangup()
            except Exception:
                logger.exception("call_id=%s hang-up failed", call_id)
        return {"call_id": call_id, **self.store.get_call(call_id),
                "turns": self.store.get_turns(call_id)}

    def _run_flow(self, session, flow):
        try:
            try:
                return flow.run()
            except TransferRequested as request:
                return self._transfer(session, flow, request.reason)
        except CallTooLong:
            return self._end_too_long(session, flow)
        except CallEnded:
            return _with_reason(flow.progress, "caller_hung_up")
        except Exception:
            logger.exception("call_id=%s dialog error", session.call_id)
            return self._after_error(session, flow)

    def _transfer(self, session, flow, reason):
        """Hand the caller to an operator or, when none is free, offer to leave a question."""
        channel = session.channel
        result = channel_results.UNAVAILABLE
        state = self.operator_state(channel)
        if state == "available":
            session.say("transferring")
            result = channel.transfer(reason)
            session.store.add_turn(session.call_id, field="transfer", event="transfer",
                                   meaning=result, heard=reason)
            if result == channel_results.TRANSFERRED:
                return Outcome("transferred", reason, flow.progress.booking_code,
                               flow.progress.question_id)
        logger.info("call_id=%s transfer not possible reason=%s result=%s", session.call_id,
                    reason, result)
        if state == "closed":
            start, end = self.settings.operator_hours
            session.say(("prompt", "operators_closed",
                         {"hours": self.read_back.hours_phrase(start, end)}))
        try:
            answer = session.ask("offer_question", ["operators_busy"],
                                 self.grammars["yes_no"], allow_back=False)
        except TransferRequested:
            session.say("goodbye")
            return Outcome("failed", f"transfer_{result}")
        if answer.meaning == "yes":
            flow.question()
            return flow.progress
        session.say("goodbye")
        return _with_reason(flow.progress, f"transfer_{result}") \
            if flow.progress.outcome != "abandoned" else Outcome("abandoned", f"transfer_{result}")

    def _end_too_long(self, session, flow):
        try:
            session.max_frames += 10 * 50   # room for the closing prompt
            session.say("call_too_long")
        except CallEnded:
            pass
        if flow.progress.outcome != "abandoned":
            return _with_reason(flow.progress, "max_call_length")
        return Outcome("failed", "max_call_length")

    def _after_error(self, session, flow):
        if flow.progress.outcome != "abandoned":
            return _with_reason(flow.progress, "error")
        try:
            session.say("technical_problem")
            if self.operators_available(session.channel):
                if session.channel.transfer("error") == channel_results.TRANSFERRED:
                    return Outcome("transferred", "error")
        except Exception:
            logger.exception("call_id=%s transfer after error failed", session.call_id)
        return Outcome("failed", "error")


def _with_reason(outcome, reason):
    return Outcome(outcome.outcome, outcome.reason or reason, outcome.booking_code,
                   outcome.question_id)
