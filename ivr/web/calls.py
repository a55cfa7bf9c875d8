"""Calls for supervisors: the call log with each call's turns, statistics per
day and hour and per dialog field, and the live view of calls in progress.

The live view is a server-sent events stream. The server polls the calls table
every LIVE_POLL_SECONDS and sends the list of calls in progress whenever it
changes. It closes the stream after LIVE_STREAM_SECONDS so that a stuck client
does not hold a worker thread, and the browser's EventSource reconnects by itself.
"""

import json
import logging
import time
from datetime import date, datetime, timedelta

from flask import (Blueprint, Response, abort, current_app, jsonify, render_template, request,
                   stream_with_context)

from flask_babel import lazy_gettext as _l

from ivr.store import OUTCOMES
from ivr.web.auth import role_required
from ivr.web.formatting import local_time
from ivr.web.stores import get_staff, get_store

logger = logging.getLogger(__name__)

bp = Blueprint("calls", __name__)

KEEP_ALIVE_SECONDS = 15

OUTCOME_LABELS = {"booked": _l("booked"), "cancelled": _l("cancelled"), "checked": _l("checked"),
                  "question_recorded": _l("question recorded"), "transferred": _l("transferred"),
                  "abandoned": _l("abandoned"), "failed": _l("failed")}


@bp.app_template_global()
def outcome_label(outcome):
    """Return the translated name of a calls.outcome value (the value itself if unknown)."""
    return OUTCOME_LABELS.get(outcome, outcome)


def _parse_day(text):
    """Return a date from YYYY-MM-DD text, None for empty text; abort(400) if invalid."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(400, f"day {text!r} is not a date like 2026-12-10")


@bp.route("/calls")
@role_required("supervisor")
def index():
    day = _parse_day(request.args.get("day", ""))
    outcome = request.args.get("outcome", "")
    if outcome and outcome not in OUTCOMES:
        abort(400, f"outcome {outcome!r} is not one of {OUTCOMES}")
    page = max(1, request.args.get("page", 1, type=int))
    page_size = current_app.config["PAGE_SIZE"]

    calls, total = get_staff().list_calls(day=day, outcome=outcome or None, limit=page_size,
                                          offset=(page - 1) * page_size)
    args = {key: value for key, value in request.args.items() if key != "page"}
    return render_template("calls/index.html", calls=calls, total=total, page=page,
                           page_size=page_size, args=args, day=day, outcome=outcome,
                           outcomes=OUTCOMES)


@bp.route("/calls/<call_id>")
@role_required("supervisor")
def show(call_id):
    call = get_store().get_call(call_id)
    if call is None:
        abort(404, f"call {call_id} not found")
    return render_template("calls/show.html", call=call, turns=get_store().get_turns(call_id))


@bp.route("/calls/stats")
@role_required("supervisor")
def stats():
    """Per-day totals, per-hour totals of one day, and failure rates per dialog field."""
    day = _parse_day(request.args.get("day", ""))
    since = until = None
    if day is not None:
        since = day.isoformat()
        until = (day + timedelta(days=1)).isoformat()

    staff = get_staff()
    return render_template("calls/stats.html", day=day, outcomes=OUTCOMES,
                           daily=staff.call_stats("day"),
                           hourly=staff.call_stats("hour", since, until),
                           fields=staff.turn_stats(since, until))


@bp.route("/calls/live")
@role_required("supervisor")
def live():
    return render_template("calls/live.html", calls=_live_calls())


@bp.route("/calls/live.json")
@role_required("supervisor")
def live_json():
    return jsonify(calls=_live_calls())


def _live_calls():
    calls = get_staff().live_calls()
    for call in calls:
        call["started_time"] = local_time(call["started_at"], "medium")
    return calls


@bp.route("/calls/live/stream")
@role_required("supervisor")
def live_stream():
    """Send `event: calls` with the JSON list of calls in progress each time it changes."""
    poll = current_app.config["LIVE_POLL_SECONDS"]
    deadline = time.monotonic() + current_app.config["LIVE_STREAM_SECONDS"]

    @stream_with_context
    def events():
        last = None
        last_sent = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            payload = json.dumps(_live_calls(), ensure_ascii=False)
            if payload != last:
                last = payload
                last_sent = time.monotonic()
                yield f"event: calls\ndata: {payload}\n\n"
            elif time.monotonic() - last_sent > KEEP_ALIVE_SECONDS:
                # A comment line, so that a write fails once the client has gone away.
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(poll)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(events(), mimetype="text/event-stream", headers=headers)


@bp.app_template_filter("duration_since")
def duration_since(started_at):
    """Whole seconds since a stored local time, for the live view."""
    return max(0, int((datetime.now() - datetime.fromisoformat(started_at)).total_seconds()))
