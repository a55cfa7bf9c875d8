"""Call log, call turns, statistics and the live calls view with its event stream."""

import json

import pytest


@pytest.fixture
def calls(store):
    store.start_call("call-a", "sip", "ru", caller_id="+79160000009")
    store.add_turn("call-a", field="tour", prompt="На какое время?", event="match",
                   heard="в десять", meaning="10:00", confidence=0.91)
    store.add_turn("call-a", field="tour", prompt="На какое время?", event="nomatch",
                   heard="эээ")
    store.add_turn("call-a", field="places", prompt="Сколько мест?", event="noinput")
    store.add_turn("call-a", field="places", prompt="Сколько мест?", event="match",
                   heard="два", meaning="2", confidence=0.8)
    store.end_call("call-a", "transferred", reason="max failures")
    store.start_call("call-b", "wav", "ru")
    store.set_current_turn("call-b", "name")
    return ["call-a", "call-b"]


def test_call_log_lists_calls(as_role, calls):
    html = as_role("supervisor").get("/calls").get_data(as_text=True)
    assert "call-a" in html
    assert "переведён на оператора" in html
    assert "идёт" in html


def test_call_log_filter_outcome(as_role, calls):
    html = as_role("supervisor").get("/calls?outcome=transferred").get_data(as_text=True)
    assert "call-a" in html
    assert "call-b" not in html


def test_call_log_bad_filters_400(as_role):
    client = as_role("supervisor")
    assert client.get("/calls?day=yesterday").status_code == 400
    assert client.get("/calls?outcome=exploded").status_code == 400


def test_call_page_shows_turns(as_role, calls):
    html = as_role("supervisor").get("/calls/call-a").get_data(as_text=True)
    assert "в десять" in html
    assert "0.91" in html
    assert "nomatch" in html


def test_unknown_call_404(as_role):
    assert as_role("supervisor").get("/calls/nope").status_code == 404


def test_turn_stats_rates(staff, calls):
    fields = {row["field"]: row for row in staff.turn_stats()}
    assert fields["tour"]["no_match"] == 1
    assert fields["tour"]["no_match_rate"] == 0.5
    assert fields["places"]["no_input_rate"] == 0.5


def test_stats_page(as_role, calls, store):
    day = store.get_call("call-a")["started_at"][:10]
    client = as_role("supervisor")
    html = client.get("/calls/stats").get_data(as_text=True)
    assert "Шаги по полям диалога" in html
    assert "50,0" in html  # 50.0% no-match rate of the tour field, Russian number format
    html = client.get(f"/calls/stats?day={day}").get_data(as_text=True)
    assert "По часам" in html
    assert client.get("/calls/stats?day=bad").status_code == 400


def test_live_json_lists_calls_in_progress(as_role, calls):
    data = as_role("supervisor").get("/calls/live.json").get_json()
    assert [call["id"] for call in data["calls"]] == ["call-b"]
    assert data["calls"][0]["current_turn"] == "name"


def test_live_page_server_rendered(as_role, calls):
    html = as_role("supervisor").get("/calls/live").get_data(as_text=True)
    assert 'data-call-id="call-b"' in html
    assert 'aria-live="polite"' in html
    assert "Звонков идёт: 1" in html


def test_live_stream_sends_calls(as_role, calls):
    response = as_role("supervisor").get("/calls/live/stream")
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    event = [block for block in text.split("\n\n") if block.startswith("event: calls")][0]
    payload = json.loads(event.split("data: ", 1)[1])
    assert payload[0]["id"] == "call-b"
    assert payload[0]["current_turn"] == "name"
