"""Tours and bookings pages: fill bars, booking for a caller, move, cancel,
search, the printable list, exports, and the audit log of each change."""

import csv
import io

from openpyxl import load_workbook

from .conftest import future


def audit_actions(staff):
    return [entry["action"] for entry in staff.list_audit()]


def test_tours_list_shows_fill(as_role, tours):
    html = as_role("operator").get("/tours").get_data(as_text=True)
    assert "Tour A" in html
    assert "занято 1 из 2, свободно 1" in html
    assert "закрыта" in html


def test_tours_list_filter_by_day(as_role, tours, store):
    other = store.add_tour(future(24 * 5), 3, "Later tour")
    day = store.get_tour(other)["starts_at"][:10]
    html = as_role("operator").get(f"/tours?day={day}").get_data(as_text=True)
    assert "Later tour" in html
    assert "Tour A" not in html


def test_tour_page_lists_bookings(as_role, tours):
    html = as_role("operator").get(f"/tours/{tours['b']}").get_data(as_text=True)
    assert "Мария Иванова" in html
    assert "+7 916 000-00-01" in html


def test_unknown_tour_is_404(as_role):
    assert as_role("operator").get("/tours/9999").status_code == 404
    assert as_role("coordinator").get("/tours/9999/edit").status_code == 404
    assert as_role("coordinator").post("/tours/9999/places", data={"places": 1}).status_code == 404


def test_book_for_caller(as_role, tours, store, staff):
    client = as_role("operator")
    response = client.post("/bookings/new", data={"tour_id": tours["a"], "places": 3,
                                                  "name": "Ольга Смирнова",
                                                  "phone": "+7 926 555-44-33"})
    assert response.status_code == 302

    bookings = store.list_bookings(tour_id=tours["a"])
    assert len(bookings) == 1
    assert bookings[0]["places"] == 3
    assert bookings[0]["source"] == "staff"
    assert store.get_tour(tours["a"])["booked"] == 3

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Бронь {bookings[0]['code']} создана" in page

    entry = staff.list_audit()[0]
    assert entry["action"] == "booking.created"
    assert entry["actor"] == "operator"
    assert entry["details"]["code"] == bookings[0]["code"]
    assert "phone" not in entry["details"]


def test_book_too_many_places_changes_nothing(as_role, tours, store, staff):
    response = as_role("operator").post("/bookings/new", data={
        "tour_id": tours["b"], "places": 2, "name": "Лишний"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "осталось мест: 1, а запрошено: 2" in html
    assert "Ничего не изменено" in html
    assert store.get_tour(tours["b"])["booked"] == 1
    assert len(store.list_bookings(tour_id=tours["b"])) == 1
    assert "booking.created" not in audit_actions(staff)


def test_book_closed_tour_rejected(as_role, tours, store):
    response = as_role("operator").post("/bookings/new", data={
        "tour_id": tours["c"], "places": 1, "name": "Кто-то"})
    assert response.status_code == 400
    assert store.get_tour(tours["c"])["booked"] == 0


def test_book_form_errors_in_russian(as_role, tours):
    response = as_role("operator").post("/bookings/new", data={
        "tour_id": tours["a"], "places": 0, "name": "", "phone": "abc"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Введите число от 1 до 50." in html
    assert "Введите имя абонента." in html
    assert "Используйте цифры, пробелы, + или -" in html


def test_book_form_errors_in_english(as_role, tours):
    client = as_role("operator")
    client.post("/language", data={"lang": "en"})
    html = client.post("/bookings/new", data={"tour_id": tours["a"], "places": 0,
                                              "name": ""}).get_data(as_text=True)
    assert "Enter a number from 1 to 50." in html
    # Flask-Babel's lazy strings are marked safe HTML, so the apostrophe is not escaped.
    assert "Enter the caller's name." in html


def test_move_booking(as_role, tours, store, staff):
    booking = store.book(tours["a"], 2, name="Анна")
    response = as_role("operator").post(f"/bookings/{booking['id']}/move",
                                        data={"tour_id": tours["b"], "places": 1})
    assert response.status_code == 302
    assert store.get_booking(booking["id"])["tour_id"] == tours["b"]
    assert store.get_tour(tours["a"])["booked"] == 0
    assert store.get_tour(tours["b"])["booked"] == 2
    entry = staff.list_audit()[0]
    assert entry["action"] == "booking.moved"
    assert entry["details"]["from_tour_id"] == tours["a"]
    assert entry["details"]["to_tour_id"] == tours["b"]


def test_move_that_would_overbook_changes_nothing(as_role, tours, store, staff):
    booking = store.book(tours["a"], 2, name="Анна")
    response = as_role("operator").post(f"/bookings/{booking['id']}/move",
                                        data={"tour_id": tours["b"], "places": 2})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "осталось мест: 1, а запрошено: 2" in html
    assert store.get_booking(booking["id"])["tour_id"] == tours["a"]
    assert store.get_booking(booking["id"])["places"] == 2
    assert store.get_tour(tours["a"])["booked"] == 2
    assert store.get_tour(tours["b"])["booked"] == 1
    assert "booking.moved" not in audit_actions(staff)


def test_cancel_booking(as_role, tours, store, staff):
    booking = store.book(tours["a"], 4, name="Борис")
    client = as_role("operator")
    response = client.post(f"/bookings/{booking['id']}/cancel")
    assert response.status_code == 302
    assert store.get_booking(booking["id"])["status"] == "cancelled"
    assert store.get_tour(tours["a"])["booked"] == 0
    assert staff.list_audit()[0]["action"] == "booking.cancelled"

    again = client.post(f"/bookings/{booking['id']}/cancel", follow_redirects=True)
    assert "Бронь уже отменена." in again.get_data(as_text=True)


def test_unknown_booking_is_404(as_role):
    client = as_role("operator")
    assert client.get("/bookings/9999").status_code == 404
    assert client.post("/bookings/9999/cancel").status_code == 404
    assert client.post("/bookings/9999/move", data={"tour_id": 1, "places": 1}).status_code == 404


def test_search_by_name_phone_and_code(as_role, tours, store):
    booking = store.book(tours["a"], 1, name="Григорий Тихонов", phone="+7 (903) 777-88-99")
    client = as_role("operator")
    for query in ("тихонов", "ГРИГОРИЙ", "89037778899", "777-88", booking["code"]):
        html = client.get("/bookings", query_string={"q": query}).get_data(as_text=True)
        assert "Григорий Тихонов" in html, query
        assert "Мария Иванова" not in html, query


def test_search_hides_cancelled_unless_asked(as_role, tours, store):
    booking = store.book(tours["a"], 1, name="Отменённый Гость")
    store.cancel_booking(booking["id"])
    client = as_role("operator")
    assert "Отменённый Гость" not in client.get("/bookings?q=гость").get_data(as_text=True)
    html = client.get("/bookings?q=гость&cancelled=y").get_data(as_text=True)
    assert "Отменённый Гость" in html


def test_search_special_characters_are_literal(as_role, tours):
    html = as_role("operator").get("/bookings?q=%25").get_data(as_text=True)
    assert "Мария Иванова" not in html


def test_print_list(as_role, tours):
    html = as_role("coordinator").get(f"/tours/{tours['b']}/print").get_data(as_text=True)
    assert "Список гостей" in html
    assert "Мария Иванова" in html


def test_export_csv_contents(as_role, tours, store):
    store.book(tours["a"], 2, name="=HYPERLINK(\"x\")", phone="+79990001122")
    response = as_role("coordinator").get(f"/bookings/export.csv?tour_id={tours['a']}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Код", "Начало экскурсии", "Экскурсия", "Места"]
    assert len(rows) == 2
    assert rows[1][3] == "2"
    assert rows[1][4] == "'=HYPERLINK(\"x\")"
    assert rows[1][5] == "+79990001122"


def test_export_xlsx_contents(as_role, tours):
    response = as_role("operator").get("/bookings/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][4] == "Имя"
    assert rows[1][4] == "Мария Иванова"
    assert len(rows) == 2


def test_export_unknown_format_404(as_role):
    assert as_role("operator").get("/bookings/export.pdf").status_code == 404


def test_add_tour(as_role, store, staff):
    response = as_role("coordinator").post("/tours/new", data={
        "day": "2031-05-20", "time": "11:30", "title": "Вечерняя", "capacity": 8,
        "status": "open"})
    assert response.status_code == 302
    tour = store.list_tours()[-1]
    assert tour["starts_at"] == "2031-05-20T11:30"
    assert tour["capacity"] == 8
    assert staff.list_audit()[0]["action"] == "tour.created"


def test_add_tour_invalid_input(as_role, store):
    response = as_role("coordinator").post("/tours/new", data={
        "day": "not a date", "time": "", "capacity": -1, "status": "open"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Введите время начала." in html
    assert "Введите число от 0 до 1000." in html
    assert store.list_tours() == []


def test_edit_tour_capacity_below_booked(as_role, tours, store):
    tour = store.get_tour(tours["b"])
    response = as_role("coordinator").post(f"/tours/{tours['b']}/edit", data={
        "day": tour["starts_at"][:10], "time": tour["starts_at"][11:], "title": "Tour B",
        "capacity": 0, "status": "open"})
    assert response.status_code == 409
    assert "Уже забронировано мест: 1" in response.get_data(as_text=True)
    assert store.get_tour(tours["b"])["capacity"] == 2


def test_edit_tour_audited(as_role, tours, store, staff):
    tour = store.get_tour(tours["a"])
    as_role("coordinator").post(f"/tours/{tours['a']}/edit", data={
        "day": tour["starts_at"][:10], "time": tour["starts_at"][11:], "title": "Новое имя",
        "capacity": 12, "status": "open"})
    assert store.get_tour(tours["a"])["title"] == "Новое имя"
    entry = staff.list_audit()[0]
    assert entry["action"] == "tour.edited"
    assert entry["details"]["before"]["capacity"] == 10
    assert entry["details"]["after"]["capacity"] == 12


def test_close_and_add_places(as_role, tours, store, staff):
    client = as_role("coordinator")
    client.post(f"/tours/{tours['a']}/status", data={"status": "closed"})
    assert store.get_tour(tours["a"])["status"] == "closed"
    client.post(f"/tours/{tours['b']}/places", data={"places": 3})
    assert store.get_tour(tours["b"])["capacity"] == 5
    assert audit_actions(staff)[:2] == ["tour.places_added", "tour.status_changed"]


def test_add_places_invalid(as_role, tours, store):
    response = as_role("coordinator").post(f"/tours/{tours['b']}/places", data={"places": 0},
                                           follow_redirects=True)
    assert "Добавить мест: Введите число от 1 до 1000." in response.get_data(as_text=True)
    assert store.get_tour(tours["b"])["capacity"] == 2


def test_info_logs_carry_no_personal_data(as_role, tours, caplog):
    caplog.set_level("INFO")
    client = as_role("operator")
    client.post("/bookings/new", data={"tour_id": tours["a"], "places": 1,
                                       "name": "Секретное Имя", "phone": "+7 999 888-77-66"})
    client.get("/bookings?q=888-77-66")
    assert "booking created" in caplog.text
    assert "Секретное Имя" not in caplog.text
    assert "888-77-66" not in caplog.text
