"""Staff web page and JSON API of the voice booking line: the application factory.

`create_app` builds the Flask application on the same SQLite file as the phone
dialogs (ivr.config.Settings.db_path). Run it with `flask --app ivr.web run`;
`flask --app ivr.web create-admin NAME` creates the first admin account.

Environment variables read here, in addition to ivr.config's:

| variable | default | meaning |
| --- | --- | --- |
| IVR_WEB_SECRET_KEY | generated once, kept in <data>/web-secret-key | signs session cookies |
| IVR_WEB_COOKIE_SECURE | 1 | send the session cookie over HTTPS only; 0 for plain HTTP on 127.0.0.1 |
| IVR_WEB_MAX_CONTENT_LENGTH | 1048576 | largest request body accepted, in bytes; larger ones get 413 |
| IVR_WEB_SESSION_HOURS | 12 | hours a login stays valid |
| IVR_WEB_LOGIN_MAX_FAILURES | 5 | failed logins per account before the account is paused |
| IVR_WEB_LOGIN_WINDOW_MINUTES | 15 | how long failed logins count toward the pause |
"""

import logging
import os
import secrets
from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from ivr.config import ConfigError, load_settings
from ivr.staff_store import StaffStore
from ivr.store import Store

logger = logging.getLogger(__name__)

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"

csrf = CSRFProtect()
babel = Babel()


def create_app(settings=None, test_config=None):
    """Build the staff web application.

    `settings` is an ivr.config.Settings (read from the environment when None);
    `test_config` is a dict that overrides Flask configuration keys.
    """
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(_default_config(settings))
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _load_secret_key(settings.data_dir)

    store = Store(settings.db_path)
    app.extensions["ivr"] = {"settings": settings, "store": store, "staff": StaffStore(store)}

    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    _register_blueprints(app)
    _register_template_helpers(app)
    app.after_request(_set_security_headers)

    from ivr.web import cli, errors
    errors.register(app)
    cli.register(app)
    return app


def _default_config(settings):
    return {
        "SECRET_KEY": os.environ.get("IVR_WEB_SECRET_KEY") or None,
        "SESSION_COOKIE_NAME": "ivr_staff",
        "SESSION_COOKIE_SECURE": os.environ.get("IVR_WEB_COOKIE_SECURE", "1")
        not in ("0", "no", "false", "off"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": _env_int("IVR_WEB_MAX_CONTENT_LENGTH", 1024 * 1024),
        "SESSION_SECONDS": _env_int("IVR_WEB_SESSION_HOURS", 12) * 3600,
        "LOGIN_MAX_FAILURES": _env_int("IVR_WEB_LOGIN_MAX_FAILURES", 5),
        "LOGIN_WINDOW_SECONDS": _env_int("IVR_WEB_LOGIN_WINDOW_MINUTES", 15) * 60,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": DEFAULT_LANGUAGE,
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        # The live calls stream polls the database this often (seconds) and
        # closes after LIVE_STREAM_SECONDS; the browser's EventSource reconnects.
        "LIVE_POLL_SECONDS": 1.0,
        "LIVE_STREAM_SECONDS": 300.0,
        "PAGE_SIZE": 50,
    }


def _env_int(name, default):
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set a number "
                          f"or unset it to use the default {default}") from None
    if value < 1:
        raise ConfigError(f"{name}={value} must be 1 or more")
    return value


def _load_secret_key(data_dir):
    """Read the cookie signing key from <data_dir>/web-secret-key, creating it once."""
    path = Path(data_dir) / "web-secret-key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key)
    logger.info("created a new cookie signing key in %s", path)
    return key


# Scripts only from this site. Inline style attributes stay allowed because the
# fill bars set their width with one.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; "
                           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                           "media-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                           "base-uri 'none'")


def _set_security_headers(response):
    """Add browser protections to every response; pages with callers' data are not cached."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _select_locale():
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    return DEFAULT_LANGUAGE


def _register_blueprints(app):
    from ivr.web import admin, api, auth, calls, questions, tours

    app.register_blueprint(auth.bp)
    app.register_blueprint(tours.bp)
    app.register_blueprint(questions.bp)
    app.register_blueprint(calls.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.before_request(auth.load_user)


def _register_template_helpers(app):
    from ivr.web import formatting

    app.jinja_env.filters["local_datetime"] = formatting.local_datetime
    app.jinja_env.filters["local_date"] = formatting.local_date
    app.jinja_env.filters["local_time"] = formatting.local_time
    app.jinja_env.filters["percent"] = formatting.percent
    app.jinja_env.filters["decimal"] = formatting.decimal
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

    @app.context_processor
    def inject_locale():
        from flask_babel import get_locale
        return {"current_language": str(get_locale()), "request_path": request.full_path}
