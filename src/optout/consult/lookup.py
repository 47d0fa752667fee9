"""Is this buyer or order on the list? One at a time or a million, on a bare DB-API connection.

Kept free of SQLAlchemy so that ``optout check`` starts fast; the statements are in
``store/sql.py`` and run through a ``store.reader.Reader``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, TypeVar

from optout.errors import OptoutError
from optout.identifiers import Query, parse_query
from optout.store import sql
from optout.store.reader import Reader

_quote = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (C code where built)

T = TypeVar("T")
BATCH = 2000  # values a lookup statement takes: enough to spread a statement's own cost thin


def iso(value: Any) -> str | None:
    """A stored time (SQLite text or a datetime) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    return str(value)[:19].replace(" ", "T") + "Z"


def expiry_cutoff(expire_days: int | None) -> str | None:
    """Entries last seen before this are treated as expired; None when expiry is off."""
    if not expire_days:
        return None
    cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=expire_days)
    return cutoff.isoformat(sep=" ")


def listed_values(reader: Reader, values: list[str], *, cutoff: str | None) -> set[str]:
    """The subset of ``values`` that is listed now."""
    if not values:
        return set()
    cursor = reader.run(sql.states_by_value(reader.dialect), (sql.json_values(values),))
    return {value for value, state, last_seen in cursor.fetchall() if _state(state, last_seen, cutoff) == "listed"}


Found = tuple[Query, "tuple[Any, ...] | None", list[str]]


def check(reader: Reader, queries: Iterable[Query], *, detail: bool) -> Iterator[Found]:
    """(query, its entry row or None, reporting accounts) for each query, in order; the
    accounts are looked up only with ``detail``. Render with ``record`` or ``line``."""
    batch: list[Query] = []
    for query in queries:
        batch.append(query)
        if len(batch) == BATCH:
            yield from _check_batch(reader, batch, detail=detail)
            batch = []
    if batch:
        yield from _check_batch(reader, batch, detail=detail)


def _check_batch(reader: Reader, batch: list[Query], *, detail: bool) -> Iterator[Found]:
    plan = check_plan(reader.dialect, batch, detail=detail)
    try:
        statement = next(plan)
        while True:
            statement = plan.send(reader.run(*statement).fetchall())
    except StopIteration as done:
        yield from answers(batch, done.value)


Answers = tuple[dict[str, tuple[Any, ...]], dict[str, list[str]]]


def answers(batch: list[Query], found: Answers) -> Iterator[Found]:
    """Each query with its entry row and reporting accounts, made as they are consumed: a
    batch's worth held at once cost a fifth of a bulk check's time in garbage collection."""
    rows, accounts = found
    for query in batch:
        yield query, rows.get(query.value), accounts.get(query.value, _NOBODY)


# A statement to run and its parameters (``?`` marks); the rows come back by send().
Statement = tuple[str, tuple[Any, ...]]


_NOBODY: list[str] = []  # shared, never changed: the reporting accounts of an entry without any


def check_plan(dialect: str, batch: list[Query], *, detail: bool
               ) -> Generator[Statement, list[Any], Answers]:
    """One batch's lookup without I/O: yields each statement, is sent its rows, returns the
    entry rows and reporting accounts by value (``answers`` pairs them with the queries). The CLI drives it on a DB-API cursor (``_check_batch``), the HTTP side on
    PostgreSQL on an asynchronous connection (``http/store.py``): one logic, two drivers."""
    values = sorted({q.value for q in batch})  # in index order: each probe shares pages with the last (+5 % at 10M)
    rows = {row[1]: row for row in (yield sql.entries_by_value(dialect), (sql.json_values(values),))}
    # a removed entry has no reports left, so no reporting accounts to ask for
    reported = [row for row in rows.values() if row[_COUNT]] if detail else []
    accounts: dict[str, list[str]] = {}
    if reported:
        orders = [row[_VALUE] for row in reported if row[_KIND] == "order"]
        emails = [row[_VALUE] for row in reported if row[_KIND] != "order"]
        found = yield sql.reporting_accounts(dialect), (sql.json_values(orders), sql.json_values(emails))
        accounts = _by_value(found)
    return rows, accounts


# positions in sql.ENTRY_FIELDS
_KIND, _VALUE, _BUYER, _ORDERS, _MARKET, _STATUS, _FIRST, _LAST, _COUNT, _VERIFIED, _REMOVED_AT, _WHY = range(12)


def status(row: tuple[Any, ...] | None, cutoff: str | None) -> str | None:
    """listed, removed or expired; None for an identifier never seen."""
    return None if row is None else _state(row[_STATUS], row[_LAST], cutoff)


def _state(stored: str, last_seen: Any, cutoff: str | None) -> str:
    """The stored status, with a listed entry not seen since the expiry cutoff as expired."""
    if cutoff and stored == "listed" and (iso(last_seen) or "") < (iso(cutoff) or ""):
        return "expired"
    return stored


def record(query: Query, row: tuple[Any, ...] | None, accounts: list[str], *, cutoff: str | None) -> dict[str, Any]:
    """The JSON object for one query, with the evidence for a known entry."""
    state = status(row, cutoff)
    sent = query.sent or query.value
    if row is None:
        return {"query": sent, "normalised": query.value, "kind": query.kind, "listed": False, "status": None}
    order_ids = (row[_ORDERS] or "").split() or ([row[_VALUE]] if row[_KIND] == "order" else [])
    return {
        "query": sent, "normalised": query.value, "kind": query.kind, "listed": state == "listed", "status": state,
        "buyer_email": row[_BUYER], "order_ids": order_ids, "marketplace": row[_MARKET],
        "first_seen": iso(row[_FIRST]), "last_seen": iso(row[_LAST]), "reports": row[_COUNT],
        "accounts": accounts, "verified": bool(row[_VERIFIED]), "removed_at": iso(row[_REMOVED_AT]),
        "removed_reason": row[_WHY],
    }


def json_line(query: Query, row: tuple[Any, ...] | None, accounts: list[str], *, cutoff: str | None) -> str:
    """``json.dumps(record(...), ensure_ascii=False)``, written out directly: on a bulk lookup the
    general encoder cost more than the database (tests/consult hold the two to the same text).
    One f-string, and no call that can be skipped: a third faster than %-formatting the same."""
    normalised = _quote(query.value)
    sent = _quote(query.sent) if query.sent else normalised
    if row is None:
        return f'{{"query": {sent}, "normalised": {normalised}, "kind": "{query.kind}", "listed": false, "status": null}}'
    kind, value, buyer, orders, market, stored, first, last, count, verified, removed_at, why = row
    state = _state(stored, last, cutoff) if cutoff else stored
    if orders:
        ids = ", ".join(map(_quote, orders.split()))
    else:
        ids = _quote(value) if kind == "order" else ""
    return (f'{{"query": {sent}, "normalised": {normalised}, "kind": "{query.kind}", '
            f'"listed": {"true" if state == "listed" else "false"}, "status": "{state}", '
            f'"buyer_email": {"null" if buyer is None else _quote(buyer)}, "order_ids": [{ids}], '
            f'"marketplace": {"null" if market is None else _quote(market)}, '
            f'"first_seen": {_json_time(first)}, "last_seen": {_json_time(last)}, "reports": {count:d}, '
            f'"accounts": [{", ".join(map(_quote, accounts)) if accounts else ""}], '
            f'"verified": {"true" if verified else "false"}, '
            f'"removed_at": {_json_time(removed_at)}, '
            f'"removed_reason": {"null" if why is None else _quote(why)}}}')


def _json_time(value: Any) -> str:
    """A stored time as JSON: a string, or null."""
    if value.__class__ is str:  # SQLite's stored text: 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return f'"{value[:10]}T{value[11:19]}Z"'
    return "null" if value is None else f'"{iso(value)}"'


def line(query: Query, row: tuple[Any, ...] | None, *, cutoff: str | None) -> str:
    """The line for people: LISTED with a summary of the evidence, or why not."""
    state = status(row, cutoff)
    if row is None:
        return f"{query.value}\tnot listed\n"
    if state != "listed":
        why = f" ({row[_WHY]})" if state == "removed" and row[_WHY] else ""
        return f"{query.value}\tnot listed: {state}{why}\n"
    proof = "verified" if row[_VERIFIED] else "unverified"
    return (f"{query.value}\tLISTED\t{row[_COUNT]} report(s), first {iso(row[_FIRST])}, "
            f"last {iso(row[_LAST])}, {proof}\n")


def _by_value(rows: list[Any]) -> dict[str, list[str]]:
    """value -> slugs of the accounts whose live reports name it, from (order, buyer, slug) rows."""
    found: dict[str, set[str]] = {}
    for order_id, buyer, slug in rows:
        for value in (order_id, buyer):
            if value:
                found.setdefault(value, set()).add(slug)
    return {value: sorted(slugs) for value, slugs in found.items()}


def value_of(raw: str | None) -> str | None:
    """The normalised value of a send list's row, or None when it is neither a buyer address nor
    an order ID (or empty)."""
    if not raw:
        return None
    try:
        return parse_query(raw).value
    except OptoutError:
        return None


class Invalid(str, Enum):
    """What becomes of a send list's row that is neither an address nor an order ID (``sendable``):
    the one choice `optout filter --invalid` and `POST /v1/filter?invalid=` both offer."""

    drop = "drop"
    keep = "keep"


INVALID = ""  # a row's value that could not be checked: a cell neither an address nor an order ID


def row_values(raws: Sequence[str | None]) -> tuple[str, ...]:
    """The values a send list's row is checked by, one per column named (a buyer's address and
    an order ID, say): empty cells are passed over; a cell that is neither an address nor an
    order ID makes the row uncheckable (INVALID), as does a row with nothing to check."""
    values = []
    for raw in raws:
        if raw is None or not raw.strip():
            continue
        value = value_of(raw)
        if value is None:
            return (INVALID,)
        values.append(value)
    return tuple(values) or (INVALID,)


def sendable(rows: list[T], values: Sequence[tuple[str, ...]], listed: set[str], *, keep_invalid: bool,
             counts: dict[str, int]) -> list[T]:
    """The one rule `optout filter` and `POST /v1/filter` share: a row any of whose values is
    listed is suppressed; a row that could not be checked (``row_values``) is dropped too (a
    typo may hide a listed buyer) unless ``keep_invalid``; the rest are kept. ``counts`` gains
    kept, suppressed and invalid."""
    kept = []
    for row, checked in zip(rows, values):
        if INVALID in checked:
            counts["invalid"] = counts.get("invalid", 0) + 1
            if keep_invalid:
                kept.append(row)
        elif any(value in listed for value in checked):
            counts["suppressed"] = counts.get("suppressed", 0) + 1
        else:
            kept.append(row)
    counts["kept"] = counts.get("kept", 0) + len(kept)
    return kept
