"""Access to the stores of the running application, and the audit helper."""

from flask import current_app, g


def get_settings():
    return current_app.extensions["ivr"]["settings"]


def get_store():
    """The shared ivr.store.Store: every booking change goes through it."""
    return current_app.extensions["ivr"]["store"]


def get_staff():
    """The ivr.staff_store.StaffStore: users, sessions, tokens, audit log, searches."""
    return current_app.extensions["ivr"]["staff"]


def audit(action, target="", **details):
    """Record a change in the audit log under the logged-in user or API token.

    `details` must not carry callers' phone numbers or transcripts: the audit
    log names what changed (ids, codes, counts), the rows themselves hold the data.
    """
    get_staff().audit(g.actor, action, target, **details)
