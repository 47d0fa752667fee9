"""The seller pages' languages: which one a request is served in, its catalogue of translations,
and its dates and relative times (Babel's CLDR data, so "3 days ago" reads "vor 3 Tagen" or
"3日前" without a translator writing each form).

A request's language is, in order: ``?lang=xx`` (the pages' language switch; remembered in a
cookie), that cookie, the browser's ``Accept-Language``, English. The catalogues are the ``.po``
files in ``http/locale/``, compiled in memory when first used; a sentence a catalogue lacks is
shown in English.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

# each language by its own name, for the switch; English first, the rest as their speakers sort them
LANGUAGES = {"en": "English", "de": "Deutsch", "es": "Español", "fr": "Français", "it": "Italiano",
             "ja": "日本語", "zh": "中文"}
DEFAULT = "en"
COOKIE = "optout_lang"
LOCALE = Path(__file__).parent / "locale"
# the operator's pages are in English, as the CLI they go with: no switch, no catalogue sentences
ENGLISH_ONLY = frozenset({"admin.html", "teach.html"})


def N_(text: str) -> str:  # noqa: N802  (gettext's name for "translated where it is shown")
    """Marks a sentence for the catalogues; it is translated when a page shows it."""
    return text


def choose(*, asked: str | None, remembered: str | None, accept: str | None) -> str:
    """The language to serve: the switch's choice, the remembered one, the browser's, English."""
    for code in (asked, remembered):
        if code in LANGUAGES:
            return code
    return from_accept_language(accept or "")


def from_accept_language(header: str) -> str:
    """The first of the browser's languages (by its q-values) that has a catalogue. Only the
    primary subtag counts: de-AT reads German, zh-TW and zh-Hant read the Chinese catalogue."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):  # a browser sends a handful
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


def catalogue(code: str) -> Catalog:
    """One language's ``.po`` file as Babel reads it."""
    with (LOCALE / f"{code}.po").open("rb") as source:
        return read_po(source, locale=babel_locale(code))


@cache
def translations(code: str) -> NullTranslations:
    """The catalogue of one language, compiled in memory (English has none)."""
    if code == DEFAULT or not (LOCALE / f"{code}.po").exists():
        return NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(code))
    compiled.seek(0)
    return Translations(compiled)


def when_text(value: datetime, code: str) -> str:
    """A UTC time as that language writes a date and a time to the minute ("Dec 3, 2026, 2:05 PM",
    "03.12.2026, 14:05", "2026年12月3日 14:05"): the date medium, the time short, joined as the
    language joins them (Babel's own medium format would add the seconds)."""
    when, locale = _utc(value), babel_locale(code)
    joined = str(get_datetime_format("medium", locale=locale)).replace("'", "")
    return (joined.replace("{0}", format_time(when, "short", tzinfo=UTC, locale=locale))
            .replace("{1}", format_date(when, "medium", locale=locale)))


def ago_text(value: datetime, now: datetime, code: str) -> str:
    """How long ago, in that language's words ("3 days ago", "vor 3 Tagen", "3 日前")."""
    elapsed = _utc(now) - _utc(value)
    if elapsed < timedelta(minutes=1):
        return translations(code).gettext("just now")
    return format_timedelta(-elapsed, add_direction=True, threshold=1, locale=babel_locale(code))


def babel_locale(code: str) -> str:
    """Babel's name for a language of the switch: the Chinese catalogue is simplified Chinese."""
    return "zh_Hans" if code == "zh" else code


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
