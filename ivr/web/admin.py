"""Administration: staff users and their roles, JSON API tokens, the audit log
and a read-only view of the line's settings. Admin role only.
"""

import logging
from dataclasses import asdict

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ivr.staff_store import ROLES, UserExists, UserNotFound
from ivr.web.auth import role_required
from ivr.web.stores import audit, get_settings, get_staff

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {"admin": _l("admin: users, tokens, settings"),
               "coordinator": _l("coordinator: tours"),
               "operator": _l("operator: bookings"),
               "editor": _l("editor: questions"),
               "supervisor": _l("supervisor: calls and statistics")}
MIN_PASSWORD_LENGTH = 10


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices():
    return [(role, ROLE_LABELS[role]) for role in ROLES]


class NewUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Enter a username.")), Length(max=50),
        Regexp(r"^[A-Za-z0-9_.\-]+$", message=_l("Use Latin letters, digits, dots, "
                                                 "hyphens and underscores."))])
    full_name = StringField(_l("Full name"), validators=[Length(max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=_role_choices())
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter a password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=200,
               message=_l("The password must have at least %(min)d characters."))],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the password"), validators=[
        EqualTo("password", _l("The passwords do not match."))],
        render_kw={"autocomplete": "new-password"})


class EditUserForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[Length(max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=_role_choices())
    active = BooleanField(_l("Account active"))
    password = PasswordField(_l("New password (leave empty to keep)"), validators=[
        Optional(), Length(min=MIN_PASSWORD_LENGTH, max=200,
                           message=_l("The password must have at least %(min)d characters."))],
        render_kw={"autocomplete": "new-password"})


class TokenForm(FlaskForm):
    name = StringField(_l("Token name (which system uses it)"), validators=[
        DataRequired(_l("Enter a name.")), Length(max=100)])
    roles = MultiCheckboxField(_l("Roles"), choices=_role_choices())


@bp.route("/users")
@role_required("admin")
def users():
    return render_template("admin/users.html", users=get_staff().list_users(),
                           role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def new_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user_id = get_staff().add_user(form.username.data, form.password.data,
                                           form.roles.data, full_name=(form.full_name.data or "").strip())
        except UserExists:
            form.username.errors.append(_("This username is taken."))
        else:
            audit("user.created", f"user:{user_id}", username=form.username.data,
                  roles=form.roles.data)
            flash(_("User %(name)s added.", name=form.username.data), "info")
            return redirect(url_for("admin.users"))
    status = 400 if form.is_submitted() else 200
    return render_template("admin/user_form.html", form=form, edited=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_user(user_id):
    try:
        edited = get_staff().get_user(user_id)
    except UserNotFound:
        abort(404, f"user {user_id} not found")
    form = EditUserForm(data=edited if request.method == "GET" else None)

    if form.validate_on_submit():
        if edited["id"] == g.user["id"] and ("admin" not in form.roles.data or not form.active.data):
            form.form_errors.append(_("You cannot remove your own admin role or deactivate "
                                      "yourself; ask another admin."))
        else:
            get_staff().update_user(user_id, roles=form.roles.data, active=form.active.data,
                                    full_name=(form.full_name.data or "").strip(),
                                    password=form.password.data or None)
            audit("user.updated", f"user:{user_id}", username=edited["username"],
                  roles=form.roles.data, active=form.active.data,
                  password_changed=bool(form.password.data))
            flash(_("User %(name)s saved.", name=edited["username"]), "info")
            return redirect(url_for("admin.users"))
    status = 400 if form.is_submitted() else 200
    return render_template("admin/user_form.html", form=form, edited=edited), status


@bp.route("/tokens", methods=["GET", "POST"])
@role_required("admin")
def tokens():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        if not form.roles.data:
            form.roles.errors.append(_("Choose at least one role."))
        else:
            token_id, new_token = get_staff().add_token(form.name.data.strip(), form.roles.data)
            audit("token.created", f"token:{token_id}", name=form.name.data, roles=form.roles.data)
            form = TokenForm(formdata=None)
    status = 400 if form.errors else 200
    return render_template("admin/tokens.html", form=form, tokens=get_staff().list_tokens(),
                           new_token=new_token, role_labels=ROLE_LABELS), status


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("admin")
def revoke_token(token_id):
    if not get_staff().revoke_token(token_id):
        abort(404, f"active token {token_id} not found")
    audit("token.revoked", f"token:{token_id}")
    flash(_("Token revoked."), "info")
    return redirect(url_for("admin.tokens"))


@bp.route("/audit")
@role_required("admin")
def audit_log():
    page = max(1, request.args.get("page", 1, type=int))
    actor = request.args.get("actor", "").strip() or None
    action = request.args.get("action", "").strip() or None
    entries = get_staff().list_audit(actor=actor, action=action, limit=100,
                                     offset=(page - 1) * 100)
    return render_template("admin/audit.html", entries=entries, page=page, actor=actor or "",
                           action=action or "")


@bp.route("/settings")
@role_required("admin")
def settings():
    values = {key: value for key, value in asdict(get_settings()).items() if key != "extra"}
    return render_template("admin/settings.html", values=values)
