"""Counts for ``optout stats``: how big the list is and what became of the mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from optout.clock import today
from optout.recognise.notice import UNKNOWN_LANGUAGE
from optout.store.models import Account, Entry, ExportRun, Message, Refusal, Report, table

ENTRY = table(Entry)
MESSAGE = table(Message)
EXPORT_RUN = table(ExportRun)
REFUSAL = table(Refusal)


def gather(conn: Connection) -> dict[str, Any]:
    by_status: dict[str, int] = dict(conn.execute(select(ENTRY.c.status, func.count()).group_by(ENTRY.c.status)).all())
    outcomes: dict[str, int] = dict(conn.execute(select(MESSAGE.c.outcome, func.count()).group_by(MESSAGE.c.outcome)).all())
    last = conn.execute(
        select(EXPORT_RUN.c.at, EXPORT_RUN.c.format, EXPORT_RUN.c.rows, EXPORT_RUN.c.sha256, EXPORT_RUN.c.path)
        .order_by(EXPORT_RUN.c.id.desc()).limit(1)
    ).mappings().first()
    return {
        "entries_listed": by_status.get("listed", 0),
        "entries_removed": by_status.get("removed", 0),
        "verified_listed": conn.execute(
            select(func.count()).where(ENTRY.c.status == "listed", ENTRY.c.verified.is_(True))
        ).scalar_one(),
        "reports": conn.execute(select(func.count()).select_from(Report)).scalar_one(),
        "accounts": conn.execute(select(func.count()).select_from(Account)).scalar_one(),
        "messages": outcomes,
        "held_by_volume_guard": outcomes.get("held", 0),
        # a marketplace whose wording is not known yet: `quarantine groups`, then `wordings learn`
        "possible_notices_unknown_language": conn.execute(
            select(func.count()).where(MESSAGE.c.outcome == "quarantined", MESSAGE.c.reason == UNKNOWN_LANGUAGE)
        ).scalar_one(),
        "wording_groups_waiting": conn.execute(
            select(func.count(MESSAGE.c.wording_group.distinct())).where(
                MESSAGE.c.outcome == "quarantined", MESSAGE.c.reason == UNKNOWN_LANGUAGE)
        ).scalar_one(),
        # which wording recognised the notices: builtin:LANGUAGE, or taught:ID
        "notices_by_wording": dict(conn.execute(
            select(MESSAGE.c.wording, func.count()).where(MESSAGE.c.wording.is_not(None))
            .group_by(MESSAGE.c.wording).order_by(MESSAGE.c.wording)).all()),
        "last_export": dict(last) if last else None,
        "unknown_recipients_today": _refusals_today(conn),
    }


def _refusals_today(conn: Connection) -> dict[str, int]:
    """Recipients refused at RCPT today, by how many clients, and how many were shut out."""
    refused, clients, blocked = conn.execute(
        select(func.coalesce(func.sum(REFUSAL.c.refused), 0), func.count(), func.coalesce(func.sum(REFUSAL.c.blocked), 0))
        .where(REFUSAL.c.day == today())).one()
    return {"refused": int(refused), "clients": int(clients), "clients_shut_out": int(blocked)}
