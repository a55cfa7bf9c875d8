"""Fixtures of the staff web page tests: the real app on a temporary SQLite file."""

import re
from datetime import datetime, timedelta

import pytest

from ivr.config import load_settings
from ivr.web import create_app

PASSWORD = "correct horse battery"
ROLE_USERS = ("admin", "coordinator", "operator", "editor", "supervisor")


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


def _make_app(settings, **config):
    base = {"TESTING": True, "SECRET_KEY": "test-secret", "SESSION_COOKIE_SECURE": False,
            "WTF_CSRF_ENABLED": False, "LIVE_POLL_SECONDS": 0.01, "LIVE_STREAM_SECONDS": 0.05}
    base.update(config)
    app = create_app(settings, base)
    staff = app.extensions["ivr"]["staff"]
    existing = {user["username"] for user in staff.list_users()}
    for role in ROLE_USERS:
        if role not in existing:
            staff.add_user(role, PASSWORD, [role], full_name=f"Test {role}")
    return app


@pytest.fixture
def app(settings):
    """The app with CSRF checks off, so tests can post forms directly; one user per role."""
    app = _make_app(settings)
    yield app
    app.extensions["ivr"]["store"].close()


@pytest.fixture
def csrf_app(settings):
    """The app with CSRF checks on, as in production."""
    app = _make_app(settings, WTF_CSRF_ENABLED=True)
    yield app
    app.extensions["ivr"]["store"].close()


@pytest.fixture
def store(app):
    return app.extensions["ivr"]["store"]


@pytest.fixture
def staff(app):
    return app.extensions["ivr"]["staff"]


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def as_role(app):
    """Return a function that gives a test client logged in with the named role."""
    def make(role):
        client = app.test_client()
        response = login(client, role)
        assert response.status_code == 302, response.data
        return client
    return make


def future(hours):
    """Local time `hours` from now, rounded to minutes, as stored in tours.starts_at."""
    return (datetime.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)


@pytest.fixture
def tours(store):
    """Three future tours: A (10 places), B (2 places, 1 taken), C (5 places, closed)."""
    tour_a = store.add_tour(future(24), 10, "Tour A")
    tour_b = store.add_tour(future(25), 2, "Tour B")
    tour_c = store.add_tour(future(26), 5, "Tour C")
    store.book(tour_b, 1, name="Мария Иванова", phone="+7 916 000-00-01")
    store.update_tour(tour_c, status="closed")
    return {"a": tour_a, "b": tour_b, "c": tour_c}


def csrf_token_from(html):
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: runs headless Chromium (/usr/bin/chromium) "
                                       "through Playwright")
    # WTForms 3.3 deprecates (value, label) tuples for SelectField choices in favour
    # of SelectChoice. NOTE: move the choices to SelectChoice once WTForms>=3.3 is required.
    config.addinivalue_line("filterwarnings",
                            "ignore:Passing SelectField choices as tuples:DeprecationWarning")
