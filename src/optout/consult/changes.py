"""The changes feed: every entry listed, removed or expired after a cursor, a page at a time, so
that a sending system can keep its own copy of the list in step all day.

A change is an entry's *state now* (not an event), so seeing one twice is harmless; what must
never happen is missing one. Two rules see to that:

- Order is (time, entry ID), and a cursor is the position of the last change a page held, so a
  page boundary between two changes stamped in the same microsecond loses neither.
- A change is served only once it is ``settle`` seconds old. Times are stamped before a
  transaction commits; a write that commits late (a long import, a wait for a lock) would
  otherwise land behind a cursor that has already moved past its time.

With expiry on, an entry also changes when it expires (last_seen + expire_days) without being
written: those come from a second ordered read, merged in.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from optout.consult.lookup import iso
from optout.errors import OptoutError
from optout.store import sql
from optout.store.reader import Reader

MAX_PAGE = 10_000
_CURSOR = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})/(\d{1,19})$")
_EPOCH = datetime(1970, 1, 1)
_LATEST = datetime(9000, 1, 1)
_LARGEST_ID = 2**63 - 1  # the largest ID either database stores


@dataclass(frozen=True, order=True)
class Cursor:
    at: datetime  # naive UTC
    entry_id: int

    def token(self) -> str:
        text = f"{_stamp(self.at)}/{self.entry_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


START = Cursor(_EPOCH, 0)


def cursor(text: str | None) -> Cursor:
    """A cursor from a previous page, an ISO 8601 time (changes after it), or none (from the start)."""
    if not text:
        return START
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        found = _CURSOR.match(decoded)
        if found and int(found[2]) <= _LARGEST_ID:
            return Cursor(_within(datetime.fromisoformat(found[1])), int(found[2]))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):  # not a time; or one that leaves the calendar in UTC (year 1 at +14:00)
        raise OptoutError("since: give the `next` cursor of a previous page, or an ISO 8601 time "
                          "such as 2026-11-21T02:30:00Z") from None
    return Cursor(_within(when), 0)


def _within(when: datetime) -> datetime:
    """A time the feed can compute with (minus an expiry period, plus a settle window): before
    1970 nothing was listed, so it is the start; past 9000 nothing will be."""
    return min(max(when, _EPOCH), _LATEST)


@dataclass
class Page:
    changes: list[dict[str, Any]]
    next: Cursor
    more: bool


def page(reader: Reader, *, after: Cursor, limit: int, expire_days: int | None, settle: float) -> Page:
    """Up to ``limit`` changes after ``after``, oldest first, and the cursor to go on from."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    horizon = now - timedelta(seconds=settle)
    found = [(_time(row[-2]), row[-1], row, False)
             for row in _read(reader, sql.CHANGED_AFTER, after, horizon, limit + 1)]
    if expire_days:
        age = timedelta(days=expire_days)
        shifted = Cursor(after.at - age, after.entry_id)
        found += [(_time(row[-2]) + age, row[-1], row, True)
                  for row in _read(reader, sql.EXPIRED_AFTER, shifted, horizon - age, limit + 1)]
    found.sort(key=lambda change: (change[0], change[1]))
    taken = found[:limit]
    cutoff = now - timedelta(days=expire_days) if expire_days else None  # the state now, as lookups see it
    changes = [_change(row, at, expired, cutoff) for at, _, row, expired in taken]
    last = Cursor(taken[-1][0], taken[-1][1]) if taken else after
    return Page(changes, last, more=len(found) > limit)


def _read(reader: Reader, statement: str, after: Cursor, until: datetime, limit: int) -> list[Any]:
    at, until_ = _stamp(after.at), _stamp(until)
    cursor_ = reader.run(statement, (at, at, after.entry_id, until_, limit))
    return list(cursor_.fetchall())


def _change(row: tuple[Any, ...], at: datetime, expired: bool, cutoff: datetime | None) -> dict[str, Any]:
    kind, value, buyer, orders, market, status, first, last, count, verified, removed_at, why = row[:12]
    if expired or (status == "listed" and cutoff is not None and _time(last) < cutoff):
        status = "expired"
    return {"normalised": value, "value": value, "kind": kind, "status": status, "changed_at": iso(at), "buyer_email": buyer,
            "order_ids": (orders or "").split() or ([value] if kind == "order" else []),
            "marketplace": market, "first_seen": iso(first), "last_seen": iso(last), "reports": count,
            "verified": bool(verified), "removed_at": iso(removed_at), "removed_reason": why}


def _time(value: Any) -> datetime:
    """A stored time (SQLite's text, PostgreSQL's datetime) as a naive UTC datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _stamp(value: datetime) -> str:
    # SQLite compares the stored text, which SQLAlchemy always writes with microseconds
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
