"""Each role reaches its own pages and gets 403 on every other role's page."""

import pytest

from .conftest import ROLE_USERS

# (method, path template, roles allowed). Paths use the `tours` fixture and
# the records made in `records`.
RULES = [
    ("GET", "/tours", {"operator", "coordinator", "supervisor"}),
    ("GET", "/tours/{tour}", {"operator", "coordinator", "supervisor"}),
    ("GET", "/tours/new", {"coordinator"}),
    ("GET", "/tours/{tour}/edit", {"coordinator"}),
    ("POST", "/tours/{tour}/status", {"coordinator"}),
    ("POST", "/tours/{tour}/places", {"coordinator"}),
    ("GET", "/tours/{tour}/print", {"operator", "coordinator"}),
    ("GET", "/bookings", {"operator"}),
    ("GET", "/bookings/new", {"operator"}),
    ("GET", "/bookings/{booking}", {"operator"}),
    ("POST", "/bookings/{booking}/move", {"operator"}),
    ("POST", "/bookings/{booking}/cancel", {"operator"}),
    ("GET", "/bookings/export.csv", {"operator", "coordinator"}),
    ("GET", "/questions", {"editor"}),
    ("GET", "/questions/{question}", {"editor"}),
    ("GET", "/questions/{question}/recording", {"editor"}),
    ("GET", "/questions/export", {"editor"}),
    ("GET", "/calls", {"supervisor"}),
    ("GET", "/calls/call-1", {"supervisor"}),
    ("GET", "/calls/stats", {"supervisor"}),
    ("GET", "/calls/live", {"supervisor"}),
    ("GET", "/calls/live.json", {"supervisor"}),
    ("GET", "/calls/live/stream", {"supervisor"}),
    ("GET", "/admin/users", {"admin"}),
    ("GET", "/admin/users/new", {"admin"}),
    ("GET", "/admin/users/1", {"admin"}),
    ("GET", "/admin/tokens", {"admin"}),
    ("POST", "/admin/tokens/1/revoke", {"admin"}),
    ("GET", "/admin/audit", {"admin"}),
    ("GET", "/admin/settings", {"admin"}),
]


@pytest.fixture
def records(store, staff, tours, settings):
    booking = store.book(tours["a"], 1, name="Пётр", phone="+7 900 111-22-33")
    settings.recordings_dir.mkdir(parents=True)
    (settings.recordings_dir / "q1.wav").write_bytes(b"RIFF0000WAVE")
    question = store.add_question(transcript="Вопрос", recording="recordings/q1.wav")
    store.start_call("call-1", "wav", "ru")
    staff.add_token("crm", ["operator"])
    return {"tour": tours["a"], "booking": booking["id"], "question": question}


@pytest.mark.parametrize("role", ROLE_USERS)
def test_role_rules(role, as_role, records):
    client = as_role(role)
    for method, template, allowed in RULES:
        path = template.format(**records)
        response = client.open(path, method=method, data={})
        if role in allowed:
            assert response.status_code != 403, f"{role} denied {method} {path}"
        else:
            assert response.status_code == 403, \
                f"{role} got {response.status_code} on {method} {path}, expected 403"
