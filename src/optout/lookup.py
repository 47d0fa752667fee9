"""Is this buyer or order on the list? One at a time or a million, on a bare DB-API connection.

Kept free of SQLAlchemy so that ``optout check`` starts fast; the SQL here is plain enough to
run unchanged on SQLite and PostgreSQL (only the placeholder differs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from optout.identifiers import Query

BATCH = 2000  # well under SQLite's 32,766 bound parameters; fewer, larger lookups

_ENTRY_COLUMNS = (
    "kind, value, buyer_email, order_ids, marketplace, status, first_seen, last_seen, "
    "report_count, verified, removed_at, removed_reason"
)
_NAMES = [c.strip() for c in _ENTRY_COLUMNS.split(",")]


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


def _in(ph: str, count: int) -> str:
    return "(" + ", ".join([ph] * count) + ")"


def listed_values(conn: Any, ph: str, values: list[str], *, cutoff: str | None) -> set[str]:
    """The subset of ``values`` that is listed now."""
    if not values:
        return set()
    # Only ``value`` in the WHERE clause: with ``status`` there too, SQLite (before ANALYZE)
    # prefers the status index and scans every listed entry for each batch.
    cursor = conn.cursor()
    cursor.execute(f"SELECT value, status, last_seen FROM entry WHERE value IN {_in(ph, len(values))}", values)
    cutoff_iso = iso(cutoff)
    return {value for value, status, last_seen in cursor.fetchall()
            if status == "listed" and not (cutoff_iso and iso(last_seen) < cutoff_iso)}  # type: ignore[operator]


def check(
    conn: Any, ph: str, queries: Iterable[Query], *, cutoff: str | None, detail: bool
) -> Iterator[dict[str, Any]]:
    """One result a query, in order; ``detail`` adds the evidence for known entries."""
    batch: list[Query] = []
    for query in queries:
        batch.append(query)
        if len(batch) == BATCH:
            yield from _check_batch(conn, ph, batch, cutoff=cutoff, detail=detail)
            batch = []
    if batch:
        yield from _check_batch(conn, ph, batch, cutoff=cutoff, detail=detail)


def _check_batch(
    conn: Any, ph: str, batch: list[Query], *, cutoff: str | None, detail: bool
) -> Iterator[dict[str, Any]]:
    values = list({q.value for q in batch})
    cursor = conn.cursor()
    cursor.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE value IN {_in(ph, len(values))}", values
    )
    rows = {row[1]: dict(zip(_NAMES, row)) for row in cursor.fetchall()}
    accounts = _reporting_accounts(conn, ph, list(rows)) if detail and rows else {}
    for query in batch:
        row = rows.get(query.value)
        yield _result(query, row, cutoff=cutoff, accounts=accounts.get(query.value, []))


def _result(
    query: Query, row: dict[str, Any] | None, *, cutoff: str | None, accounts: list[str]
) -> dict[str, Any]:
    if row is None:
        return {"query": query.value, "kind": query.kind, "listed": False, "status": None}
    expired = bool(cutoff and str(iso(row["last_seen"])) < iso(cutoff))  # type: ignore[operator]
    listed = row["status"] == "listed" and not expired
    order_ids = (row["order_ids"] or "").split() or ([row["value"]] if row["kind"] == "order" else [])
    return {
        "query": query.value,
        "kind": query.kind,
        "listed": listed,
        "status": "expired" if expired and row["status"] == "listed" else row["status"],
        "buyer_email": row["buyer_email"],
        "order_ids": order_ids,
        "marketplace": row["marketplace"],
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "reports": row["report_count"],
        "accounts": accounts,
        "verified": bool(row["verified"]),
        "removed_at": iso(row["removed_at"]),
        "removed_reason": row["removed_reason"],
    }


def _reporting_accounts(conn: Any, ph: str, values: list[str]) -> dict[str, list[str]]:
    """value -> slugs of the accounts whose live reports name it."""
    marks = _in(ph, len(values))
    cursor = conn.cursor()
    cursor.execute(
        "SELECT r.order_id, r.buyer_email, a.slug FROM report r "
        "JOIN account a ON a.id = r.account_id WHERE r.withdrawn_at IS NULL "
        f"AND (r.order_id IN {marks} OR r.buyer_email IN {marks})",
        values + values,
    )
    found: dict[str, set[str]] = {}
    for order_id, buyer, slug in cursor.fetchall():
        for value in (order_id, buyer):
            if value:
                found.setdefault(value, set()).add(slug)
    return {value: sorted(slugs) for value, slugs in found.items()}
