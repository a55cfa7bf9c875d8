"""Recorded questions for editors: list with filters and full-text search, the
question page with its recording and caller details, status/tags/assignment
changes, and export of selected questions.

Recordings are served by question id only. The path comes from the
questions.recording column (relative to Settings.data_dir) and must resolve
inside Settings.recordings_dir, so no request value ever names a file.
"""

import logging
from pathlib import Path

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   send_file, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length

from ivr.staff_store import QUESTION_STATUSES
from ivr.web.auth import role_required
from ivr.web.exports import csv_response, xlsx_response
from ivr.web.stores import audit, get_settings, get_staff, get_store

logger = logging.getLogger(__name__)

bp = Blueprint("questions", __name__)

STATUS_LABELS = {"new": _l("new"), "reviewed": _l("reviewed"), "selected": _l("selected"),
                 "rejected": _l("rejected")}
MAX_EXPORT = 5000


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Words in the transcript or tags"), validators=[Length(max=200)])
    # An unknown value in a filter just finds nothing, so the choices are not enforced.
    status = SelectField(_l("Status"), default="", validate_choice=False)
    tag = SelectField(_l("Tag"), default="", validate_choice=False)
    assigned = SelectField(_l("Assigned editor"), default="", validate_choice=False)


class QuestionForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[(s, STATUS_LABELS[s]) for s in QUESTION_STATUSES])
    tags = StringField(_l("Tags"), validators=[Length(max=300)],
                       description=_l("Separate tags with commas."))
    assigned_to = SelectField(_l("Assigned editor"))


def _editor_choices():
    editors = [u["username"] for u in get_staff().list_users()
               if "editor" in u["roles"] and u["active"]]
    return [("", _("nobody"))] + [(name, name) for name in editors]


def _filter_form():
    form = FilterForm(request.args)
    form.status.choices = [("", _("any"))] + [(s, STATUS_LABELS[s]) for s in QUESTION_STATUSES]
    form.tag.choices = [("", _("any"))] + [(t, t) for t in get_staff().question_tags()]
    form.assigned.choices = ([("", _("anyone")), ("-", _("nobody"))]
                             + [(n, n) for n, _label in _editor_choices()[1:]])
    return form


def get_question_or_404(question_id):
    """Return the question, or abort(404) when no question has this id."""
    question = get_store().get_question(question_id)
    if question is None:
        abort(404, f"question {question_id} not found")
    return question


def normalize_tags(text):
    """Return tags as stored: trimmed, lower case, unique, comma-separated without spaces."""
    tags = []
    for tag in (text or "").split(","):
        tag = " ".join(tag.split()).casefold()
        if tag and tag not in tags:
            tags.append(tag)
    return ",".join(tags)


@bp.route("/questions")
@role_required("editor")
def index():
    form = _filter_form()
    page = max(1, request.args.get("page", 1, type=int))
    page_size = current_app.config["PAGE_SIZE"]
    assigned = {"": None, "-": ""}.get(form.assigned.data or "", form.assigned.data)

    questions, total = get_staff().search_questions(
        text=form.q.data or "", status=form.status.data or None, tag=form.tag.data or None,
        assigned_to=assigned, limit=page_size, offset=(page - 1) * page_size)
    args = {key: value for key, value in request.args.items() if key != "page"}
    return render_template("questions/index.html", form=form, questions=questions, total=total,
                           page=page, page_size=page_size, args=args,
                           status_labels=STATUS_LABELS)


@bp.route("/questions/<int:question_id>", methods=["GET", "POST"])
@role_required("editor")
def show(question_id):
    question = get_question_or_404(question_id)
    form = QuestionForm(data=question if request.method == "GET" else None)
    form.assigned_to.choices = _editor_choices()
    if question["assigned_to"] and question["assigned_to"] not in dict(form.assigned_to.choices):
        form.assigned_to.choices.append((question["assigned_to"], question["assigned_to"]))

    if form.validate_on_submit():
        changes = {"status": form.status.data, "tags": normalize_tags(form.tags.data),
                   "assigned_to": form.assigned_to.data}
        changed = {key: value for key, value in changes.items() if question[key] != value}
        if changed:
            get_store().update_question(question_id, **changed)
            audit("question.updated", f"question:{question_id}",
                  before={key: question[key] for key in changed}, after=changed)
            flash(_("Question saved."), "info")
        else:
            flash(_("Nothing to save: no field changed."), "info")
        return redirect(url_for("questions.show", question_id=question_id))

    status = 400 if form.is_submitted() else 200
    return render_template("questions/show.html", question=question, form=form,
                           has_recording=_recording_path(question) is not None,
                           status_labels=STATUS_LABELS), status


def _recording_path(question):
    """Return the recording's absolute path if the file exists inside recordings_dir."""
    if not question.get("recording"):
        return None
    settings = get_settings()
    root = Path(settings.recordings_dir).resolve()
    path = (Path(settings.data_dir) / question["recording"]).resolve()
    if not path.is_relative_to(root):
        logger.warning("recording path outside the recordings folder question_id=%s",
                       question["id"])
        return None
    return path if path.is_file() else None


@bp.route("/questions/<int:question_id>/recording")
@role_required("editor")
def recording(question_id):
    """Serve the question's WAV file, with range requests for seeking. 404 if missing."""
    path = _recording_path(get_question_or_404(question_id))
    if path is None:
        abort(404, f"question {question_id} has no recording")
    return send_file(path, mimetype="audio/wav", conditional=True,
                     download_name=f"question-{question_id}.wav")


@bp.route("/questions/export", methods=["GET", "POST"])
@role_required("editor")
def export():
    """Download questions: the ids ticked in the list (POST), else those with status "selected"."""
    fmt = request.values.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(400)
    if request.method == "POST":
        ids = [value for value in request.form.getlist("ids") if value.isdigit()][:MAX_EXPORT]
        if not ids:
            flash(_("Tick at least one question to export."), "error")
            return redirect(request.referrer if _same_site(request.referrer)
                            else url_for("questions.index"))
        questions = get_staff().get_questions(ids)
    else:
        questions, _total = get_staff().search_questions(status="selected", limit=MAX_EXPORT)

    headers = [_("Number"), _("Received"), _("Status"), _("Tags"), _("Assigned editor"),
               _("Phone number"), _("Age group"), _("Social status"), _("Occupation"),
               _("Duration, s"), _("Transcript")]
    rows = [[q["id"], q["created_at"].replace("T", " "), str(STATUS_LABELS.get(q["status"],
             q["status"])), q["tags"], q["assigned_to"], q["phone"], q["age_group"],
             q["social_status"], q["occupation"], round(q["duration_seconds"], 1), q["transcript"]]
            for q in questions]
    audit("questions.exported", "questions", format=fmt, ids=[q["id"] for q in questions])
    if fmt == "csv":
        return csv_response("questions.csv", headers, rows)
    return xlsx_response("questions.xlsx", _("Questions"), headers, rows)


def _same_site(url):
    return bool(url) and url.startswith(request.host_url)
