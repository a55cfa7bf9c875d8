"""JSON API for a CRM or another system, under /api/v1.

Every request carries `Authorization: Bearer <token>`; an admin creates tokens
on the API tokens page or with `flask --app ivr.web create-token`. A token acts
with the roles it was given, under the same rules as the staff page. Tours need
operator, coordinator or supervisor, bookings need operator, and questions need
editor. Errors are `{"error": "..."}` with the HTTP status. docs/web.md lists
the endpoints with examples.
"""

import functools
import logging
import re
from datetime import datetime

from flask import Blueprint, abort, g, jsonify, request

from ivr.store import BookingNotFound, TourClosed, TourFull, TourNotFound
from ivr.web.stores import audit, get_staff, get_store
from ivr.web.tours import MAX_PLACES_PER_BOOKING, PHONE_PATTERN

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIST = 500


class ApiError(Exception):
    """A rejected API request, returned as `{"error": message}` with HTTP `status`."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra


@bp.errorhandler(ApiError)
def api_error(error):
    return jsonify(error=str(error), **error.extra), error.status


def token_required(*roles):
    """Allow requests whose bearer token has one of `roles`: else 401 (no or bad token) or 403."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _space, token = header.partition(" ")
            owner = get_staff().token_owner(token.strip()) if scheme == "Bearer" else None
            if owner is None:
                response = jsonify(error="missing or invalid token; send "
                                         "'Authorization: Bearer <token>'")
                response.headers["WWW-Authenticate"] = 'Bearer realm="ivr"'
                return response, 401
            if not set(roles) & set(owner["roles"]):
                raise ApiError(403, f"token lacks a role for this request; needs one of "
                                    f"{', '.join(roles)}")
            g.actor = f"api:{owner['name']}"
            return view(*args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


def _tour_json(tour):
    return {key: tour[key] for key in ("id", "starts_at", "title", "capacity", "booked",
                                       "places_left", "status")}


def _booking_json(booking):
    return {key: booking[key] for key in ("id", "code", "tour_id", "tour_starts_at", "places",
                                          "name", "phone", "status", "source", "created_at",
                                          "cancelled_at")}


def _question_json(question):
    data = {key: question[key] for key in ("id", "created_at", "status", "transcript",
                                           "assigned_to", "phone", "age_group", "social_status",
                                           "occupation", "duration_seconds", "call_id")}
    data["tags"] = [tag for tag in question["tags"].split(",") if tag]
    return data


@bp.route("/tours")
@token_required("operator", "coordinator", "supervisor")
def list_tours():
    """Tours with places left; `?available=1` keeps only open future tours with room."""
    if request.args.get("available") == "1":
        tours = get_store().tours_with_room(places=request.args.get("places", 1, type=int))
    else:
        tours = get_store().list_tours()
    return jsonify(tours=[_tour_json(tour) for tour in tours])


@bp.route("/tours/<int:tour_id>")
@token_required("operator", "coordinator", "supervisor")
def get_tour(tour_id):
    try:
        return jsonify(_tour_json(get_store().get_tour(tour_id)))
    except TourNotFound:
        raise ApiError(404, f"tour {tour_id} not found") from None


@bp.route("/bookings")
@token_required("operator")
def list_bookings():
    """Active bookings, filtered by `tour_id`, `code` or `q` (name, phone or code)."""
    tour_id = request.args.get("tour_id", type=int)
    code = request.args.get("code")
    text = request.args.get("q", "").strip()
    if code:
        booking = get_store().find_booking_by_code(code)
        bookings = [booking] if booking else []
    elif text:
        bookings = get_staff().search_bookings(text, limit=MAX_LIST)
    else:
        bookings = get_store().list_bookings(tour_id=tour_id)[:MAX_LIST]
    return jsonify(bookings=[_booking_json(b) for b in bookings])


@bp.route("/bookings/<code>")
@token_required("operator")
def get_booking(code):
    booking = get_store().find_booking_by_code(code)
    if booking is None:
        raise ApiError(404, f"active booking {code} not found")
    return jsonify(_booking_json(booking))


@bp.route("/bookings", methods=["POST"])
@token_required("operator")
def create_booking():
    """Book places: JSON `{"tour_id", "places", "name", "phone"}`; 201 with the booking.

    409 when the tour is full (with `places_left`) or closed; nothing changes then.
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "send a JSON object with tour_id, places, name and phone")
    tour_id, places, name, phone = _validate_booking(data)

    try:
        tour = get_store().get_tour(tour_id)
        if tour["starts_at"] <= datetime.now().isoformat(timespec="minutes"):
            raise ApiError(409, f"tour {tour_id} has already started")
        booking = get_store().book(tour_id, places, name=name, phone=phone, source="api")
    except TourNotFound:
        raise ApiError(404, f"tour {tour_id} not found") from None
    except TourFull as error:
        raise ApiError(409, f"tour {tour_id} has {error.places_left} places left, "
                            f"{places} requested", places_left=error.places_left) from None
    except TourClosed:
        raise ApiError(409, f"tour {tour_id} is closed to new bookings") from None

    audit("booking.created", f"booking:{booking['id']}", code=booking["code"],
          tour_id=tour_id, places=places)
    return jsonify(_booking_json(booking)), 201


def _validate_booking(data):
    """Return (tour_id, places, name, phone) from a request body, or raise ApiError(422)."""
    errors = {}
    tour_id = data.get("tour_id")
    places = data.get("places", 1)
    name = data.get("name", "")
    phone = data.get("phone", "")
    if not isinstance(tour_id, int) or isinstance(tour_id, bool):
        errors["tour_id"] = "must be a whole number"
    if not isinstance(places, int) or isinstance(places, bool) \
            or not 1 <= places <= MAX_PLACES_PER_BOOKING:
        errors["places"] = f"must be a whole number from 1 to {MAX_PLACES_PER_BOOKING}"
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = "must be a non-empty text of at most 200 characters"
    if not isinstance(phone, str) or (phone and not re.match(PHONE_PATTERN, phone)):
        errors["phone"] = "must contain digits, spaces, + or -, for example +7 916 123-45-67"
    if errors:
        raise ApiError(422, "invalid booking fields", fields=errors)
    return tour_id, places, name.strip(), phone.strip()


@bp.route("/bookings/<code>", methods=["DELETE"])
@token_required("operator")
def cancel_booking(code):
    """Cancel the active booking with this code; returns the cancelled booking."""
    booking = get_store().find_booking_by_code(code)
    if booking is None:
        raise ApiError(404, f"active booking {code} not found")
    try:
        cancelled = get_store().cancel_booking(booking["id"])
    except BookingNotFound:
        raise ApiError(404, f"active booking {code} not found") from None
    audit("booking.cancelled", f"booking:{booking['id']}", code=code,
          tour_id=booking["tour_id"], places=booking["places"])
    return jsonify(_booking_json(cancelled))


@bp.route("/questions")
@token_required("editor")
def list_questions():
    """Questions, newest first; filters `status`, `tag`, `q` (FTS5), paging `limit`, `offset`."""
    limit = min(max(request.args.get("limit", 100, type=int), 1), MAX_LIST)
    offset = max(request.args.get("offset", 0, type=int), 0)
    questions, total = get_staff().search_questions(
        text=request.args.get("q", ""), status=request.args.get("status") or None,
        tag=request.args.get("tag") or None, limit=limit, offset=offset)
    return jsonify(total=total, questions=[_question_json(q) for q in questions])


@bp.route("/questions/<int:question_id>")
@token_required("editor")
def get_question(question_id):
    question = get_store().get_question(question_id)
    if question is None:
        raise ApiError(404, f"question {question_id} not found")
    return jsonify(_question_json(question))


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(unknown):
    abort(404)
