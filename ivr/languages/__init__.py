"""Per-language read-backs: how dates, times, places and digits are spoken.

Each module provides tour_phrase, day_phrase, time_phrase, places_phrase and
digits_phrase, returning text that the speech synthesiser reads naturally.
"""

import importlib


def get(lang):
    try:
        return importlib.import_module(f"{__name__}.{lang}")
    except ModuleNotFoundError:
        raise LookupError(f"no read-back module for language {lang!r}; "
                          f"add ivr/languages/{lang}.py") from None
