"""Applying a recognised message to the list: the message kept, its outcome recorded, and for a
notice a report (and entries), all in the caller's one transaction. Idempotent: the same raw
message for the same account twice is a duplicate, and so is the same notice forwarded again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from optout import entries
from optout.models import Confirmation, Message, Report, utcnow
from optout.parse import Result
from optout.parse.result import CONFIRMATION, NOTICE

MESSAGE = Message.__table__  # type: ignore[attr-defined]
REPORT = Report.__table__  # type: ignore[attr-defined]
CONFIRM = Confirmation.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Inbound:
    """One message for one account, as it arrived."""

    raw: bytes
    account_id: int
    source: str = "smtp"  # smtp or backfill
    mail_from: str | None = None
    rcpt: str | None = None
    peer: str | None = None


@dataclass(slots=True)
class Policy:
    """What a notice must meet to list a buyer (see the trust settings)."""

    require_dkim: bool = False
    daily_limit: int | None = None


@dataclass(slots=True)
class Outcome:
    message_id: int | None
    outcome: str  # listed, known, duplicate, confirmation, quarantined, unverified, held
    reason: str
    new_entries: int = 0


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def apply(conn: Connection, *, inbound: Inbound, result: Result, dkim: tuple[str, str | None] = ("none", None),
          policy: Policy | None = None) -> Outcome:
    """Store the message and act on what it is; one call, one consistent outcome."""
    digest = sha256(inbound.raw)
    message_id = _store(conn, inbound, digest, result, dkim)
    if message_id is None:
        return Outcome(None, "duplicate", "this message was received before")
    return act(conn, message_id=message_id, account_id=inbound.account_id, result=result,
               dkim=dkim, policy=policy or Policy(), source=inbound.source)


def act(conn: Connection, *, message_id: int, account_id: int, result: Result,
        dkim: tuple[str, str | None], policy: Policy, source: str, force: bool = False) -> Outcome:
    """Act on a stored message's verdict and record the outcome on it."""
    if result.kind == CONFIRMATION:
        _confirmation(conn, message_id, account_id, result)
        outcome = Outcome(message_id, "confirmation", result.reason)
    elif result.kind != NOTICE:
        outcome = Outcome(message_id, "quarantined", result.reason)
    else:
        outcome = _notice(conn, message_id, account_id, result, dkim, policy, source, force)
    conn.execute(update(MESSAGE).where(MESSAGE.c.id == message_id).values(
        kind=result.kind, outcome=outcome.outcome, reason=outcome.reason, order_id=result.order_id,
        dkim=dkim[0], dkim_domain=dkim[1]))
    return outcome


def _store(conn: Connection, inbound: Inbound, digest: str, result: Result,
           dkim: tuple[str, str | None]) -> int | None:
    stmt = entries.insert_for(conn, MESSAGE).values(
        account_id=inbound.account_id, sha256=digest, raw=inbound.raw, size=len(inbound.raw),
        source=inbound.source, mail_from=inbound.mail_from, rcpt=inbound.rcpt, peer=inbound.peer,
        received_at=utcnow(), kind=result.kind, outcome="new", reason=result.reason,
        order_id=result.order_id, dkim=dkim[0], dkim_domain=dkim[1],
    ).on_conflict_do_nothing(index_elements=["account_id", "sha256"])
    return conn.execute(stmt.returning(MESSAGE.c.id)).scalar()


def _notice(conn: Connection, message_id: int, account_id: int, result: Result,
            dkim: tuple[str, str | None], policy: Policy, source: str, force: bool) -> Outcome:
    if not force and policy.require_dkim and dkim[0] != "pass":
        return Outcome(message_id, "unverified", f"{result.reason}; DKIM {dkim[0]}, trust is dkim")
    if not force and policy.daily_limit and _listed_today(conn, account_id) >= policy.daily_limit:
        return Outcome(message_id, "held", f"{result.reason}; account over {policy.daily_limit} new entries today")
    report = entries.NewReport(
        dedup=f"notice:{account_id}:{result.order_id}:{result.buyer_email or ''}",
        source=source, order_id=result.order_id, buyer_email=result.buyer_email,
        marketplace=result.marketplace, account_id=account_id, message_id=message_id,
        dkim=dkim[0], dkim_domain=dkim[1],
    )
    done = entries.record(conn, reports=[report], actor=f"account:{account_id}")
    if done.duplicates:
        return Outcome(message_id, "duplicate", f"{result.reason}; this account reported it before")
    state = "listed" if done.new_entries else "known"
    return Outcome(message_id, state, result.reason, new_entries=done.new_entries)


def _listed_today(conn: Connection, account_id: int) -> int:
    since = utcnow() - timedelta(days=1)
    return conn.execute(
        select(func.count()).select_from(REPORT).where(
            REPORT.c.account_id == account_id, REPORT.c.received_at >= since,
            REPORT.c.listed_new.is_(True))
    ).scalar_one()


def _confirmation(conn: Connection, message_id: int, account_id: int, result: Result) -> None:
    stmt = entries.insert_for(conn, CONFIRM).values(
        account_id=account_id, code=result.confirmation_code, link=result.confirmation_link,
        requested_by=result.forwarded_by, received_at=utcnow(), message_id=message_id,
    ).on_conflict_do_nothing(index_elements=["account_id", "code"])
    conn.execute(stmt)


def stored(conn: Connection, *, message_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(MESSAGE).where(MESSAGE.c.id == message_id)).mappings().first()
    return dict(row) if row else None
