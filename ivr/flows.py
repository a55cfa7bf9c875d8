"""The booking line's call flow: menu, booking, check, cancel, question.

A flow only talks to the CallSession (prompts, turns, recordings) and the
Store; it does not depend on the channel that carries the call. Each flow returns an
Outcome; transfers, hang-ups and the call time limit arrive as exceptions
that Line.run_call turns into the call's outcome.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from .session import GoBack, TransferRequested
from .store import TourClosed, TourFull, TourNotFound

logger = logging.getLogger(__name__)

MAX_TOUR_OPTIONS = 8
MAX_PARTY_SIZE = 10
NAME_MAX_SECONDS = 6
OCCUPATION_MAX_SECONDS = 6


@dataclass
class Outcome:
    outcome: str
    reason: str = ""
    booking_code: str | None = None
    question_id: int | None = None


class BookingLine:
    """The flows of one call; `progress` keeps what was achieved if the call ends early."""

    def __init__(self, session, now=None):
        self.session = session
        self.store = session.store
        self.grammars = session.grammars
        self.say_lang = session.line.read_back
        self.now = now or datetime.now
        self.progress = Outcome("abandoned")
        self.caller_id = session.channel.caller_id or ""

    # Entry

    def run(self):
        s = self.session
        s.say("greeting")
        while True:
            answer = s.ask("menu", ["menu"], self.grammars["menu"], help_prompt=["menu_help"],
                           allow_back=False)
            if answer.meaning == "book":
                return self.book()
            if answer.meaning == "check":
                return self.check()
            if answer.meaning == "cancel":
                return self.cancel()
            if answer.meaning == "question":
                return self.question()
            if answer.meaning == "operator":
                raise TransferRequested("caller_request")

    def _tour_text(self, tour):
        return self.say_lang.tour_phrase(datetime.fromisoformat(tour["starts_at"]))

    # Booking

    def book(self):
        """Collect day, tour, party size, name and phone; read back; commit."""
        form = {}
        steps = [self._ask_day, self._ask_tour, self._ask_places, self._ask_name,
                 self._ask_phone]
        index = 0
        while True:
            if index >= len(steps):
                try:
                    result = self._confirm_and_commit(form)
                except GoBack:
                    index = self._previous_step(form, len(steps))
                    continue
                if result is not None:
                    return result
                index = 0       # the caller rejected the read-back, so the form starts again
                form.clear()
                continue
            try:
                if steps[index](form) is False:
                    return Outcome("abandoned", "no_tours")
                index += 1
            except GoBack:
                index = self._previous_step(form, index)

    @staticmethod
    def _previous_step(form, index):
        """Return the step before `index` that the caller was actually asked."""
        index = max(0, index - 1)
        while index > 0 and form.get(f"skipped_{index}"):
            index -= 1
        return index

    def _ask_day(self, form):
        tours = self.store.tours_with_room(self.now())
        if not tours:
            self.session.say("no_tours")
            return False
        days = sorted({datetime.fromisoformat(t["starts_at"]).date() for t in tours})
        if len(days) == 1:
            form["day"], form["skipped_0"] = days[0], True
            return True
        options = ", ".join(self.session.prompts.text("option", key=i + 1,
                                                      text=self.say_lang.day_phrase(d))
                            for i, d in enumerate(days[:9]))
        prompt = [("prompt", "ask_day", {"options": options})]
        keys = {str(i + 1): f"idx:{i + 1}" for i in range(min(9, len(days)))}

        def validate(answer):
            if self._resolve_day(answer.meaning, days) is None:
                return ["day_not_available"]
            return None

        answer = self.session.ask("day", prompt, self.grammars["days"], keys=keys,
                                  validate=validate)
        form["day"] = self._resolve_day(answer.meaning, days)
        return True

    def _resolve_day(self, meaning, days):
        kind, _, value = meaning.partition(":")
        number = int(value) if value.isdigit() else -1
        today = self.now().date()
        for position, day in enumerate(days, start=1):
            if kind == "idx" and number == position:
                return day
            if kind == "dom" and number == day.day:
                return day
            if kind == "rel" and today + timedelta(days=number) == day:
                return day
        return None

    def _ask_tour(self, form, tours=None, field="tour"):
        tours = tours or self.store.tours_with_room(self.now(), day=form["day"])
        if not tours:
            self.session.say("day_not_available")
            raise GoBack()
        offered = tours[:MAX_TOUR_OPTIONS]
        options = ", ".join(self.session.prompts.text("option", key=i + 1,
                                                      text=self._tour_text(t)
                                                      if field != "tour" else
                                                      self.say_lang.time_phrase(
                                                          datetime.fromisoformat(t["starts_at"])))
                            for i, t in enumerate(offered))
        prompt = [("prompt", "ask_tour" if field == "tour" else "tour_alternatives",
                   {"options": options})]
        keys = {str(i + 1): f"tour:{t['id']}" for i, t in enumerate(offered)}
        by_hour = {}
        for tour in tours:
            by_hour.setdefault(datetime.fromisoformat(tour["starts_at"]).hour, tour)

        def resolve(meaning):
            kind, _, value = meaning.partition(":")
            if kind == "tour":
                return next((t for t in tours if str(t["id"]) == value), None)
            if kind == "hour" and value.isdigit():
                return by_hour.get(int(value))
            if kind == "idx" and value.isdigit() and 1 <= int(value) <= len(offered):
                return offered[int(value) - 1]
            return None

        answer = self.session.ask(field, prompt, self.grammars["times"], keys=keys,
                                  validate=lambda a: None if resolve(a.meaning)
                                  else ["tour_not_available"])
        form["tour"] = resolve(answer.meaning)
        return True

    def _ask_places(self, form):
        left = min(self.store.get_tour(form["tour"]["id"])["places_left"], MAX_PARTY_SIZE)
        if left == 0:
            self.session.say("tour_just_filled")
            raise GoBack()
        grammar = self.grammars["party_size"]
        prompt = [("prompt", "ask_places", {"max": self.say_lang.places_phrase(left)})]

        def validate(answer):
            if not answer.meaning.isdigit() or not 1 <= int(answer.meaning) <= left:
                return [("prompt", "too_many_places",
                         {"max": self.say_lang.places_phrase(left)})]
            return None

        keys = {str(n): str(n) for n in range(1, min(left, 9) + 1)}
        answer = self.session.ask("places", prompt, grammar, keys=keys, validate=validate)
        form["places"] = int(answer.meaning)
        return True

    def _ask_name(self, form):
        s = self.session
        failures = 0
        while True:
            s.say("ask_name")
            path = self._recording_path("names")
            recording = s.record("name", path, NAME_MAX_SECONDS, s.settings.end_of_speech * 1.5)
            if recording.transcript:
                form["name"] = recording.transcript
                if recording.path is not None:
                    form["name_recording"] = self._relative(recording.path)
                    form["name_pcm"] = _read_pcm(recording.path, s.rate)
                else:
                    form["name_recording"] = None
                    form["name_pcm"] = s.prompts.speech(recording.transcript, s.rate)
                return True
            failures += 1
            if failures >= s.settings.max_failures:
                raise TransferRequested("too_many_failures")
            s.say("noinput_1")

    def _ask_phone(self, form):
        if self.caller_id:
            form["phone"], form["skipped_4"] = self.caller_id, True
            return True

        def validate(answer):
            if not 5 <= len(answer.meaning) <= 15:
                return ["phone_invalid"]
            return None

        answer = self.session.ask("phone", ["ask_phone"], self.grammars["digits"],
                                  help_prompt=["ask_phone_help"], digits=True, max_digits=15,
                                  validate=validate)
        form["phone"] = answer.meaning
        return True

    def _confirm_and_commit(self, form):
        """Read the booking back; on yes take the places. Returns an Outcome, or None on no."""
        s = self.session
        tour = form["tour"]
        readback = [("prompt", "confirm_booking",
                     {"places": self.say_lang.places_phrase(form["places"]),
                      "tour": self._tour_text(tour)}),
                    ("pcm", form["name_pcm"], "name")]
        if not self.caller_id:
            readback.append(("prompt", "confirm_phone",
                             {"phone": self.say_lang.digits_phrase(form["phone"])}))
        readback.append("confirm_question")
        answer = s.ask("confirm", readback, self.grammars["yes_no"],
                       help_prompt=[*readback[:-1], "confirm_help"])
        if answer.meaning != "yes":
            s.say("booking_restart")
            return None
        while True:
            try:
                booking = self.store.book(tour["id"], form["places"], name=form["name"],
                                          phone=form["phone"], source="phone",
                                          call_id=s.call_id,
                                          name_recording=form["name_recording"])
                break
            except (TourFull, TourClosed, TourNotFound):
                alternatives = self.store.tours_with_room(self.now(), places=form["places"])
                if not alternatives:
                    s.say("tour_just_filled", "no_tours")
                    return Outcome("abandoned", "no_tours")
                s.say("tour_just_filled")
                self._ask_tour(form, tours=alternatives, field="alternative")
                tour = form["tour"]
                answer = s.ask("confirm_alternative",
                               [("prompt", "confirm_alternative",
                                 {"tour": self._tour_text(tour)}), "confirm_question"],
                               self.grammars["yes_no"], help_prompt=["confirm_help"])
                if answer.meaning != "yes":
                    s.say("booking_restart")
                    return None
        self.progress = Outcome("booked", booking_code=booking["code"])
        logger.info("call_id=%s booking created id=%s tour_id=%s places=%s", s.call_id,
                    booking["id"], tour["id"], form["places"])
        code = [("prompt", "booking_code", {"code": self.say_lang.digits_phrase(booking["code"])})]
        s.say("booking_done", *code)
        s.say(*code, "goodbye")
        return self.progress

    # Check and cancel

    def _find_bookings(self, field):
        """Return the caller's active bookings: by caller ID, else by a booking code."""
        bookings = self.store.find_bookings_by_phone(self.caller_id, self.now())
        if bookings:
            return bookings

        def validate(answer):
            if self.store.find_booking_by_code(answer.meaning) is None:
                return ["code_not_found"]
            return None

        answer = self.session.ask(field, ["ask_code"], self.grammars["digits"],
                                  help_prompt=["ask_code_help"], digits=True, max_digits=6,
                                  validate=validate, allow_back=False)
        return [self.store.find_booking_by_code(answer.meaning)]

    def _booking_text(self, booking):
        return self.session.prompts.text(
            "booking_summary", code=self.say_lang.digits_phrase(booking["code"]),
            places=self.say_lang.places_phrase(booking["places"]),
            tour=self.say_lang.tour_phrase(datetime.fromisoformat(booking["tour_starts_at"])))

    def check(self):
        bookings = self._find_bookings("check_code")
        texts = [("say", self._booking_text(b)) for b in bookings]
        self.session.say(*texts, "goodbye")
        return Outcome("checked", booking_code=bookings[0]["code"])

    def cancel(self):
        s = self.session
        bookings = self._find_bookings("cancel_code")
        booking = bookings[0]
        if len(bookings) > 1:
            options = ", ".join(s.prompts.text("option", key=i + 1, text=self._booking_text(b))
                                for i, b in enumerate(bookings[:9]))
            keys = {str(i + 1): f"idx:{i + 1}" for i in range(min(9, len(bookings)))}
            answer = s.ask("cancel_which", [("prompt", "cancel_which", {"options": options})],
                           self.grammars["days"].restricted([]), keys=keys, allow_back=False)
            booking = bookings[int(answer.meaning.split(":")[1]) - 1]
        answer = s.ask("cancel_confirm",
                       [("say", self._booking_text(booking)), "cancel_question"],
                       self.grammars["yes_no"], help_prompt=["cancel_question", "confirm_help"],
                       allow_back=False)
        if answer.meaning != "yes":
            s.say("cancel_kept", "goodbye")
            return Outcome("checked", "cancel_declined", booking_code=booking["code"])
        self.store.cancel_booking(booking["id"])
        logger.info("call_id=%s booking cancelled id=%s", s.call_id, booking["id"])
        self.progress = Outcome("cancelled", booking_code=booking["code"])
        s.say("cancel_done", "goodbye")
        return self.progress

    # Questions

    def question(self, intro=None):
        """Ask the qualifying turns when configured, then record the question."""
        s = self.session
        details = {}
        if intro:
            s.say(intro)
        if s.settings.qualifying:
            details["age_group"] = s.ask("age_group", ["ask_age_group"],
                                         self.grammars["age_group"], allow_back=False).meaning
            details["social_status"] = s.ask("social_status", ["ask_social_status"],
                                             self.grammars["social_status"],
                                             allow_back=False).meaning
            s.say("ask_occupation")
            occupation = s.record("occupation", self._recording_path("occupations"),
                                  OCCUPATION_MAX_SECONDS, s.settings.end_of_speech * 1.5)
            details["occupation"] = occupation.transcript
            if occupation.path is not None:
                occupation.path.unlink()
        s.say("ask_question")
        path = self._recording_path("questions")
        self.pending_question = details
        try:
            recording = s.record("question", path, s.settings.question_max_seconds,
                                 s.settings.question_end_silence)
        except Exception as ended:
            recording = getattr(ended, "recording", None)
            if recording is not None and recording.speech:
                self._save_question(recording, details)
            raise
        if not recording.speech:
            s.say("question_empty", "goodbye")
            return Outcome("abandoned", "empty_question")
        self._save_question(recording, details)
        s.say("question_saved", "goodbye")
        return self.progress

    def _save_question(self, recording, details):
        question_id = self.store.add_question(
            call_id=self.session.call_id, phone=self.caller_id,
            recording=self._relative(recording.path) if recording.path else None,
            duration_seconds=recording.seconds,
            ended_by=recording.ended_by, transcript=recording.transcript, **details)
        logger.info("call_id=%s question recorded id=%s seconds=%.1f ended_by=%s",
                    self.session.call_id, question_id, recording.seconds, recording.ended_by)
        self.progress = Outcome("question_recorded", question_id=question_id)

    # Helpers

    def _recording_path(self, kind):
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return (self.session.settings.recordings_dir / kind /
                f"{stamp}-{self.session.call_id[:8]}-{uuid.uuid4().hex[:6]}.wav")

    def _relative(self, path):
        return str(path.relative_to(self.session.settings.data_dir))


def _read_pcm(path, rate):
    from .audio import read_wav
    return read_wav(path, rate)[0]
