"""SQLite store of tours, bookings, questions, calls and their turns.

Every part of the product (the phone dialogs, the staff web page, the JSON API)
reads and writes through this module, so moving the data to another database is
a change here only.

Taking places is one conditional UPDATE inside a write-locking transaction
(BEGIN IMMEDIATE). The UPDATE adds the places only while they still fit the
tour's capacity, so two callers in any processes or threads sharing the file
cannot both take the last place. The file runs in WAL mode with a busy timeout so
that readers do not block the writer.

Times are local wall-clock times stored as ISO 8601 text without a zone
("2026-12-10T10:00"), because the line serves one site in one time zone.
"""

import json
import logging
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path

import sqlite_utils

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30
CODE_DIGITS = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS tours (
    id INTEGER PRIMARY KEY,
    starts_at TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed'))
);
CREATE INDEX IF NOT EXISTS tours_starts_at ON tours (starts_at);
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    tour_id INTEGER NOT NULL REFERENCES tours (id),
    places INTEGER NOT NULL CHECK (places > 0),
    name TEXT NOT NULL DEFAULT '',
    name_recording TEXT,
    phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    source TEXT NOT NULL DEFAULT 'phone',
    call_id TEXT,
    created_at TEXT NOT NULL,
    cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS bookings_phone ON bookings (phone);
CREATE INDEX IF NOT EXISTS bookings_tour ON bookings (tour_id);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    call_id TEXT,
    phone TEXT NOT NULL DEFAULT '',
    recording TEXT,
    duration_seconds REAL NOT NULL DEFAULT 0,
    ended_by TEXT NOT NULL DEFAULT '',
    transcript TEXT NOT NULL DEFAULT '',
    age_group TEXT NOT NULL DEFAULT '',
    social_status TEXT NOT NULL DEFAULT '',
    occupation TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'new',
    tags TEXT NOT NULL DEFAULT '',
    assigned_to TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    lang TEXT NOT NULL,
    caller_id TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at TEXT,
    current_turn TEXT NOT NULL DEFAULT '',
    outcome TEXT,
    outcome_reason TEXT NOT NULL DEFAULT '',
    booking_code TEXT,
    question_id INTEGER
);
CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id),
    seq INTEGER NOT NULL,
    field TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL,
    heard TEXT NOT NULL DEFAULT '',
    meaning TEXT NOT NULL DEFAULT '',
    confidence REAL,
    keys TEXT NOT NULL DEFAULT '',
    barge_in INTEGER NOT NULL DEFAULT 0,
    recognition_ms REAL,
    started_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_call ON turns (call_id, seq);
"""

# Outcomes of a call, as stored in calls.outcome.
OUTCOMES = ("booked", "cancelled", "checked", "question_recorded", "transferred",
            "abandoned", "failed")


class StoreError(Exception):
    """Base class of the errors a booking operation reports to its caller."""


class TourNotFound(StoreError):
    """No tour has the given id."""


class TourClosed(StoreError):
    """The tour is closed to new bookings."""


class TourFull(StoreError):
    """The tour has fewer free places than requested; `places_left` is the number it has."""

    def __init__(self, message, places_left):
        super().__init__(message)
        self.places_left = places_left


class BookingNotFound(StoreError):
    """No active booking has the given code or id."""


def now_iso():
    return datetime.now().isoformat(timespec="seconds")


class Store:
    """Access to one SQLite file; safe to share between threads of a process.

    Each thread gets its own connection. Autocommit mode is used so that the
    transactions below are exactly the BEGIN/COMMIT pairs written here.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    def connect(self):
        """Return this thread's connection, opening it on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @property
    def db(self):
        """This thread's connection wrapped by sqlite-utils, for simple reads and inserts."""
        return sqlite_utils.Database(self.connect())

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self):
        """Run the block in a write-locking transaction; roll back if it raises."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # Tours

    def add_tour(self, starts_at, capacity, title=""):
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO tours (starts_at, title, capacity) VALUES (?, ?, ?)",
                (_iso_minutes(starts_at), title, int(capacity)))
            return cursor.lastrowid

    def get_tour(self, tour_id):
        row = self.connect().execute("SELECT * FROM tours WHERE id = ?", (tour_id,)).fetchone()
        if row is None:
            raise TourNotFound(f"tour {tour_id} not found")
        return _tour_dict(row)

    def list_tours(self):
        rows = self.connect().execute("SELECT * FROM tours ORDER BY starts_at, id")
        return [_tour_dict(row) for row in rows]

    def tours_with_room(self, now=None, places=1, day=None):
        """Return open future tours with at least `places` free places, nearest first.

        `day` (a date) limits the result to one day.
        """
        now = now or datetime.now()
        sql = ("SELECT * FROM tours WHERE status = 'open' AND capacity - booked >= ? "
               "AND starts_at > ?")
        params = [places, now.isoformat(timespec="minutes")]
        if day is not None:
            sql += " AND substr(starts_at, 1, 10) = ?"
            params.append(day.isoformat())
        sql += " ORDER BY starts_at, id"
        return [_tour_dict(row) for row in self.connect().execute(sql, params)]

    def update_tour(self, tour_id, starts_at=None, title=None, capacity=None, status=None):
        """Change a tour. A capacity below the places already booked raises TourFull."""
        with self.transaction() as conn:
            tour = conn.execute("SELECT * FROM tours WHERE id = ?", (tour_id,)).fetchone()
            if tour is None:
                raise TourNotFound(f"tour {tour_id} not found")
            if capacity is not None and int(capacity) < tour["booked"]:
                raise TourFull(f"tour {tour_id} already has {tour['booked']} places booked; "
                               f"capacity {capacity} is too small", 0)
            if status is not None and status not in ("open", "closed"):
                raise StoreError(f"tour status {status!r} is invalid; use open or closed")
            conn.execute(
                "UPDATE tours SET starts_at = coalesce(?, starts_at), "
                "title = coalesce(?, title), capacity = coalesce(?, capacity), "
                "status = coalesce(?, status) WHERE id = ?",
                (_iso_minutes(starts_at) if starts_at else None, title,
                 int(capacity) if capacity is not None else None, status, tour_id))

    def load_schedule(self, path, today=None):
        """Add the tours of a schedule file when the database has none yet.

        Returns the number of tours added. The file format is described in
        docs/schedule.md.
        """
        count = self.connect().execute("SELECT count(*) FROM tours").fetchone()[0]
        if count:
            return 0
        tours = schedule_tours(json.loads(Path(path).read_text(encoding="utf-8")), today)
        with self.transaction() as conn:
            conn.executemany("INSERT INTO tours (starts_at, title, capacity) VALUES (?, ?, ?)",
                             [(t["starts_at"], t["title"], t["capacity"]) for t in tours])
        logger.info("schedule loaded: %d tours from %s", len(tours), path)
        return len(tours)

    # Bookings

    def book(self, tour_id, places, name="", phone="", source="phone", call_id=None,
             name_recording=None):
        """Take `places` places on a tour and return the new booking as a dict.

        Raises TourNotFound, TourClosed, or TourFull (with the places left) and
        then changes nothing.
        """
        places = int(places)
        if places < 1:
            raise StoreError(f"places must be 1 or more, got {places}")
        with self.transaction() as conn:
            _take_places(conn, tour_id, places)
            code = _new_code(conn)
            cursor = conn.execute(
                "INSERT INTO bookings (code, tour_id, places, name, name_recording, phone, "
                "source, call_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (code, tour_id, places, name, name_recording, phone, source, call_id,
                 now_iso()))
            booking_id = cursor.lastrowid
        return self.get_booking(booking_id)

    def get_booking(self, booking_id):
        row = self.connect().execute(_BOOKING_SELECT + " WHERE b.id = ?", (booking_id,)).fetchone()
        if row is None:
            raise BookingNotFound(f"booking {booking_id} not found")
        return dict(row)

    def find_booking_by_code(self, code):
        """Return the active booking with this code, or None."""
        row = self.connect().execute(
            _BOOKING_SELECT + " WHERE b.code = ? AND b.status = 'active'", (str(code),)).fetchone()
        return dict(row) if row else None

    def find_bookings_by_phone(self, phone, now=None):
        """Return active bookings made from this phone number for tours not yet started."""
        if not phone:
            return []
        now = now or datetime.now()
        rows = self.connect().execute(
            _BOOKING_SELECT + " WHERE b.phone = ? AND b.status = 'active' AND t.starts_at > ? "
            "ORDER BY t.starts_at", (phone, now.isoformat(timespec="minutes")))
        return [dict(row) for row in rows]

    def list_bookings(self, tour_id=None, status="active"):
        sql = _BOOKING_SELECT + " WHERE 1 = 1"
        params = []
        if tour_id is not None:
            sql += " AND b.tour_id = ?"
            params.append(tour_id)
        if status is not None:
            sql += " AND b.status = ?"
            params.append(status)
        sql += " ORDER BY t.starts_at, b.id"
        return [dict(row) for row in self.connect().execute(sql, params)]

    def cancel_booking(self, booking_id):
        """Cancel an active booking and free its places. Raises BookingNotFound."""
        with self.transaction() as conn:
            booking = conn.execute("SELECT * FROM bookings WHERE id = ? AND status = 'active'",
                                   (booking_id,)).fetchone()
            if booking is None:
                raise BookingNotFound(f"active booking {booking_id} not found")
            conn.execute("UPDATE bookings SET status = 'cancelled', cancelled_at = ? WHERE id = ?",
                         (now_iso(), booking_id))
            conn.execute("UPDATE tours SET booked = booked - ? WHERE id = ?",
                         (booking["places"], booking["tour_id"]))
        return self.get_booking(booking_id)

    def move_booking(self, booking_id, tour_id, places=None):
        """Move an active booking to another tour (and optionally change its places).

        The places on the new tour are taken by the same conditional update as a
        new booking. When they do not fit, TourFull is raised and nothing changes.
        """
        with self.transaction() as conn:
            booking = conn.execute("SELECT * FROM bookings WHERE id = ? AND status = 'active'",
                                   (booking_id,)).fetchone()
            if booking is None:
                raise BookingNotFound(f"active booking {booking_id} not found")
            new_places = int(places) if places is not None else booking["places"]
            if new_places < 1:
                raise StoreError(f"places must be 1 or more, got {new_places}")
            conn.execute("UPDATE tours SET booked = booked - ? WHERE id = ?",
                         (booking["places"], booking["tour_id"]))
            _take_places(conn, tour_id, new_places)
            conn.execute("UPDATE bookings SET tour_id = ?, places = ? WHERE id = ?",
                         (tour_id, new_places, booking_id))
        return self.get_booking(booking_id)

    # Questions

    def add_question(self, **fields):
        fields.setdefault("created_at", now_iso())
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        with self.transaction() as conn:
            cursor = conn.execute(f"INSERT INTO questions ({columns}) VALUES ({marks})",
                                  list(fields.values()))
            return cursor.lastrowid

    def update_question(self, question_id, **fields):
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE questions SET {assignments} WHERE id = ?",
                         [*fields.values(), question_id])

    def get_question(self, question_id):
        row = self.connect().execute("SELECT * FROM questions WHERE id = ?",
                                     (question_id,)).fetchone()
        return dict(row) if row else None

    # Calls and turns

    def start_call(self, call_id, channel, lang, caller_id=""):
        with self.transaction() as conn:
            conn.execute("INSERT INTO calls (id, channel, lang, caller_id, started_at) "
                         "VALUES (?, ?, ?, ?, ?)", (call_id, channel, lang, caller_id or "",
                                                    now_iso()))

    def set_current_turn(self, call_id, field):
        with self.transaction() as conn:
            conn.execute("UPDATE calls SET current_turn = ? WHERE id = ?", (field, call_id))

    def add_turn(self, call_id, **fields):
        fields.setdefault("started_at", now_iso())
        with self.transaction() as conn:
            seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE call_id = ?",
                               (call_id,)).fetchone()[0]
            columns = ", ".join(["call_id", "seq", *fields])
            marks = ", ".join("?" for _ in range(len(fields) + 2))
            conn.execute(f"INSERT INTO turns ({columns}) VALUES ({marks})",
                         [call_id, seq, *fields.values()])

    def end_call(self, call_id, outcome, reason="", booking_code=None, question_id=None):
        if outcome not in OUTCOMES:
            raise ValueError(f"call outcome {outcome!r} is not one of {OUTCOMES}")
        with self.transaction() as conn:
            conn.execute("UPDATE calls SET ended_at = ?, outcome = ?, outcome_reason = ?, "
                         "booking_code = ?, question_id = ?, current_turn = '' WHERE id = ?",
                         (now_iso(), outcome, reason, booking_code, question_id, call_id))

    def get_call(self, call_id):
        row = self.connect().execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        return dict(row) if row else None

    def get_turns(self, call_id):
        rows = self.connect().execute("SELECT * FROM turns WHERE call_id = ? ORDER BY seq",
                                      (call_id,))
        return [dict(row) for row in rows]


_BOOKING_SELECT = ("SELECT b.*, t.starts_at AS tour_starts_at, t.title AS tour_title "
                   "FROM bookings b JOIN tours t ON t.id = b.tour_id")


def _take_places(conn, tour_id, places):
    """Add places to a tour's booked count inside the caller's transaction, or raise."""
    cursor = conn.execute(
        "UPDATE tours SET booked = booked + ? "
        "WHERE id = ? AND status = 'open' AND booked + ? <= capacity",
        (places, tour_id, places))
    if cursor.rowcount == 1:
        return
    tour = conn.execute("SELECT * FROM tours WHERE id = ?", (tour_id,)).fetchone()
    if tour is None:
        raise TourNotFound(f"tour {tour_id} not found")
    if tour["status"] != "open":
        raise TourClosed(f"tour {tour_id} is closed to new bookings")
    left = tour["capacity"] - tour["booked"]
    raise TourFull(f"tour {tour_id} has {left} places left, {places} requested", left)


def _new_code(conn):
    """Return a booking code no booking has used yet (cancelled ones included)."""
    while True:
        code = str(secrets.randbelow(9 * 10 ** (CODE_DIGITS - 1)) + 10 ** (CODE_DIGITS - 1))
        if conn.execute("SELECT 1 FROM bookings WHERE code = ?", (code,)).fetchone() is None:
            return code


def _tour_dict(row):
    tour = dict(row)
    tour["places_left"] = max(0, tour["capacity"] - tour["booked"])
    return tour


def _iso_minutes(value):
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return datetime.fromisoformat(str(value)).isoformat(timespec="minutes")


def schedule_tours(schedule, today=None):
    """Expand a schedule document into a list of tours (dicts, nearest first).

    A schedule has `title`, `capacity` and either `tours` (explicit
    `{"starts_at", "capacity"}` items) or `days` with `first`, `last` and
    `every_minutes`. A day may be an ISO date, or "today+N" for N days after
    the day the schedule is loaded (used by the default schedule).
    """
    today = today or date.today()
    title = schedule.get("title", "")
    capacity = int(schedule.get("capacity", 10))
    tours = []
    for item in schedule.get("tours", []):
        tours.append({"starts_at": _iso_minutes(item["starts_at"]),
                      "title": item.get("title", title),
                      "capacity": int(item.get("capacity", capacity))})
    if schedule.get("days"):
        first = time.fromisoformat(schedule.get("first", "10:00"))
        last = time.fromisoformat(schedule.get("last", "17:00"))
        step = timedelta(minutes=int(schedule.get("every_minutes", 60)))
        for day_text in schedule["days"]:
            day = _schedule_day(day_text, today)
            moment = datetime.combine(day, first)
            while moment.time() <= last and moment.date() == day:
                tours.append({"starts_at": moment.isoformat(timespec="minutes"),
                              "title": title, "capacity": capacity})
                moment += step
    return sorted(tours, key=lambda t: t["starts_at"])


def _schedule_day(text, today):
    if text.startswith("today+"):
        return today + timedelta(days=int(text[len("today+"):]))
    return date.fromisoformat(text)
