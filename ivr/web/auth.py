"""Login, logout, the language switch and the role checks every view uses.

A login stores a random session id in the signed cookie and a row in
staff_sessions. Each request looks the row up, and logout deletes it, so a
copy of the cookie kept by someone stops working after logout.
"""

import functools
import logging

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ivr.web import LANGUAGES
from ivr.web.stores import get_staff

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# Endpoints reachable without a login. The API blueprint checks its own tokens.
PUBLIC_ENDPOINTS = {"auth.login", "auth.set_language", "static"}

# The page each role starts on, in order of preference.
HOME_BY_ROLE = (("operator", "tours.index"), ("coordinator", "tours.index"),
                ("editor", "questions.index"), ("supervisor", "calls.live"),
                ("admin", "admin.users"))


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Enter your username.")), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")), Length(max=200)])
    next = HiddenField()


class LanguageForm(FlaskForm):
    lang = SelectField(_l("Language"), choices=[("ru", "Русский"), ("en", "English")])
    next = HiddenField()


def load_user():
    """Set g.user (a dict or None) and g.actor from the session; redirect anonymous users.

    Runs before every request. API requests are left to the API's token check.
    """
    g.user = None
    g.actor = "anonymous"
    session_id = session.get("sid")
    if session_id:
        g.user = get_staff().session_user(session_id)
        if g.user is None:
            session.pop("sid", None)
        else:
            g.actor = g.user["username"]

    endpoint = request.endpoint or ""
    if g.user is None and endpoint not in PUBLIC_ENDPOINTS and not endpoint.startswith("api."):
        if request.endpoint is None:
            return None  # unknown URL: Flask returns 404
        return redirect(url_for("auth.login", next=request.full_path))
    return None


def role_required(*roles):
    """Allow the view to users with at least one of `roles`; abort(403) for others.

    Anonymous users never reach the view because load_user redirects them to
    the login page first. The roles are kept on the view as `required_roles`
    so that a test can check that every view has a rule.
    """
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if not set(roles) & set(g.user["roles"]):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


def has_role(*roles):
    return g.get("user") is not None and bool(set(roles) & set(g.user["roles"]))


@bp.app_context_processor
def inject_user():
    return {"user": g.get("user"), "has_role": has_role,
            "language_form": LanguageForm(formdata=None, lang=_current_language(),
                                          next=request.full_path)}


def _current_language():
    lang = session.get("lang")
    return lang if lang in LANGUAGES else LANGUAGES[0]


def safe_next(target):
    """Return `target` if it is a path on this site, else None (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/")
@role_required("admin", "coordinator", "operator", "editor", "supervisor")
def home():
    for role, endpoint in HOME_BY_ROLE:
        if role in g.user["roles"]:
            return redirect(url_for(endpoint))
    abort(403)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        user, error, status = _check_login(form.username.data.strip(), form.password.data)
        if user is not None:
            _start_session(user)
            return redirect(safe_next(form.next.data) or url_for("auth.home"))
        form.form_errors.append(error)
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _check_login(username, password):
    """Return (user, error message, HTTP status); user is None when login fails."""
    staff = get_staff()
    config = current_app.config
    failures = staff.recent_login_failures(username, config["LOGIN_WINDOW_SECONDS"])
    if failures >= config["LOGIN_MAX_FAILURES"]:
        # The attempted username stays out of the log: people type passwords there by mistake.
        logger.warning("login rejected: too many failed logins for one account")
        minutes = config["LOGIN_WINDOW_SECONDS"] // 60
        return None, _("Too many failed logins for this account. "
                       "Try again in %(minutes)d minutes.", minutes=minutes), 429

    user = staff.check_password(username, password)
    if user is None:
        staff.add_login_failure(username)
        logger.info("login failed")
        return None, _("Invalid username or password."), 401

    staff.clear_login_failures(username)
    return user, None, 200


def _start_session(user):
    """Replace the whole session with a new one, so no earlier session id survives."""
    lang = session.get("lang")
    old_id = session.get("sid")
    if old_id:
        get_staff().end_session(old_id)
    session.clear()
    session["sid"] = get_staff().start_session(user["id"], current_app.config["SESSION_SECONDS"])
    if lang:
        session["lang"] = lang
    session.permanent = False
    logger.info("login user_id=%s", user["id"])


@bp.route("/logout", methods=["POST"])
@role_required("admin", "coordinator", "operator", "editor", "supervisor")
def logout():
    get_staff().end_session(session.get("sid", ""))
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    logger.info("logout user_id=%s", g.user["id"])
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
    return redirect(safe_next(form.next.data) or url_for("auth.login"))
