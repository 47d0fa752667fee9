"""What was not recognised (or not trusted), kept for review: list, show, retry, accept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from optout.errors import OptoutError
from optout.recognise import parse
from optout.record import ingest, trust, wordings

if TYPE_CHECKING:
    from optout.config import Settings

MESSAGE = ingest.MESSAGE
REVIEW = tuple(str(o) for o in ingest.REVIEW)


def listing(conn: Connection, *, limit: int, outcome: str | None = None) -> list[dict[str, Any]]:
    wanted = (outcome,) if outcome else REVIEW
    query = (
        select(MESSAGE.c.id, MESSAGE.c.received_at, MESSAGE.c.account_id, MESSAGE.c.outcome,
               MESSAGE.c.reason, MESSAGE.c.size, MESSAGE.c.source)
        .where(MESSAGE.c.outcome.in_(wanted)).order_by(MESSAGE.c.id.desc()).limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def get(conn: Connection, *, message_id: int) -> dict[str, Any]:
    row = ingest.stored(conn, message_id=message_id)
    if row is None:
        raise OptoutError(f"no message with ID {message_id}")
    return row


def retry(conn: Connection, *, message_id: int, policy: ingest.Policy, verifier: trust.Verifier) -> ingest.Applied:
    """Run recognition again on a kept message (after a wording was taught, say), with the taught
    wordings as they are now."""
    row = _reviewable(conn, message_id)
    wordings.refresh(conn)
    return ingest.act(conn, message_id=message_id, item=_item(row, verifier), policy=policy)


def accept(conn: Connection, *, message_id: int, verifier: trust.Verifier) -> ingest.Applied:
    """List a held or unverified notice on an operator's word."""
    row = _reviewable(conn, message_id)
    wordings.refresh(conn)
    item = _item(row, verifier)
    if item.result.kind != "optout_notice":
        raise OptoutError(f"message {message_id} is not an opt-out notice ({item.result.reason}). If it is one, "
                          f"teach its wording (optout wordings learn {message_id} --language CODE), or list its "
                          f"order ID by hand (optout add ORDER --account SLUG --reason TEXT); if not, "
                          f"optout quarantine reject {message_id}")
    return ingest.act(conn, message_id=message_id, item=item, policy=ingest.Policy(), force=True)


def reject(conn: Connection, *, message_id: int, why: str = "rejected by the operator") -> ingest.Applied:
    """Take a message out of review without listing anything (a held burst that was wrong, say);
    the message and its raw bytes stay, and the reason says who decided."""
    row = _reviewable(conn, message_id)
    reason = f"{why}; was {row['outcome']}: {row['reason']}"
    conn.execute(update(MESSAGE).where(MESSAGE.c.id == message_id)
                 .values(outcome=str(ingest.Outcome.REJECTED), reason=reason[:500]))
    return ingest.Applied(message_id, ingest.Outcome.REJECTED, reason)


def _item(row: dict[str, Any], verifier: trust.Verifier) -> ingest.Item:
    result = parse(row["raw"])
    inbound = ingest.Inbound(raw=row["raw"], account_id=row["account_id"], source=row["source"],
                             received_at=row["received_at"])
    return verifier.item(inbound, result)


def pending_ids(conn: Connection) -> list[int]:
    query = select(MESSAGE.c.id).where(MESSAGE.c.outcome.in_(REVIEW), MESSAGE.c.raw.is_not(None))
    return list(conn.execute(query.order_by(MESSAGE.c.id)).scalars())


def _reviewable(conn: Connection, message_id: int) -> dict[str, Any]:
    row = get(conn, message_id=message_id)
    if row["outcome"] not in REVIEW:
        raise OptoutError(f"message {message_id} is {row['outcome']}, not in quarantine")
    if row["raw"] is None:
        raise OptoutError(f"message {message_id} was purged; its raw bytes are gone")
    return row


def teach(conn: Connection, *, target: str, language: str, kind: str, actor: str, cfg: Settings,
          ) -> tuple[int, dict[str, int]]:
    """Store the wording ``target`` shows (``wordings.store``) and recognise every waiting message
    of its group again, under the configured trust and volume guard; (the wording's ID,
    outcomes by count)."""
    wording_id, group = wordings.store(conn, target=target, language=language, kind=kind, actor=actor)
    return wording_id, recognise_group(conn, key=group, kind=kind, cfg=cfg)


def recognise_group(conn: Connection, *, key: str, kind: str, cfg: Settings) -> dict[str, int]:
    """Recognise every waiting message of group ``key`` again; outcomes by count. A group taught
    to be something else leaves the quarantine as ``rejected`` with the reason."""
    ids = list(conn.execute(select(MESSAGE.c.id).where(MESSAGE.c.wording_group == key,
                                                       MESSAGE.c.outcome == "quarantined")).scalars())
    counts: dict[str, int] = {}
    policy, verifier = trust.policy(cfg), trust.Verifier(cfg)
    for message_id in ids:
        if kind == "lookalike":
            done = reject(conn, message_id=message_id, why="taught as a look-alike")
        else:
            done = retry(conn, message_id=message_id, policy=policy, verifier=verifier)
        counts[str(done.outcome)] = counts.get(str(done.outcome), 0) + 1
    return counts
