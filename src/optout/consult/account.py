"""One account at a glance: is its forwarding working? (``GET /v1/accounts/{slug}``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from optout.consult.lookup import iso
from optout.recognise.result import NOTICE
from optout.record import accounts
from optout.store.models import Message, table

MESSAGE = table(Message)


def summary(conn: Connection, *, slug: str, domain: str) -> dict[str, Any]:
    """The ingest address, the Gmail confirmations still waiting, the last notice and what
    became of the account's mail. A confirmation counts as waiting until a notice arrives
    after it (then the forward works, whoever confirmed it)."""
    account = accounts.get(conn, slug=slug)
    mine = MESSAGE.c.account_id == account["id"]
    last = conn.execute(
        select(MESSAGE.c.received_at, MESSAGE.c.outcome, MESSAGE.c.reason, MESSAGE.c.order_id, MESSAGE.c.dkim)
        .where(mine, MESSAGE.c.kind == NOTICE).order_by(MESSAGE.c.received_at.desc()).limit(1)
    ).mappings().first()
    waiting = waiting_confirmations(conn, account_id=account["id"], since=last["received_at"] if last else None)
    counts: dict[str, int] = dict(conn.execute(select(MESSAGE.c.outcome, func.count()).where(mine).group_by(MESSAGE.c.outcome)).all())
    return {
        "slug": account["slug"], "name": account["name"], "enabled": bool(account["enabled"]),
        "address": accounts.address(account, domain),
        "confirmations_pending": [{**c, "received_at": iso(c["received_at"])} for c in waiting],
        "last_notice": {**last, "received_at": iso(last["received_at"])} if last else None,
        "messages_by_outcome": {str(k): int(v) for k, v in counts.items()},
    }


def waiting_confirmations(conn: Connection, *, account_id: int, since: Any) -> list[dict[str, Any]]:
    """Gmail confirmations with no notice arriving after them (since ``since``, the last one's
    time): the forward is not confirmed yet, as far as anyone can tell."""
    return [c for c in accounts.confirmations(conn, account_id=account_id) if since is None or c["received_at"] > since]
