"""Backfill: apply messages from mailbox exports to one account, in batched transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from optout.errors import OptoutError
from optout.recognise import parse
from optout.record import accounts, ingest, trust, wordings
from optout.record.sources import messages

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from optout.config import Settings

BATCH = 200  # messages a transaction: one fsync per batch, not per message


def run(eng: Engine, cfg: Settings, *, paths: list[str], slug: str,
        wrap: Callable[[Iterable[Any]], Iterable[Any]] = lambda x: x) -> dict[str, int]:
    """Ingest every message under ``paths`` for account ``slug``; returns the summary counts."""
    with eng.connect() as conn:
        account = accounts.get(conn, slug=slug)
        wordings.refresh(conn)  # the taught wordings recognise past notices too
    if not account["enabled"]:
        raise OptoutError(f"account {slug!r} is disabled")
    summary = {"messages": 0, "notices": 0, "new_entries": 0, "duplicates": 0,
               "confirmations": 0, "other": 0, "held": 0, "errors": 0}
    verifier = trust.Verifier(cfg)
    policy = trust.policy(cfg)
    batch: list[ingest.Item] = []
    for source, raw in wrap(_readable(paths, summary)):
        result = parse(raw)
        inbound = ingest.Inbound(raw=raw, account_id=account["id"], source="backfill", rcpt=source)
        batch.append(verifier.item(inbound, result))
        if len(batch) >= BATCH:
            _apply(eng, batch, policy, summary)
            batch = []
    if batch:
        _apply(eng, batch, policy, summary)
    return summary


def _readable(paths: list[str], summary: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    for source, raw in messages(paths):
        summary["messages"] += 1
        if not raw.strip():
            summary["errors"] += 1  # an empty file is not a message: nothing to keep
            continue
        yield source, raw


def _apply(eng: Engine, batch: list[ingest.Item], policy: ingest.Policy, summary: dict[str, int]) -> None:
    with eng.begin() as conn:
        outcomes = ingest.apply_many(conn, items=batch, policy=policy)
    for item, done in zip(batch, outcomes):
        _count(done, item.result, summary)


def _count(done: ingest.Applied, result: Any, summary: dict[str, int]) -> None:
    summary["notices"] += len(result.notices())
    summary["new_entries"] += done.new_entries
    summary["duplicates"] += done.outcome == ingest.Outcome.DUPLICATE
    summary["confirmations"] += done.outcome == ingest.Outcome.CONFIRMATION
    summary["other"] += done.outcome == ingest.Outcome.QUARANTINED
    summary["held"] += done.outcome in (ingest.Outcome.HELD, ingest.Outcome.UNVERIFIED)
