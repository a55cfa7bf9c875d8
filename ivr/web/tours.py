"""Tours and bookings: the schedule with fill bars, bookings per tour, search,
booking on a caller's behalf, cancel, move, the guide's printable list, exports.

Every booking change goes through ivr.store.Store (book, move_booking,
cancel_booking), so the capacity rule is the same as on the phone.
"""

import logging
from datetime import date, datetime

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from ivr.store import BookingNotFound, StoreError, TourClosed, TourFull, TourNotFound
from ivr.web.auth import role_required
from ivr.web.exports import csv_response, xlsx_response
from ivr.web.formatting import local_datetime
from ivr.web.stores import audit, get_staff, get_store

logger = logging.getLogger(__name__)

bp = Blueprint("tours", __name__)

VIEW_ROLES = ("operator", "coordinator", "supervisor")
MAX_PLACES_PER_BOOKING = 50
MAX_CAPACITY = 1000
PHONE_PATTERN = r"^\+?[\d\s()\-]{5,25}$"


class BookingForm(FlaskForm):
    tour_id = SelectField(_l("Tour"), coerce=int,
                          validators=[InputRequired(_l("Choose a tour."))])
    places = IntegerField(_l("Places"), default=1, validators=[
        InputRequired(_l("Enter the number of places.")),
        NumberRange(1, MAX_PLACES_PER_BOOKING,
                    _l("Enter a number from %(min)s to %(max)s."))])
    name = StringField(_l("Caller's name"), validators=[
        DataRequired(_l("Enter the caller's name.")), Length(max=200)],
        render_kw={"autocomplete": "off"})
    phone = StringField(_l("Phone number"), validators=[
        Optional(), Regexp(PHONE_PATTERN, message=_l("Enter digits, spaces, + or -, "
                                                    "for example +7 916 123-45-67."))],
        render_kw={"autocomplete": "off", "inputmode": "tel"})


class MoveForm(FlaskForm):
    tour_id = SelectField(_l("New tour"), coerce=int,
                          validators=[InputRequired(_l("Choose a tour."))])
    places = IntegerField(_l("Places"), validators=[
        InputRequired(_l("Enter the number of places.")),
        NumberRange(1, MAX_PLACES_PER_BOOKING, _l("Enter a number from %(min)s to %(max)s."))])


class TourForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired(_l("Enter a date."))])
    time = TimeField(_l("Start time"), validators=[InputRequired(_l("Enter a start time."))])
    title = StringField(_l("Title"), validators=[Length(max=200)])
    capacity = IntegerField(_l("Places in total"), validators=[
        InputRequired(_l("Enter the number of places.")),
        NumberRange(0, MAX_CAPACITY, _l("Enter a number from %(min)s to %(max)s."))])
    status = SelectField(_l("Status"), choices=[("open", _l("open")), ("closed", _l("closed"))])


class AddPlacesForm(FlaskForm):
    places = IntegerField(_l("Places to add"), default=1, validators=[
        InputRequired(_l("Enter the number of places.")),
        NumberRange(1, MAX_CAPACITY, _l("Enter a number from %(min)s to %(max)s."))])


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name, phone number or booking code"), validators=[Length(max=100)])
    cancelled = BooleanField(_l("Include cancelled bookings"))


def get_tour_or_404(tour_id):
    """Return the tour, or abort(404) when no tour has this id."""
    try:
        return get_store().get_tour(tour_id)
    except TourNotFound:
        abort(404, f"tour {tour_id} not found")


def get_booking_or_404(booking_id):
    """Return the booking (active or cancelled), or abort(404)."""
    try:
        return get_store().get_booking(booking_id)
    except BookingNotFound:
        abort(404, f"booking {booking_id} not found")


def tour_label(tour):
    label = local_datetime(tour["starts_at"], "short")
    if tour["title"]:
        label += " — " + tour["title"]
    if tour["status"] != "open":
        return label + " — " + _("closed")
    return label + " — " + _("%(left)d places left", left=tour["places_left"])


def bookable_tours(exclude=None):
    """Open tours that have not started, full ones included (the Store rejects those)."""
    now = datetime.now().isoformat(timespec="minutes")
    return [tour for tour in get_store().list_tours()
            if tour["status"] == "open" and tour["starts_at"] > now and tour["id"] != exclude]


# Tours


@bp.route("/tours")
@role_required(*VIEW_ROLES)
def index():
    tours = get_store().list_tours()
    days = sorted({tour["starts_at"][:10] for tour in tours})
    selected_day = request.args.get("day", "")
    if selected_day:
        tours = [tour for tour in tours if tour["starts_at"][:10] == selected_day]

    by_day = {}
    for tour in tours:
        by_day.setdefault(tour["starts_at"][:10], []).append(tour)
    return render_template("tours/index.html", by_day=by_day, days=days,
                           selected_day=selected_day)


@bp.route("/tours/<int:tour_id>")
@role_required(*VIEW_ROLES)
def show(tour_id):
    tour = get_tour_or_404(tour_id)
    bookings = get_store().list_bookings(tour_id=tour_id)
    form = BookingForm(tour_id=tour_id)
    form.tour_id.choices = [(tour_id, tour_label(tour))]
    return render_template("tours/show.html", tour=tour, bookings=bookings, form=form,
                           add_places_form=AddPlacesForm())


@bp.route("/tours/new", methods=["GET", "POST"])
@role_required("coordinator")
def create():
    form = TourForm()
    if form.validate_on_submit():
        starts_at = datetime.combine(form.day.data, form.time.data)
        tour_id = get_store().add_tour(starts_at, form.capacity.data, form.title.data.strip())
        if form.status.data == "closed":
            get_store().update_tour(tour_id, status="closed")
        audit("tour.created", f"tour:{tour_id}", starts_at=starts_at.isoformat(timespec="minutes"),
              capacity=form.capacity.data, status=form.status.data)
        flash(_("Tour added."), "info")
        return redirect(url_for("tours.show", tour_id=tour_id))
    return render_template("tours/form.html", form=form, tour=None), _form_status(form)


@bp.route("/tours/<int:tour_id>/edit", methods=["GET", "POST"])
@role_required("coordinator")
def edit(tour_id):
    tour = get_tour_or_404(tour_id)
    form = TourForm()
    if request.method == "GET":
        starts = datetime.fromisoformat(tour["starts_at"])
        form.day.data, form.time.data = starts.date(), starts.time()
        form.title.data, form.capacity.data = tour["title"], tour["capacity"]
        form.status.data = tour["status"]

    if form.validate_on_submit():
        starts_at = datetime.combine(form.day.data, form.time.data)
        try:
            get_store().update_tour(tour_id, starts_at=starts_at, title=form.title.data.strip(),
                                    capacity=form.capacity.data, status=form.status.data)
        except TourFull:
            form.capacity.errors.append(_("%(booked)d places are already booked; the capacity "
                                          "cannot be lower.", booked=tour["booked"]))
            return render_template("tours/form.html", form=form, tour=tour), 409
        audit("tour.edited", f"tour:{tour_id}", before=_tour_fields(tour),
              after=_tour_fields(get_store().get_tour(tour_id)))
        flash(_("Tour saved."), "info")
        return redirect(url_for("tours.show", tour_id=tour_id))
    return render_template("tours/form.html", form=form, tour=tour), _form_status(form)


def _tour_fields(tour):
    return {key: tour[key] for key in ("starts_at", "title", "capacity", "status")}


@bp.route("/tours/<int:tour_id>/status", methods=["POST"])
@role_required("coordinator")
def set_status(tour_id):
    tour = get_tour_or_404(tour_id)
    status = request.form.get("status")
    if status not in ("open", "closed"):
        abort(400)
    get_store().update_tour(tour_id, status=status)
    audit("tour.status_changed", f"tour:{tour_id}", before=tour["status"], after=status)
    flash(_("Tour closed.") if status == "closed" else _("Tour reopened."), "info")
    return redirect(url_for("tours.show", tour_id=tour_id))


@bp.route("/tours/<int:tour_id>/places", methods=["POST"])
@role_required("coordinator")
def add_places(tour_id):
    tour = get_tour_or_404(tour_id)
    form = AddPlacesForm()
    if not form.validate_on_submit():
        for message in form.places.errors:
            flash(_("Places to add: %(error)s", error=message), "error")
        return redirect(url_for("tours.show", tour_id=tour_id))
    get_staff().add_places(tour_id, form.places.data)
    audit("tour.places_added", f"tour:{tour_id}", added=form.places.data,
          capacity_before=tour["capacity"])
    flash(_("%(count)d places added.", count=form.places.data), "info")
    return redirect(url_for("tours.show", tour_id=tour_id))


@bp.route("/tours/<int:tour_id>/print")
@role_required("operator", "coordinator")
def print_list(tour_id):
    tour = get_tour_or_404(tour_id)
    bookings = sorted(get_store().list_bookings(tour_id=tour_id),
                      key=lambda b: b["name"].casefold())
    return render_template("tours/print.html", tour=tour, bookings=bookings)


# Bookings


@bp.route("/bookings")
@role_required("operator")
def search_bookings():
    form = SearchForm(request.args)
    results = None
    if form.q.data and form.validate():
        results = get_staff().search_bookings(form.q.data, include_cancelled=form.cancelled.data)
    return render_template("bookings/search.html", form=form, results=results)


@bp.route("/bookings/new", methods=["GET", "POST"])
@role_required("operator")
def new_booking():
    form = BookingForm()
    form.tour_id.choices = [(tour["id"], tour_label(tour)) for tour in bookable_tours()]
    if request.method == "GET" and request.args.get("tour_id", "").isdigit():
        form.tour_id.data = int(request.args["tour_id"])

    if not form.validate_on_submit():
        return render_template("bookings/new.html", form=form), _form_status(form)

    try:
        booking = get_store().book(form.tour_id.data, form.places.data,
                                   name=form.name.data.strip(),
                                   phone=(form.phone.data or "").strip(), source="staff")
    except StoreError as error:
        form.form_errors.append(_booking_error(error, form.tour_id.data, form.places.data))
        return render_template("bookings/new.html", form=form), 409

    audit("booking.created", f"booking:{booking['id']}", code=booking["code"],
          tour_id=booking["tour_id"], places=booking["places"])
    logger.info("booking created booking_id=%s tour_id=%s user_id=%s", booking["id"],
                booking["tour_id"], g.user["id"])
    flash(_("Booking %(code)s created: %(places)d places. Tell the caller the code.",
            code=booking["code"], places=booking["places"]), "info")
    return redirect(url_for("tours.show_booking", booking_id=booking["id"]))


def _booking_error(error, tour_id, places):
    """Return the message shown to staff for a Store refusal; nothing was changed."""
    if isinstance(error, TourFull):
        return _("The tour has only %(left)d places left and %(places)d were requested. "
                 "Nothing was changed; choose fewer places or another tour.",
                 left=error.places_left, places=places)
    if isinstance(error, TourClosed):
        return _("The tour is closed to new bookings. Nothing was changed; choose another tour.")
    if isinstance(error, TourNotFound):
        return _("The tour no longer exists. Nothing was changed; choose another tour.")
    if isinstance(error, BookingNotFound):
        return _("The booking is no longer active. Nothing was changed.")
    return _("The booking could not be changed. Nothing was changed.")


def _form_status(form):
    return 400 if form.is_submitted() and form.errors else 200


@bp.route("/bookings/<int:booking_id>")
@role_required("operator")
def show_booking(booking_id):
    booking = get_booking_or_404(booking_id)
    form = _move_form(booking)
    return render_template("bookings/show.html", booking=booking, move_form=form)


def _move_form(booking):
    form = MoveForm(places=booking["places"])
    form.tour_id.choices = [(tour["id"], tour_label(tour))
                            for tour in bookable_tours(exclude=booking["tour_id"])]
    return form


@bp.route("/bookings/<int:booking_id>/move", methods=["POST"])
@role_required("operator")
def move_booking(booking_id):
    booking = get_booking_or_404(booking_id)
    form = _move_form(booking)
    if not form.validate_on_submit():
        return render_template("bookings/show.html", booking=booking, move_form=form), 400

    try:
        moved = get_store().move_booking(booking_id, form.tour_id.data, form.places.data)
    except StoreError as error:
        form.form_errors.append(_booking_error(error, form.tour_id.data, form.places.data))
        return render_template("bookings/show.html", booking=booking, move_form=form), 409

    audit("booking.moved", f"booking:{booking_id}", code=booking["code"],
          from_tour_id=booking["tour_id"], to_tour_id=moved["tour_id"],
          places_before=booking["places"], places_after=moved["places"])
    flash(_("Booking %(code)s moved to %(tour)s.", code=moved["code"],
            tour=local_datetime(moved["tour_starts_at"], "short")), "info")
    return redirect(url_for("tours.show_booking", booking_id=booking_id))


@bp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
@role_required("operator")
def cancel_booking(booking_id):
    booking = get_booking_or_404(booking_id)
    try:
        get_store().cancel_booking(booking_id)
    except BookingNotFound:
        flash(_("The booking is already cancelled."), "error")
        return redirect(url_for("tours.show_booking", booking_id=booking_id))

    audit("booking.cancelled", f"booking:{booking_id}", code=booking["code"],
          tour_id=booking["tour_id"], places=booking["places"])
    flash(_("Booking %(code)s cancelled; %(places)d places are free again.",
            code=booking["code"], places=booking["places"]), "info")
    return redirect(url_for("tours.show_booking", booking_id=booking_id))


# Exports


def _export_rows(bookings):
    headers = [_("Code"), _("Tour start"), _("Tour"), _("Places"), _("Name"), _("Phone number"),
               _("Status"), _("Source"), _("Created")]
    rows = [[b["code"], b["tour_starts_at"].replace("T", " "), b["tour_title"], b["places"],
             b["name"], b["phone"], b["status"], b["source"], b["created_at"].replace("T", " ")]
            for b in bookings]
    return headers, rows


@bp.route("/bookings/export.<fmt>")
@role_required("operator", "coordinator")
def export_bookings(fmt):
    """Download active bookings, of one tour (`tour_id`) or one day (`day`) or all."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    tour_id = request.args.get("tour_id", type=int)
    day = request.args.get("day", "")
    if tour_id is not None:
        get_tour_or_404(tour_id)
    bookings = get_store().list_bookings(tour_id=tour_id)
    if day:
        try:
            date.fromisoformat(day)
        except ValueError:
            abort(400)
        bookings = [b for b in bookings if b["tour_starts_at"][:10] == day]

    name = f"bookings-tour-{tour_id}" if tour_id else f"bookings-{day or 'all'}"
    headers, rows = _export_rows(bookings)
    audit("bookings.exported", f"tour:{tour_id}" if tour_id else f"day:{day or 'all'}",
          format=fmt, rows=len(rows))
    if fmt == "csv":
        return csv_response(name + ".csv", headers, rows)
    return xlsx_response(name + ".xlsx", _("Bookings"), headers, rows)
