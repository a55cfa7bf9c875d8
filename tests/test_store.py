import multiprocessing
import sqlite3
from datetime import date, datetime

import pytest

from ivr.store import (BookingNotFound, Store, TourClosed, TourFull, TourNotFound,
                       schedule_tours)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "ivr.sqlite3")


def test_book_takes_places_and_returns_code(store):
    tour_id = store.add_tour("2099-05-01T10:00", 5)
    booking = store.book(tour_id, 2, name="Анна", phone="79001112233")
    assert len(booking["code"]) == 6
    assert booking["code"].isdigit()
    assert store.get_tour(tour_id)["places_left"] == 3


def test_book_persists_after_reopen(store, tmp_path):
    tour_id = store.add_tour("2099-05-01T10:00", 5)
    code = store.book(tour_id, 1)["code"]
    store.close()
    reopened = Store(tmp_path / "ivr.sqlite3")
    assert reopened.find_booking_by_code(code)["tour_id"] == tour_id


def test_book_beyond_capacity_changes_nothing(store):
    tour_id = store.add_tour("2099-05-01T10:00", 3)
    store.book(tour_id, 2)
    with pytest.raises(TourFull) as error:
        store.book(tour_id, 2)
    assert error.value.places_left == 1
    assert store.get_tour(tour_id)["booked"] == 2
    assert len(store.list_bookings(tour_id)) == 1


def test_book_closed_and_unknown_tour(store):
    tour_id = store.add_tour("2099-05-01T10:00", 3)
    store.update_tour(tour_id, status="closed")
    with pytest.raises(TourClosed):
        store.book(tour_id, 1)
    with pytest.raises(TourNotFound):
        store.book(9999, 1)


def test_cancel_frees_places(store):
    tour_id = store.add_tour("2099-05-01T10:00", 2)
    booking = store.book(tour_id, 2)
    store.cancel_booking(booking["id"])
    assert store.get_tour(tour_id)["places_left"] == 2
    assert store.find_booking_by_code(booking["code"]) is None
    with pytest.raises(BookingNotFound):
        store.cancel_booking(booking["id"])


def test_move_that_would_overbook_changes_nothing(store):
    first = store.add_tour("2099-05-01T10:00", 5)
    second = store.add_tour("2099-05-01T11:00", 2)
    booking = store.book(first, 3)
    with pytest.raises(TourFull):
        store.move_booking(booking["id"], second)
    assert store.get_tour(first)["booked"] == 3
    assert store.get_tour(second)["booked"] == 0
    assert store.get_booking(booking["id"])["tour_id"] == first


def test_move_within_capacity(store):
    first = store.add_tour("2099-05-01T10:00", 5)
    second = store.add_tour("2099-05-01T11:00", 5)
    booking = store.book(first, 3)
    store.move_booking(booking["id"], second)
    assert store.get_tour(first)["booked"] == 0
    assert store.get_tour(second)["booked"] == 3


def test_capacity_below_booked_rejected(store):
    tour_id = store.add_tour("2099-05-01T10:00", 5)
    store.book(tour_id, 4)
    with pytest.raises(TourFull):
        store.update_tour(tour_id, capacity=3)
    assert store.get_tour(tour_id)["capacity"] == 5


def test_tours_with_room_nearest_first(store):
    later = store.add_tour("2099-05-02T10:00", 5)
    full = store.add_tour("2099-05-01T11:00", 1)
    sooner = store.add_tour("2099-05-01T12:00", 5)
    store.add_tour("2000-01-01T10:00", 5)
    store.book(full, 1)
    tours = store.tours_with_room(datetime(2099, 4, 30))
    assert [t["id"] for t in tours] == [sooner, later]
    assert [t["id"] for t in store.tours_with_room(datetime(2099, 4, 30),
                                                   day=date(2099, 5, 2))] == [later]


def test_schedule_expands_days_and_hours():
    tours = schedule_tours({"title": "LiveDEMO", "capacity": 10, "days": ["today+1", "2099-01-02"],
                            "first": "10:00", "last": "17:00", "every_minutes": 60},
                           today=date(2099, 1, 1))
    assert len(tours) == 16
    assert tours[0]["starts_at"] == "2099-01-02T10:00"
    assert tours[-1]["starts_at"] == "2099-01-02T17:00"
    assert all(t["capacity"] == 10 for t in tours)


def test_load_schedule_only_into_empty_database(store, tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text('{"capacity": 4, "tours": [{"starts_at": "2099-01-01T10:00"}]}')
    assert store.load_schedule(path) == 1
    assert store.load_schedule(path) == 0
    assert store.list_tours()[0]["capacity"] == 4


def _race_worker(path, tour_id, start, results):
    store = Store(path)
    start.wait()
    try:
        store.book(tour_id, 1, phone="race")
        results.put("booked")
    except TourFull:
        results.put("full")


def test_race_for_last_places_never_overbooks(tmp_path):
    path = tmp_path / "race.sqlite3"
    store = Store(path)
    tour_id = store.add_tour("2099-05-01T10:00", 10)
    store.book(tour_id, 7)                      # three places left
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    workers = [context.Process(target=_race_worker, args=(path, tour_id, start, results))
               for _ in range(16)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    outcomes = [results.get(timeout=10) for _ in workers]
    assert outcomes.count("booked") == 3
    assert outcomes.count("full") == 13
    with sqlite3.connect(path) as conn:
        booked = conn.execute("SELECT booked, capacity FROM tours WHERE id = ?",
                              (tour_id,)).fetchone()
        places = conn.execute("SELECT sum(places) FROM bookings WHERE tour_id = ? "
                              "AND status = 'active'", (tour_id,)).fetchone()[0]
    assert booked == (10, 10)
    assert places == 10
