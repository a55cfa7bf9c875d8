"""Gettext catalogues: complete Russian translations, compiled files up to date."""

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "ivr" / "web" / "translations"


def test_russian_catalogue_complete():
    with open(TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po", "rb") as file:
        catalog = read_po(file)
    untranslated = [m.id for m in catalog if m.id and not (
        m.string if isinstance(m.string, str) else all(m.string))]
    assert untranslated == []
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == []


def _key(value):
    return value if isinstance(value, str) else tuple(value)


def _done(message):
    """True when a message has a translation (every plural form, for plural messages)."""
    return bool(message.string) and (isinstance(message.string, str) or all(message.string))


def test_compiled_catalogues_match_sources():
    for lang in ("ru", "en"):
        folder = TRANSLATIONS / lang / "LC_MESSAGES"
        with open(folder / "messages.po", "rb") as file:
            source = {_key(m.id): _key(m.string) for m in read_po(file) if m.id and _done(m)}
        with open(folder / "messages.mo", "rb") as file:
            compiled = {_key(m.id): _key(m.string) for m in read_mo(file) if m.id}
        stale = [key for key, value in source.items() if compiled.get(key) != value]
        assert stale == [], f"{lang}: run pybabel compile -d ivr/web/translations"


def test_template_strings_all_extracted():
    with open(TRANSLATIONS / "messages.pot", "rb") as file:
        template_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(file)}
    with open(TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po", "rb") as file:
        ru_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(file)}
    assert template_ids <= ru_ids
