"""Template filters that show stored local times and numbers in the user's locale."""

from datetime import date, datetime

from flask_babel import format_date, format_datetime, format_decimal, format_percent, format_time


def _parse(value):
    if value is None or value == "":
        return None
    if isinstance(value, (datetime, date)):
        return value
    return datetime.fromisoformat(str(value))


# Stored times are already local wall-clock times, so rebase=False keeps
# Flask-Babel from treating them as UTC and shifting them.

def local_datetime(value, style="medium"):
    moment = _parse(value)
    return format_datetime(moment, style, rebase=False) if moment else ""


def local_date(value, style="long"):
    moment = _parse(value)
    return format_date(moment, style, rebase=False) if moment else ""


def local_time(value, style="short"):
    moment = _parse(value)
    return format_time(moment, style, rebase=False) if moment else ""


def decimal(value):
    return format_decimal(value or 0, "#,##0.0")


def percent(value):
    return format_percent(value or 0, "#,##0.0%")
