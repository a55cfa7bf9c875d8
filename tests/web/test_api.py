"""JSON API: token authentication, tours, bookings and questions."""

import pytest


@pytest.fixture
def tokens(staff):
    return {role: staff.add_token(f"{role}-system", [role])[1]
            for role in ("operator", "editor", "coordinator")}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_requires_token(client, tours):
    response = client.get("/api/v1/tours")
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert client.get("/api/v1/tours", headers=bearer("wrong")).status_code == 401


def test_api_revoked_token_rejected(client, staff, tours):
    token_id, token = staff.add_token("old", ["operator"])
    staff.revoke_token(token_id)
    assert client.get("/api/v1/tours", headers=bearer(token)).status_code == 401


def test_api_login_session_is_not_enough(as_role, tours):
    assert as_role("operator").get("/api/v1/tours").status_code == 401


def test_api_list_tours(client, tokens, tours):
    data = client.get("/api/v1/tours", headers=bearer(tokens["operator"])).get_json()
    by_title = {tour["title"]: tour for tour in data["tours"]}
    assert by_title["Tour B"]["places_left"] == 1
    assert by_title["Tour C"]["status"] == "closed"


def test_api_list_tours_available(client, tokens, tours):
    data = client.get("/api/v1/tours?available=1&places=2",
                      headers=bearer(tokens["coordinator"])).get_json()
    assert [tour["title"] for tour in data["tours"]] == ["Tour A"]


def test_api_get_tour_404(client, tokens):
    response = client.get("/api/v1/tours/999", headers=bearer(tokens["operator"]))
    assert response.status_code == 404
    assert response.get_json()["error"] == "tour 999 not found"


def test_api_create_list_cancel_booking(client, tokens, tours, store, staff):
    headers = bearer(tokens["operator"])
    response = client.post("/api/v1/bookings", headers=headers, json={
        "tour_id": tours["a"], "places": 2, "name": "CRM Гость", "phone": "+7 900 000-00-00"})
    assert response.status_code == 201
    booking = response.get_json()
    assert booking["source"] == "api"
    assert store.get_tour(tours["a"])["booked"] == 2
    assert staff.list_audit()[0]["actor"] == "api:operator-system"

    listed = client.get(f"/api/v1/bookings?tour_id={tours['a']}", headers=headers).get_json()
    assert [b["code"] for b in listed["bookings"]] == [booking["code"]]
    found = client.get("/api/v1/bookings?q=crm", headers=headers).get_json()
    assert found["bookings"][0]["code"] == booking["code"]
    assert client.get(f"/api/v1/bookings/{booking['code']}", headers=headers).status_code == 200

    response = client.delete(f"/api/v1/bookings/{booking['code']}", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert store.get_tour(tours["a"])["booked"] == 0
    assert client.delete(f"/api/v1/bookings/{booking['code']}", headers=headers).status_code == 404


def test_api_booking_full_tour_409(client, tokens, tours, store):
    response = client.post("/api/v1/bookings", headers=bearer(tokens["operator"]),
                           json={"tour_id": tours["b"], "places": 2, "name": "Лишний"})
    assert response.status_code == 409
    assert response.get_json()["places_left"] == 1
    assert store.get_tour(tours["b"])["booked"] == 1


def test_api_booking_closed_tour_409(client, tokens, tours):
    response = client.post("/api/v1/bookings", headers=bearer(tokens["operator"]),
                           json={"tour_id": tours["c"], "places": 1, "name": "X"})
    assert response.status_code == 409


def test_api_booking_invalid_fields_422(client, tokens, tours):
    response = client.post("/api/v1/bookings", headers=bearer(tokens["operator"]),
                           json={"tour_id": "1", "places": 0, "name": "", "phone": "abc"})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"tour_id", "places", "name", "phone"}


def test_api_booking_not_json_400(client, tokens):
    response = client.post("/api/v1/bookings", headers=bearer(tokens["operator"]), data="x")
    assert response.status_code == 400


def test_api_booking_unknown_tour_404(client, tokens):
    response = client.post("/api/v1/bookings", headers=bearer(tokens["operator"]),
                           json={"tour_id": 999, "places": 1, "name": "X"})
    assert response.status_code == 404


def test_api_roles_enforced(client, tokens, tours):
    assert client.get("/api/v1/bookings", headers=bearer(tokens["editor"])).status_code == 403
    assert client.get("/api/v1/questions", headers=bearer(tokens["operator"])).status_code == 403
    response = client.post("/api/v1/bookings", headers=bearer(tokens["coordinator"]),
                           json={"tour_id": tours["a"], "places": 1, "name": "X"})
    assert response.status_code == 403


def test_api_list_questions(client, tokens, store):
    store.add_question(transcript="Когда открывается выставка?", tags="время", status="selected")
    store.add_question(transcript="Другое")
    data = client.get("/api/v1/questions?q=выставк", headers=bearer(tokens["editor"])).get_json()
    assert data["total"] == 1
    assert data["questions"][0]["tags"] == ["время"]
    data = client.get("/api/v1/questions?status=selected&limit=1",
                      headers=bearer(tokens["editor"])).get_json()
    assert len(data["questions"]) == 1
    assert client.get("/api/v1/questions/999", headers=bearer(tokens["editor"])).status_code == 404


def test_api_unknown_path_json_404(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_api_parallel_bookings_never_overbook(app, tokens, store):
    from concurrent.futures import ThreadPoolExecutor

    from .conftest import future

    tour_id = store.add_tour(future(30), 3, "Last places")

    def book(index):
        client = app.test_client()
        return client.post("/api/v1/bookings", headers=bearer(tokens["operator"]),
                           json={"tour_id": tour_id, "places": 1, "name": f"Guest {index}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(response.status_code for response in pool.map(book, range(8)))
    assert statuses == [201] * 3 + [409] * 5
    assert store.get_tour(tour_id)["booked"] == 3
