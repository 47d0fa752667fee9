"""Teaching recognition new wordings from the quarantine, without a release.

Possible notices in an unknown language wait in quarantine, grouped by the signature of their
wording (``recognise/wordings.py``). The operator teaches a group once — "this is an opt-out
notice" (in language X) or "this is something else" — and the wording is stored here, read by
every listener sharing the database within seconds, and every waiting message of the group is
recognised again. Forgetting a wording stops new matches; what it listed stays listed.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from optout.clock import utcnow
from optout.errors import OptoutError
from optout.recognise import notice, possible_notice
from optout.recognise import wordings as recognised
from optout.record import ingest
from optout.store.models import Wording, table

if TYPE_CHECKING:
    pass

WORDING = table(Wording)
MESSAGE = ingest.MESSAGE
KINDS = ("notice", "lookalike")
SHORTEST = 30  # characters of a sentence besides its order-ID slot: less would match too much


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    messages: int
    accounts: int
    since: Any
    marketplaces: list[str]
    sample_id: int


@dataclass(frozen=True, slots=True)
class Derived:
    """What teaching a sample would store, shown before it is saved."""

    sentence: str
    subject: str
    group: str
    message_id: int


def refresh(conn: Connection) -> tuple[recognised.Taught, ...]:
    """Read the live taught wordings and hand them to recognition; them."""
    rows = conn.execute(select(WORDING.c.id, WORDING.c.language, WORDING.c.kind, WORDING.c.sentence)
                        .where(WORDING.c.forgotten_at.is_(None)).order_by(WORDING.c.id)).all()
    taught = tuple(recognised.Taught(r.id, r.language, r.kind, r.sentence) for r in rows)
    recognised.use(taught)
    return taught


def groups(conn: Connection) -> list[Group]:
    """The groups of possible notices waiting in quarantine, biggest first."""
    waiting = (MESSAGE.c.outcome == "quarantined") & (MESSAGE.c.reason == notice.UNKNOWN_LANGUAGE) \
        & MESSAGE.c.wording_group.is_not(None)
    rows = conn.execute(
        select(MESSAGE.c.wording_group, func.count(), func.count(MESSAGE.c.account_id.distinct()),
               func.min(MESSAGE.c.received_at), func.max(MESSAGE.c.id))
        .where(waiting).group_by(MESSAGE.c.wording_group)
        .order_by(func.count().desc(), MESSAGE.c.wording_group)).all()
    markets: dict[str, list[str]] = {}
    for key, market in conn.execute(select(MESSAGE.c.wording_group, MESSAGE.c.marketplace).where(waiting)
                                    .where(MESSAGE.c.marketplace.is_not(None)).distinct()):
        markets.setdefault(key, []).append(market)
    return [Group(key, count, accounts, since, sorted(markets.get(key, [])), sample)
            for key, count, accounts, since, sample in rows]


def derive(conn: Connection, *, target: str) -> Derived:
    """The wording a group (its key) or a message (its ID) would teach."""
    message_id = _sample(conn, target)
    refresh(conn)  # as this database has them (a look-alike taught since keeps a sample out)
    row = ingest.stored(conn, message_id=message_id)
    if row is None or row["raw"] is None:
        raise OptoutError(f"message {message_id} has no raw bytes left to learn from (purged)")
    layer = possible_notice(row["raw"])
    if layer is None:
        raise OptoutError(f"message {message_id} is not from an Amazon notice sender with one order ID: "
                          "there is no wording to learn from it")
    sentence = notice.group_of(layer.text) or ""
    subject = recognised.mask(notice.flat(layer.subject))
    return Derived(sentence, subject, recognised.group_key(sentence), message_id)


def store(conn: Connection, *, target: str, language: str, kind: str, actor: str) -> tuple[int, str]:
    """Store the wording ``target`` (a group key or a message ID) shows; (the wording's ID, the
    key of the group it came from). ``quarantine.teach`` also recognises the group again."""
    derived = derive(conn, target=target)
    check(sentence=derived.sentence, language=language, kind=kind)
    wording_id = conn.execute(WORDING.insert().values(
        language=language, kind=kind, sentence=derived.sentence, subject=derived.subject[:500] or None,
        taught_by=actor[:100], taught_at=utcnow(), message_id=derived.message_id).returning(WORDING.c.id)).scalar_one()
    refresh(conn)
    return wording_id, derived.group


@functools.lru_cache(maxsize=8)
def languages(locale: str = "en") -> Mapping[str, str]:
    """The ISO 639-1 codes, each with its language's name in ``locale`` (from Babel's CLDR data),
    made once per locale: the overview asks for a name per taught wording on every render."""
    from babel import Locale

    names = Locale.parse(locale).languages
    return MappingProxyType({code: names[code] for code in sorted(names) if len(code) == 2 and code.isalpha()})


def language_name(code: str, locale: str = "en") -> str | None:
    """``Portuguese (Brazil)`` for ``pt-br``; None for what is no ISO 639-1 code (with an
    optional two-letter region)."""
    base, _, region = code.lower().partition("-")
    name = languages(locale).get(base)
    if name is None or (region and not (len(region) == 2 and region.isalpha())):
        return None
    if not region:
        return name
    from babel import Locale

    return f"{name} ({Locale.parse(locale).territories.get(region.upper(), region.upper())})"


def check_language(language: str, *, kind: str) -> None:
    """Refuse a kind or a language that is not one (``Portuguese``: give ``pt``), in one line."""
    if kind not in KINDS:
        raise OptoutError(f"kind must be one of {', '.join(KINDS)}")
    if not (kind == "lookalike" and language == "other") and language_name(language) is None:
        raise OptoutError(f"unknown language {language!r}: give its ISO 639-1 code, such as pt, es, it, zh "
                          "(pt-br for a region's)")


def check(*, sentence: str, language: str, kind: str) -> None:
    """Refuse, with a one-line reason, a wording that could list what is not a notice."""
    check_language(language, kind=kind)
    if kind == "notice" and recognised.SLOT not in sentence:
        raise OptoutError("the wording has no order-ID slot: a notice's sentence names its order")
    if kind == "notice" and len(sentence.replace(recognised.SLOT, "").strip()) < SHORTEST:
        raise OptoutError(f"the wording is shorter than {SHORTEST} characters besides its order ID: "
                          "it would match too much")
    if kind == "notice" and any(phrase in sentence for phrase in notice.LOOKALIKE_PHRASES):
        raise OptoutError("the wording matches a known look-alike (a cancellation, a copy of a sent message, "
                          "another reason for blocking): it is not an opt-out notice")


def listing(conn: Connection, *, everything: bool = False) -> list[dict[str, Any]]:
    query = select(WORDING).order_by(WORDING.c.id)
    if not everything:
        query = query.where(WORDING.c.forgotten_at.is_(None))
    return [dict(row) for row in conn.execute(query).mappings()]


def get(conn: Connection, *, wording_id: int) -> dict[str, Any]:
    row = conn.execute(select(WORDING).where(WORDING.c.id == wording_id)).mappings().first()
    if row is None:
        raise OptoutError(f"no taught wording {wording_id}")
    found = dict(row)
    found["messages"] = conn.execute(select(func.count()).where(
        MESSAGE.c.wording == f"taught:{wording_id}")).scalar_one()
    return found


def forget(conn: Connection, *, wording_id: int) -> dict[str, Any]:
    """Stop matching a wording (new mail only: what it listed stays listed)."""
    found = get(conn, wording_id=wording_id)
    if found["forgotten_at"] is not None:
        raise OptoutError(f"wording {wording_id} was forgotten already")
    conn.execute(update(WORDING).where(WORDING.c.id == wording_id).values(forgotten_at=utcnow()))
    refresh(conn)
    return found


def export(conn: Connection) -> str:
    """The built-in wordings (phrases.toml's shape) and the live taught ones, as TOML."""
    lines = ["# optout wordings: built-in ones as phrases.toml has them, and the ones taught here.",
             "# `optout wordings import FILE` on another installation takes the [taught] ones.", ""]
    for language in notice.LANGUAGES:
        groups_ = ", ".join("[" + ", ".join(_toml(p) for p in group) + "]" for group in language.groups)
        lines += [f"[languages.{language.code}]", f"meaning = [{groups_}]", ""]
    for row in listing(conn):
        lines += ["[[taught]]", f"language = {_toml(row['language'])}", f"kind = {_toml(row['kind'])}",
                  f"sentence = {_toml(row['sentence'])}"]
        if row["subject"]:
            lines.append(f"subject = {_toml(row['subject'])}")
        lines.append("")
    return "\n".join(lines)


def import_(conn: Connection, *, text: str, actor: str) -> int:
    """Teach the [[taught]] wordings of an export; those known already are skipped. How many new."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OptoutError(f"not a wordings file: {exc}") from None
    known = {(w["kind"], w["sentence"]) for w in listing(conn)}
    added = 0
    for number, item in enumerate(data.get("taught", []), 1):
        if not isinstance(item, dict) or not isinstance(item.get("sentence"), str):
            raise OptoutError(f"taught wording {number}: needs a sentence")
        kind, sentence, language = item.get("kind", "notice"), item["sentence"], str(item.get("language", ""))
        check(sentence=sentence, language=language, kind=kind)
        if (kind, sentence) in known:
            continue
        conn.execute(WORDING.insert().values(language=language, kind=kind, sentence=sentence,
                                             subject=item.get("subject"), taught_by=actor[:100], taught_at=utcnow()))
        known.add((kind, sentence))
        added += 1
    refresh(conn)
    return added


def _sample(conn: Connection, target: str) -> int:
    """The message to learn from: ``target`` itself if it is a message ID, else its group's newest."""
    if target.isdigit():
        return int(target)
    found = conn.execute(select(func.max(MESSAGE.c.id)).where(MESSAGE.c.wording_group == target)).scalar()
    if found is None:
        raise OptoutError(f"no group {target!r} waits in quarantine (optout quarantine groups lists them)")
    return int(found)


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shown_groups(conn: Connection, *, limit: int = 20) -> list[dict[str, Any]]:
    """The biggest groups for the overview, each with its wording and its newest message's text."""
    shown = []
    refresh(conn)
    for group in groups(conn)[:limit]:
        row = ingest.stored(conn, message_id=group.sample_id)
        layer = possible_notice(row["raw"]) if row and row["raw"] else None
        if layer is None:
            continue
        shown.append({"key": group.key, "messages": group.messages, "accounts": group.accounts,
                      "since": group.since, "marketplaces": group.marketplaces, "sample_id": group.sample_id,
                      "sentence": notice.group_of(layer.text) or "", "sample_text": layer.text[:5000]})
    return shown
