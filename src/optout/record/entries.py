"""Writing the list: record evidence, list and remove identifiers. Always inside the caller's
transaction; concurrency is left to the database's unique constraints and upserts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from optout.clock import today
from optout.identifiers import Query, marketplace_of
from optout.store import bulk, sql
from optout.store.models import Entry, Report, table, utcnow

ENTRY = table(Entry)
REPORT = table(Report)


@dataclass(slots=True)
class NewReport:
    """Evidence to record: at least one of ``order_id`` and ``buyer_email``."""

    dedup: str  # what makes two reports the same report (hashed into dedup_key)
    source: str
    order_id: str | None = None
    buyer_email: str | None = None
    marketplace: str | None = None
    account_id: int | None = None
    message_id: int | None = None
    dkim: str = "none"
    dkim_domain: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    note: str | None = None
    dedup_key: str = field(init=False)

    def __post_init__(self) -> None:
        self.dedup_key = hashlib.sha256(self.dedup.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Recorded:
    """What recording a batch did."""

    fresh_keys: set[str] = field(default_factory=set)  # dedup keys of the reports stored now
    newly_listed: set[str] = field(default_factory=set)  # values that were not listed before

    @property
    def new_entries(self) -> int:
        """Identifiers that were not listed before (new or relisted)."""
        return len(self.newly_listed)


class Statuses:
    """The status (listed, removed) of each of some values, asked for now and read when wanted:
    so a caller can put the question ahead of its inserts (see ``bulk.pipeline``)."""

    def __init__(self, conn: Connection, *, values: Sequence[str]) -> None:
        unique = sorted(set(values))
        if conn.dialect.name == "postgresql":
            self.asked = [bulk.send(conn, sql.ENTRY_STATUSES_EACH, [unique], prepare=False)] if unique else []
        else:
            self.asked = bulk.send_in(conn, sql.ENTRY_STATUSES, column="value", values=unique)
        self.values = set(unique)

    def answer(self) -> dict[str, str]:
        return {value: status for rows in self.asked for value, status in rows.all() if status is not None}


def record(conn: Connection, *, reports: Sequence[NewReport], actor: str | None = None,
           before: Statuses | None = None) -> Recorded:
    """Store new evidence and list what it names; a report seen before changes nothing.
    ``before``: the statuses of the values the reports name, if already asked for."""
    fresh = _insert_reports(conn, reports)
    if not fresh:
        return Recorded()
    rows = _entry_rows(fresh)
    values = [r["value"] for r in rows]
    if before is None or not before.values.issuperset(values):
        before = Statuses(conn, values=values)
    was = before.answer()
    for round_rows in _rounds(rows):
        _upsert_entries(conn, round_rows)
    newly = {r["value"] for r in rows if was.get(r["value"]) != "listed"}
    relisted = [v for v in newly if was.get(v) == "removed"]
    if relisted:
        log(conn, relisted, action="relisted", actor=actor, reason="new report")
    _count_new(conn, fresh, newly)
    return Recorded(fresh_keys={r.dedup_key for r in fresh}, newly_listed=newly)


REPORT_COLUMNS = ("dedup_key", "account_id", "message_id", "order_id", "buyer_email", "marketplace",
                  "source", "dkim", "dkim_domain", "received_at", "note")


def _insert_reports(conn: Connection, reports: Sequence[NewReport]) -> list[NewReport]:
    by_key: dict[str, NewReport] = {}
    for report in reports:
        by_key.setdefault(report.dedup_key, report)
    rows = [_report_row(key, r) for key, r in sorted(by_key.items())]
    inserted = bulk.insert(conn, table="report", columns=REPORT_COLUMNS, rows=rows,
                           tail=sql.REPORT_ONCE, returning="dedup_key")
    return [by_key[key] for (key,) in inserted]


def _report_row(key: str, r: NewReport) -> tuple[Any, ...]:
    return (key, r.account_id, r.message_id, r.order_id, r.buyer_email,
            r.marketplace or marketplace_of(r.buyer_email), r.source, r.dkim, r.dkim_domain,
            r.received_at, r.note)


def _entry_rows(reports: list[NewReport]) -> list[dict[str, Any]]:
    now = utcnow()  # one updated_at for the batch
    rows = []
    for r in reports:
        common = {
            "marketplace": r.marketplace or marketplace_of(r.buyer_email),
            "status": "listed", "first_seen": r.received_at, "last_seen": r.received_at,
            "report_count": 1, "verified": r.dkim == "pass", "updated_at": now,
        }
        if r.order_id:
            rows.append({"kind": "order", "value": r.order_id, "buyer_email": r.buyer_email,
                         "order_ids": None, **common})
        if r.buyer_email:
            rows.append({"kind": "email", "value": r.buyer_email, "buyer_email": r.buyer_email,
                         "order_ids": r.order_id, **common})
    return rows


def _rounds(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split rows so no value repeats within a statement (PostgreSQL refuses to upsert one row
    twice in one statement), each round sorted by value so concurrent writers lock in one order."""
    rounds: list[dict[str, dict[str, Any]]] = []
    for row in rows:
        for bucket in rounds:
            if row["value"] not in bucket:
                bucket[row["value"]] = row
                break
        else:
            rounds.append({row["value"]: row})
    return [[bucket[v] for v in sorted(bucket)] for bucket in rounds]


ENTRY_COLUMNS = ("kind", "value", "buyer_email", "order_ids", "marketplace", "status", "first_seen",
                 "last_seen", "report_count", "verified", "updated_at")
def _upsert_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [tuple(row[c] for c in ENTRY_COLUMNS) for row in rows]
    bulk.insert(conn, table="entry", columns=ENTRY_COLUMNS, rows=values, tail=sql.ENTRY_UPSERT)


def _count_new(conn: Connection, fresh: list[NewReport], newly: set[str]) -> None:
    """Add to each account's count for today the reports that put something new on the list."""
    per_account: dict[int, int] = {}
    for r in fresh:
        if r.account_id and {r.order_id, r.buyer_email} & newly:
            per_account[r.account_id] = per_account.get(r.account_id, 0) + 1
    if per_account:
        day = today()
        bulk.insert(conn, table="accountday", columns=("account_id", "day", "new_entries"),
                    rows=[(account, day, count) for account, count in sorted(per_account.items())],
                    tail=sql.ACCOUNT_DAY_ADD)


def log(conn: Connection, values: list[str], *, action: str, actor: str | None, reason: str | None) -> None:
    """An event for each entry among ``values``."""
    bulk.send_in(conn, sql.EVENTS_FOR, column="value", values=values, params=(action, actor, reason, utcnow()))


def add_by_hand(conn: Connection, *, query: Query, reason: str, account_id: int | None, actor: str) -> bool:
    """List an identifier on someone's word (the CLI's ``add``, the API's ``POST /v1/entries``):
    a manual report, and an "added" event with the reason. True if it was not listed before."""
    report = NewReport(dedup=f"manual:{query.value}:{utcnow().isoformat()}", source="manual", note=reason,
                       account_id=account_id, order_id=query.value if query.kind == "order" else None,
                       buyer_email=query.value if query.kind == "email" else None)
    done = record(conn, reports=[report], actor=actor)
    log(conn, [query.value], action="added", actor=actor, reason=reason)
    return bool(done.new_entries)


def supporters(conn: Connection, *, value: str) -> set[str | None]:
    """Whose word keeps an entry listed: the account IDs of its live reports (None for a report
    on no account's behalf) and ``"import"`` for a bulk import. Decides who may remove it."""
    column = REPORT.c.order_id if "@" not in value else REPORT.c.buyer_email
    found: set[str | None] = {None if a is None else str(a) for (a,) in conn.execute(
        select(REPORT.c.account_id).where(column == value, REPORT.c.withdrawn_at.is_(None)).distinct())}
    if conn.execute(select(ENTRY.c.imported_by).where(ENTRY.c.value == value)).scalar() is not None:
        found.add("import")
    return found


def remove(conn: Connection, *, query: Query, reason: str, actor: str | None = None) -> bool:
    """Take an identifier off the list, keeping it and its history; False if it was not listed."""
    now = utcnow()
    changed = conn.execute(
        update(ENTRY)
        .where(ENTRY.c.value == query.value, ENTRY.c.status == "listed")
        .values(status="removed", removed_at=now, removed_reason=reason, updated_at=now)
    ).rowcount
    if changed:
        log(conn, [query.value], action="removed", actor=actor, reason=reason)
    return bool(changed)


def withdraw(conn: Connection, *, account_id: int, reason: str) -> dict[str, int]:
    """Withdraw every live report of an account; an entry left with no live report is removed.

    Entries other accounts (or an operator) also reported stay listed, with their counts and
    verified flag recomputed from what remains.
    """
    now = utcnow()
    live = (REPORT.c.account_id == account_id) & REPORT.c.withdrawn_at.is_(None)
    touched = conn.execute(select(REPORT.c.order_id, REPORT.c.buyer_email).where(live)).all()
    values = sorted({v for pair in touched for v in pair if v})
    conn.execute(update(REPORT).where(live).values(withdrawn_at=now))
    removed = 0
    for start in range(0, len(values), 500):
        removed += _recount(conn, values[start : start + 500], reason=reason, now=now)
    return {"reports": len(touched), "entries": len(values), "removed": removed}


def _recount(conn: Connection, values: list[str], *, reason: str, now: datetime) -> int:
    """Set each entry's count and verified flag from its live support (reports, and an import
    run counting as one); remove the entries left with none."""
    imported = {value for (value,) in conn.execute(
        select(ENTRY.c.value).where(ENTRY.c.value.in_(values), ENTRY.c.imported_by.is_not(None)))}
    remaining: dict[str, tuple[int, bool]] = {value: (1, False) for value in imported}
    for column in (REPORT.c.order_id, REPORT.c.buyer_email):
        query = (select(column, func.count(), func.max(case((REPORT.c.dkim == "pass", 1), else_=0)))
                 .where(column.in_(values), REPORT.c.withdrawn_at.is_(None)).group_by(column))
        for value, count, verified in conn.execute(query):
            remaining[value] = (count + (value in imported), bool(verified))
    unsupported = [v for v in values if v not in remaining]
    for value, (count, verified) in remaining.items():
        conn.execute(update(ENTRY).where(ENTRY.c.value == value)
                     .values(report_count=count, verified=verified, updated_at=now))
    if not unsupported:
        return 0
    gone = conn.execute(update(ENTRY).where(ENTRY.c.value.in_(unsupported), ENTRY.c.status == "listed")
                        .values(status="removed", removed_at=now, removed_reason=reason, report_count=0,
                                updated_at=now)).rowcount
    log(conn, unsupported, action="withdrawn", actor="revoke", reason=reason)
    return gone
