"""Tables and queries of the staff web page, on top of the shared Store.

The booking rules stay in ivr.store: this module never changes a tour's booked
count itself. It adds what only the staff page and the JSON API need:

- staff users with roles and Werkzeug scrypt password hashes;
- server-side login sessions, so that logout ends a session for good;
- failed login attempts, for the per-account rate limit;
- API tokens, stored as SHA-256 hashes;
- the audit log of every change a person or a token makes;
- an FTS5 index over question transcripts, kept current by triggers;
- searches and statistics over bookings, questions, calls and turns.

Times are local ISO 8601 text, as in ivr.store.
"""

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from ivr.store import now_iso

ROLES = ("admin", "coordinator", "operator", "editor", "supervisor")
QUESTION_STATUSES = ("new", "reviewed", "selected", "rejected")

# turns.event values of the two failure kinds, as the dialog engine (ivr.session) writes them.
NO_MATCH = "nomatch"
NO_INPUT = "noinput"

SCHEMA = """
CREATE TABLE IF NOT EXISTS staff_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staff_sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES staff_users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE VIRTUAL TABLE IF NOT EXISTS questions_fts USING fts5 (
    transcript, tags, content='questions', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS questions_fts_insert AFTER INSERT ON questions BEGIN
    INSERT INTO questions_fts (rowid, transcript, tags)
    VALUES (new.id, new.transcript, new.tags);
END;
CREATE TRIGGER IF NOT EXISTS questions_fts_delete AFTER DELETE ON questions BEGIN
    INSERT INTO questions_fts (questions_fts, rowid, transcript, tags)
    VALUES ('delete', old.id, old.transcript, old.tags);
END;
CREATE TRIGGER IF NOT EXISTS questions_fts_update AFTER UPDATE ON questions BEGIN
    INSERT INTO questions_fts (questions_fts, rowid, transcript, tags)
    VALUES ('delete', old.id, old.transcript, old.tags);
    INSERT INTO questions_fts (rowid, transcript, tags)
    VALUES (new.id, new.transcript, new.tags);
END;
"""


class StaffError(Exception):
    """Base class of the errors this module raises."""


class UserExists(StaffError):
    """A staff user with this username already exists."""


class UserNotFound(StaffError):
    """No staff user has the given id or username."""


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def split_roles(text):
    return [role for role in text.split(",") if role]


def _join_roles(roles):
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise StaffError(f"unknown roles {sorted(unknown)}; use some of {', '.join(ROLES)}")
    return ",".join(role for role in ROLES if role in roles)


def fts_query(text):
    """Turn free text into an FTS5 query: every word must occur, as a word prefix.

    Prefix matching replaces stemming, which FTS5 lacks for Russian, so the
    query "билет" finds "билеты" and "билетов". Quoting every word keeps FTS5
    operators and punctuation in the text from being parsed as query syntax.
    Returns None when the text has no words.
    """
    words = re.findall(r"\w+", text)
    if not words:
        return None
    return " ".join(f'"{word}"*' for word in words)


def phone_digits(text):
    return re.sub(r"\D", "", text or "")


class StaffStore:
    """The staff page's tables in the same SQLite file as a Store.

    Takes a Store and uses its per-thread connections and write transactions.
    Creating a StaffStore creates the tables and triggers when missing and
    indexes the questions already in the file.
    """

    def __init__(self, store):
        self.store = store
        conn = store.connect()
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO questions_fts (questions_fts) VALUES ('rebuild')")

    def connect(self):
        conn = self.store.connect()
        # SQLite's lower() and LIKE fold ASCII only; names are mostly Cyrillic.
        conn.create_function("casefold", 1, lambda s: s.casefold() if s else s,
                             deterministic=True)
        return conn

    def _rows(self, sql, params=()):
        return [dict(row) for row in self.connect().execute(sql, params)]

    # Users

    def add_user(self, username, password, roles, full_name=""):
        """Insert a staff user and return its id. Raises UserExists or StaffError."""
        username = username.strip()
        if not username:
            raise StaffError("username is empty")
        roles_text = _join_roles(roles)
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM staff_users WHERE username = ?",
                            (username,)).fetchone():
                raise UserExists(f"user {username!r} already exists")
            cursor = conn.execute(
                "INSERT INTO staff_users (username, full_name, password_hash, roles, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (username, full_name, generate_password_hash(password, method="scrypt"),
                 roles_text, now_iso()))
            return cursor.lastrowid

    def update_user(self, user_id, roles=None, active=None, full_name=None, password=None):
        """Change a user's roles, active flag, name or password. Raises UserNotFound."""
        self.get_user(user_id)
        with self.store.transaction() as conn:
            if roles is not None:
                conn.execute("UPDATE staff_users SET roles = ? WHERE id = ?",
                             (_join_roles(roles), user_id))
            if active is not None:
                conn.execute("UPDATE staff_users SET active = ? WHERE id = ?",
                             (1 if active else 0, user_id))
                if not active:
                    conn.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))
            if full_name is not None:
                conn.execute("UPDATE staff_users SET full_name = ? WHERE id = ?",
                             (full_name, user_id))
            if password is not None:
                conn.execute("UPDATE staff_users SET password_hash = ? WHERE id = ?",
                             (generate_password_hash(password, method="scrypt"), user_id))
                conn.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))

    def get_user(self, user_id):
        row = self.connect().execute("SELECT * FROM staff_users WHERE id = ?",
                                     (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(f"user {user_id} not found")
        return _user_dict(row)

    def list_users(self):
        return [_user_dict(row) for row in
                self.connect().execute("SELECT * FROM staff_users ORDER BY username")]

    def count_users(self):
        return self.connect().execute("SELECT count(*) FROM staff_users").fetchone()[0]

    def check_password(self, username, password):
        """Return the active user with this username and password, or None."""
        row = self.connect().execute("SELECT * FROM staff_users WHERE username = ?",
                                     (username,)).fetchone()
        if row is None or not row["active"]:
            # Spend the same time as a real check so that timing does not reveal names.
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(row["password_hash"], password):
            return None
        return _user_dict(row)

    # Login rate limit

    def recent_login_failures(self, username, window_seconds):
        since = (datetime.now() - timedelta(seconds=window_seconds)).isoformat(timespec="seconds")
        return self.connect().execute(
            "SELECT count(*) FROM login_failures WHERE username = ? AND at >= ?",
            (username.casefold(), since)).fetchone()[0]

    def add_login_failure(self, username):
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO login_failures (username, at) VALUES (?, ?)",
                         (username.casefold(), now_iso()))

    def clear_login_failures(self, username):
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE username = ?", (username.casefold(),))

    # Sessions

    def start_session(self, user_id, lifetime_seconds):
        """Insert a new session for the user and return its random id."""
        session_id = secrets.token_urlsafe(32)
        now = datetime.now()
        expires = now + timedelta(seconds=lifetime_seconds)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?",
                         (now.isoformat(timespec="seconds"),))
            conn.execute("INSERT INTO staff_sessions (id, user_id, created_at, expires_at) "
                         "VALUES (?, ?, ?, ?)",
                         (session_id, user_id, now.isoformat(timespec="seconds"),
                          expires.isoformat(timespec="seconds")))
        return session_id

    def session_user(self, session_id):
        """Return the active user of an unexpired session, or None."""
        row = self.connect().execute(
            "SELECT u.* FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id "
            "WHERE s.id = ? AND s.expires_at >= ? AND u.active = 1",
            (session_id, now_iso())).fetchone()
        return _user_dict(row) if row else None

    def end_session(self, session_id):
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM staff_sessions WHERE id = ?", (session_id,))

    # API tokens

    def add_token(self, name, roles):
        """Create an API token and return (id, token). Only the hash is stored."""
        token = secrets.token_urlsafe(32)
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO api_tokens (name, token_hash, roles, created_at) VALUES (?, ?, ?, ?)",
                (name, hash_token(token), _join_roles(roles), now_iso()))
            return cursor.lastrowid, token

    def token_owner(self, token):
        """Return the unrevoked token row matching this secret, or None."""
        row = self.connect().execute(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (hash_token(token),)).fetchone()
        return _user_dict(row) if row else None

    def list_tokens(self):
        return [_user_dict(row) for row in
                self.connect().execute("SELECT * FROM api_tokens ORDER BY id")]

    def revoke_token(self, token_id):
        """Revoke a token. Returns False when no unrevoked token has this id."""
        with self.store.transaction() as conn:
            cursor = conn.execute("UPDATE api_tokens SET revoked_at = ? "
                                  "WHERE id = ? AND revoked_at IS NULL", (now_iso(), token_id))
            return cursor.rowcount == 1

    # Audit log

    def audit(self, actor, action, target="", **details):
        """Append one entry to the audit log: who (`actor`), what, on which target."""
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO audit_log (at, actor, action, target, details) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (now_iso(), actor, action, str(target),
                          json.dumps(details, ensure_ascii=False, default=str)))

    def list_audit(self, actor=None, action=None, limit=200, offset=0):
        sql = "SELECT * FROM audit_log WHERE 1 = 1"
        params = []
        if actor:
            sql += " AND actor = ?"
            params.append(actor)
        if action:
            sql += " AND action = ?"
            params.append(action)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        rows = self._rows(sql, params)
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows

    # Tours

    def add_places(self, tour_id, places):
        """Raise a tour's capacity by `places` (1 or more) in one UPDATE.

        Raising capacity can never overbook a tour, so this does not go through
        Store.update_tour's read-then-write; two coordinators adding places at
        the same moment both count. Returns False when no tour has this id.
        """
        places = int(places)
        if places < 1:
            raise StaffError(f"places to add must be 1 or more, got {places}")
        with self.store.transaction() as conn:
            cursor = conn.execute("UPDATE tours SET capacity = capacity + ? WHERE id = ?",
                                  (places, tour_id))
            return cursor.rowcount == 1

    # Bookings

    def search_bookings(self, text, include_cancelled=False, limit=100):
        """Find bookings whose code, caller name or phone number matches `text`.

        A phone number matches on its digits, and on the last ten digits when the
        query has ten or more, so "8 916 123-45-67" finds "+79161234567".
        """
        text = text.strip()
        if not text:
            return []
        digits = phone_digits(text)
        clauses = ["b.code = ?", "casefold(b.name) LIKE ? ESCAPE '\\'"]
        params = [text, "%" + _like_escape(text.casefold()) + "%"]
        if len(digits) >= 10:
            clauses.append(_PHONE_DIGITS_SQL + " LIKE ?")
            params.append("%" + digits[-10:])
        elif len(digits) >= 3:
            clauses.append(_PHONE_DIGITS_SQL + " LIKE ?")
            params.append("%" + digits + "%")
        sql = _BOOKING_SELECT + " WHERE (" + " OR ".join(clauses) + ")"
        if not include_cancelled:
            sql += " AND b.status = 'active'"
        sql += " ORDER BY t.starts_at, b.id LIMIT ?"
        params.append(limit)
        return self._rows(sql, params)

    # Questions

    def search_questions(self, text="", status=None, tag=None, assigned_to=None,
                         limit=50, offset=0):
        """Return (questions, total) matching every given filter, newest first.

        `text` searches transcripts and tags through FTS5 (see fts_query).
        """
        sql = "FROM questions q WHERE 1 = 1"
        params = []
        match = fts_query(text or "")
        if match:
            sql += " AND q.id IN (SELECT rowid FROM questions_fts WHERE questions_fts MATCH ?)"
            params.append(match)
        if status:
            sql += " AND q.status = ?"
            params.append(status)
        if tag:
            sql += " AND (',' || q.tags || ',') LIKE ? ESCAPE '\\'"
            params.append("%," + _like_escape(tag.strip()) + ",%")
        if assigned_to is not None:
            sql += " AND q.assigned_to = ?"
            params.append(assigned_to)
        total = self.connect().execute("SELECT count(*) " + sql, params).fetchone()[0]
        rows = self._rows("SELECT q.* " + sql + " ORDER BY q.created_at DESC, q.id DESC "
                          "LIMIT ? OFFSET ?", [*params, limit, offset])
        return rows, total

    def get_questions(self, ids):
        ids = [int(i) for i in ids]
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        return self._rows(f"SELECT * FROM questions WHERE id IN ({marks}) ORDER BY id", ids)

    def question_tags(self):
        tags = set()
        for row in self.connect().execute("SELECT DISTINCT tags FROM questions WHERE tags != ''"):
            tags.update(tag for tag in row["tags"].split(",") if tag)
        return sorted(tags)

    # Calls

    def list_calls(self, day=None, outcome=None, limit=50, offset=0):
        """Return (calls, total), newest first; `day` is a date, `outcome` a calls.outcome."""
        sql = "FROM calls WHERE 1 = 1"
        params = []
        if day is not None:
            sql += " AND substr(started_at, 1, 10) = ?"
            params.append(day.isoformat())
        if outcome:
            sql += " AND outcome = ?"
            params.append(outcome)
        total = self.connect().execute("SELECT count(*) " + sql, params).fetchone()[0]
        rows = self._rows("SELECT *, (SELECT count(*) FROM turns t WHERE t.call_id = calls.id) "
                          "AS turn_count " + sql + " ORDER BY started_at DESC, id LIMIT ? OFFSET ?",
                          [*params, limit, offset])
        return rows, total

    def live_calls(self):
        """Return the calls in progress (not ended yet), oldest first."""
        return self._rows("SELECT id, channel, lang, caller_id, started_at, current_turn "
                          "FROM calls WHERE ended_at IS NULL ORDER BY started_at, id")

    def call_stats(self, period="day", since=None, until=None):
        """Count calls and outcomes per day (`period="day"`) or per hour of a day.

        Returns a list of dicts with `period`, `calls`, `transfers`, `ended` and
        one count per outcome in ivr.store.OUTCOMES, oldest period first.
        """
        from ivr.store import OUTCOMES

        width = 10 if period == "day" else 13
        outcome_sums = ", ".join(f"sum(outcome = '{o}') AS {o}" for o in OUTCOMES)
        sql = (f"SELECT substr(started_at, 1, {width}) AS period, count(*) AS calls, "
               f"sum(ended_at IS NOT NULL) AS ended, {outcome_sums} FROM calls WHERE 1 = 1")
        params = []
        if since:
            sql += " AND started_at >= ?"
            params.append(since)
        if until:
            sql += " AND started_at < ?"
            params.append(until)
        sql += " GROUP BY period ORDER BY period"
        rows = self._rows(sql, params)
        for row in rows:
            row["transfers"] = row["transferred"]
        return rows

    def turn_stats(self, since=None, until=None):
        """Count turns and no-match / no-input events per dialog field.

        Returns dicts with `field`, `turns`, `no_match`, `no_input` and the two
        rates (0..1), the field with the highest failure rate first, so that the
        grammars that fail callers come to the top.
        """
        sql = ("SELECT field, count(*) AS turns, sum(event = ?) AS no_match, "
               "sum(event = ?) AS no_input FROM turns WHERE 1 = 1")
        params = [NO_MATCH, NO_INPUT]
        if since:
            sql += " AND started_at >= ?"
            params.append(since)
        if until:
            sql += " AND started_at < ?"
            params.append(until)
        sql += " GROUP BY field"
        rows = self._rows(sql, params)
        for row in rows:
            row["no_match_rate"] = row["no_match"] / row["turns"]
            row["no_input_rate"] = row["no_input"] / row["turns"]
        rows.sort(key=lambda r: (-(r["no_match_rate"] + r["no_input_rate"]), r["field"]))
        return rows


_DUMMY_HASH = generate_password_hash(secrets.token_hex(8), method="scrypt")

_BOOKING_SELECT = ("SELECT b.*, t.starts_at AS tour_starts_at, t.title AS tour_title "
                   "FROM bookings b JOIN tours t ON t.id = b.tour_id")

_PHONE_DIGITS_SQL = ("replace(replace(replace(replace(replace(b.phone, '+', ''), ' ', ''), "
                     "'-', ''), '(', ''), ')', '')")


def _like_escape(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _user_dict(row):
    user = dict(row)
    user["roles"] = split_roles(user.get("roles", ""))
    user.pop("password_hash", None)
    user.pop("token_hash", None)
    return user
