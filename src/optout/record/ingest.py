"""Applying recognised messages to the list: each message kept with its outcome, and for a
notice a report (and entries), all in the caller's one transaction. Works on batches, so a group
commit of many messages costs a few statements, not a few per message.

Idempotent: the same raw message for the same account twice is a duplicate, and so is the same
notice (account, order ID, buyer) arriving again by another route.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from optout.clock import today
from optout.recognise import Result, wordings
from optout.recognise.result import CONFIRMATION, NOTICE
from optout.record import entries
from optout.store import bulk, sql
from optout.store.models import Message, Report, table, utcnow

MESSAGE = table(Message)
REPORT = table(Report)
DkimResult = tuple[str, str | None]


@dataclass(slots=True)
class Inbound:
    """One message for one account, as it arrived."""

    raw: bytes
    account_id: int
    source: str = "smtp"  # smtp or backfill
    mail_from: str | None = None
    rcpt: str | None = None
    peer: str | None = None
    received_at: datetime | None = None  # a message acted on again: when it arrived (its reports are dated so)


@dataclass(slots=True)
class Policy:
    """What a notice must meet to list a buyer (see the trust settings)."""

    require_dkim: bool = False
    daily_limit: int | None = None


class Outcome(StrEnum):
    """What became of a message; stored in ``message.outcome`` and shown in logs and replies."""

    LISTED = "listed"  # a notice that put something new on the list
    KNOWN = "known"  # a notice whose buyer was listed already (by another account, say)
    DUPLICATE = "duplicate"  # this message, or this account's report of it, was here before
    CONFIRMATION = "confirmation"  # a Gmail forwarding verification
    QUARANTINED = "quarantined"  # not recognised: kept for review
    UNVERIFIED = "unverified"  # a notice whose DKIM did not pass, with trust = dkim
    HELD = "held"  # a notice past the account's daily volume guard
    REJECTED = "rejected"  # taken out of review by an operator: not listed


REVIEW = (Outcome.QUARANTINED, Outcome.UNVERIFIED, Outcome.HELD)  # what waits for a person


@dataclass(slots=True)
class Applied:
    """The outcome of applying one message; for a mail carrying several notices, the outcome
    that matters most (review first, then listed, known, duplicate) and the counts."""

    message_id: int | None
    outcome: Outcome
    reason: str
    new_entries: int = 0
    notices: int = 0  # notices the message carries
    listed: int = 0  # of them, those that put something new on the list


@dataclass(slots=True)
class Item:
    """A message with its verdict, ready to apply."""

    inbound: Inbound
    result: Result
    dkim: DkimResult = ("none", None)  # the first notice's (the message's) DKIM verdict
    more_dkim: tuple[DkimResult, ...] = ()  # the verdicts of the further notices, result.more

    def notices(self) -> list[tuple[Result, DkimResult]]:
        """Each notice the message carries with its own DKIM verdict."""
        dkims = (self.dkim, *self.more_dkim)
        return [(notice, dkims[i] if i < len(dkims) else ("none", None)) for i, notice in enumerate(self.result.notices())]


def storable(value: str | None) -> str | None:
    """An envelope value as text every database takes: bytes that are not UTF-8 (kept by the
    SMTP side as surrogates) as ``\\xNN``, and NUL (which PostgreSQL refuses) as ``\\x00``.
    Refusing them would make the sender retry for ever; a retry cannot fix them."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00")


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def apply_many(conn: Connection, *, items: Sequence[Item], policy: Policy) -> list[Applied]:
    """Store the messages and act on their verdicts; one outcome per item, in order.

    The reads the verdicts need (today's count of each account, the status of each identifier
    named) go out before the first insert, so inside ``bulk.pipeline`` they share its round trip.
    """
    notices = [(item, result) for item in items for result in item.result.notices()]
    budget = _Budget(conn, policy.daily_limit, accounts={item.inbound.account_id for item, _ in notices})
    before = entries.Statuses(conn, values=[v for _, result in notices for v in (result.order_id, result.buyer_email)
                                            if v])
    verdicts = [_verdict(item, policy) for item in items]
    ids = _store(conn, items, verdicts)
    outcomes: list[Applied | None] = [
        None if message_id else Applied(None, Outcome.DUPLICATE, "this message was received before",
                                        notices=len(item.result.notices()))
        for message_id, item in zip(ids, items)
    ]
    stored = [(i, message_id, item) for i, (message_id, item) in enumerate(zip(ids, items)) if message_id]
    _settle(conn, stored, budget, outcomes, verdicts, policy=policy, before=before, written=True)
    return _all_settled(outcomes)


def act(conn: Connection, *, message_id: int, item: Item, policy: Policy, force: bool = False) -> Applied:
    """Act again on a message already stored (quarantine retry or accept)."""
    outcomes: list[Applied | None] = [None]
    budget = _Budget(conn, policy.daily_limit if not force else None, accounts={item.inbound.account_id})
    _settle(conn, [(0, message_id, item)], budget, outcomes, [_verdict(item, policy, force=force)], policy=policy,
            before=None, written=False, force=force)
    return _all_settled(outcomes)[0]


def _all_settled(outcomes: list[Applied | None]) -> list[Applied]:
    """The outcomes, now that _settle has given every stored message one."""
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(outcomes), "a message was left without an outcome"
    return done


Decided = tuple[Outcome, str, int]  # one notice's outcome, its reason, the entries it added


def _settle(conn: Connection, stored: list[tuple[int, int, Item]], budget: _Budget, outcomes: list[Applied | None],
            verdicts: list[tuple[Outcome, str]], *, policy: Policy, before: entries.Statuses | None,
            written: bool, force: bool = False) -> None:
    """Decide and record the outcome of each stored message, starting from its ``_verdict``
    (``verdicts``, by the same index as ``outcomes``), notice by notice: each is reported on its
    own, under the volume guard and the trust rule. ``written``: each row holds its verdict
    already (a new message), so only those the list decided otherwise are updated."""
    decided: dict[int, list[Decided | entries.NewReport]] = {}
    keys: set[str] = set()
    for index, message_id, item in stored:
        outcome, reason = verdicts[index]
        if outcome is Outcome.CONFIRMATION:
            _confirmation(conn, message_id, item)
        if outcome is not Outcome.LISTED:
            outcomes[index] = Applied(message_id, outcome, reason, notices=len(item.result.notices()))
            continue
        decided[index] = [_decide(message_id, item, result, dkim, keys, budget, policy=policy, force=force)
                          for result, dkim in item.notices()]
    reports = [d for notices in decided.values() for d in notices if isinstance(d, entries.NewReport)]
    if reports:
        done = entries.record(conn, reports=reports, actor="notice", before=before)
    message_ids = {index: message_id for index, message_id, _ in stored}
    for index, notices in decided.items():
        each = [d if not isinstance(d, entries.NewReport) else _notice_outcome(d, done) for d in notices]
        outcomes[index] = _combined(message_ids[index], each)
    _record_outcomes(conn, [(message_id, item, applied) for index, message_id, item in stored
                            if (applied := outcomes[index]) is not None
                            and not (written and (applied.outcome, applied.reason) == verdicts[index])])


def _decide(message_id: int, item: Item, result: Result, dkim: DkimResult, keys: set[str], budget: _Budget, *,
            policy: Policy, force: bool) -> Decided | entries.NewReport:
    """One notice of a message: its outcome now, or the report to record for it."""
    if not force and policy.require_dkim and dkim[0] != "pass":
        return Outcome.UNVERIFIED, f"{result.reason}; DKIM {dkim[0]}, trust is dkim", 0
    report = _report(message_id, item, result, dkim)
    if report.dedup_key in keys:  # twice in one batch
        return Outcome.DUPLICATE, f"{result.reason}; reported twice at once", 0
    if not budget.allows(item.inbound.account_id):
        return Outcome.HELD, f"{result.reason}; account over {policy.daily_limit} new entries today", 0
    keys.add(report.dedup_key)
    return report


# Which of a mail's notices' outcomes the message takes: one waiting for a person first
_PRECEDENCE = (Outcome.HELD, Outcome.UNVERIFIED, Outcome.LISTED, Outcome.KNOWN, Outcome.DUPLICATE)


def _combined(message_id: int, each: list[Decided]) -> Applied:
    """The message's outcome from its notices': one notice's as it is; several counted."""
    listed = sum(1 for outcome, _, _ in each if outcome is Outcome.LISTED)
    new = sum(added for _, _, added in each)
    if len(each) == 1:
        outcome, reason, _ = each[0]
        return Applied(message_id, outcome, reason, new, notices=1, listed=listed)
    counts = Counter(outcome for outcome, _, _ in each)
    outcome = next(o for o in _PRECEDENCE if counts[o])
    waiting = next((reason for o, reason, _ in each if o in (Outcome.HELD, Outcome.UNVERIFIED)), None)
    reason = _several(counts) + (f"; {waiting}" if waiting else "")
    return Applied(message_id, outcome, reason, new, notices=len(each), listed=listed)


def _verdict(item: Item, policy: Policy, *, force: bool = False) -> tuple[Outcome, str]:
    """What a message's own verdict makes of it, before the list is consulted: a notice comes
    out LISTED here, which the list may yet turn into known, duplicate or held. A new message
    is stored with this, so the common case needs no second write of its row. With trust =
    dkim, a mail none of whose notices verified waits as a whole."""
    result = item.result
    if result.kind == CONFIRMATION:
        return Outcome.CONFIRMATION, result.reason
    if result.kind != NOTICE:
        return Outcome.QUARANTINED, result.reason
    if not force and policy.require_dkim and all(dkim[0] != "pass" for _, dkim in item.notices()):
        return Outcome.UNVERIFIED, f"{result.reason}; DKIM {item.dkim[0]}, trust is dkim"
    return Outcome.LISTED, _first_reason(item)


def _first_reason(item: Item) -> str:
    """The reason a new notice's row is stored with: its own, or for several the count (as
    _combined says it when all of them list, so that case needs no second write of the row)."""
    count = len(item.result.notices())
    return item.result.reason if count == 1 else _several(Counter({Outcome.LISTED: count}))


def _several(counts: Counter[Outcome]) -> str:
    """"5 opt-out notices: 3 held, 2 listed": a mail's notices counted by outcome."""
    said = ", ".join(f"{counts[o]} {o.value}" for o in _PRECEDENCE if counts[o])
    return f"{sum(counts.values())} opt-out notices: {said}"


def _report(message_id: int, item: Item, result: Result, dkim: DkimResult) -> entries.NewReport:
    account_id = item.inbound.account_id
    part = f" [{result.part}]" if item.result.more and result.part else ""  # which of the mail's notices
    return entries.NewReport(
        dedup=f"notice:{account_id}:{result.order_id}:{result.buyer_email or ''}",
        source=item.inbound.source, order_id=result.order_id, buyer_email=result.buyer_email,
        received_at=item.inbound.received_at or utcnow(),
        marketplace=result.marketplace, account_id=account_id, message_id=message_id,
        dkim=dkim[0], dkim_domain=dkim[1], note=result.reason + part,
    )


def _notice_outcome(report: entries.NewReport, done: entries.Recorded) -> Decided:
    reason = report.note or "opt-out notice"
    if report.dedup_key not in done.fresh_keys:
        return Outcome.DUPLICATE, f"{reason}; this account reported it before", 0
    new = len({report.order_id, report.buyer_email} & done.newly_listed)
    return (Outcome.LISTED if new else Outcome.KNOWN), reason, new


class _Budget:
    """The per-account volume guard: new entries an account may add in a UTC day. Each account's
    count is asked for at once and read when first needed."""

    def __init__(self, conn: Connection, limit: int | None, *, accounts: set[int]) -> None:
        self.limit = limit
        self.asked = {account: _ask_today(conn, account) for account in sorted(accounts)} if limit else {}
        self.used: dict[int, int] = {}

    def allows(self, account_id: int) -> bool:
        if not self.limit:
            return True
        if account_id not in self.used:
            self.used[account_id] = _count(self.asked[account_id])
        if self.used[account_id] >= self.limit:
            return False
        self.used[account_id] += 1  # counts as if it lists something: conservative
        return True


def listed_today(conn: Connection, *, account_id: int) -> int:
    """How many identifiers this account put on the list today (one row, kept by entries.record)."""
    return _count(_ask_today(conn, account_id))


def _ask_today(conn: Connection, account_id: int) -> bulk.Rows:
    return bulk.send(conn, sql.LISTED_TODAY, (account_id, today()))


def _count(asked: bulk.Rows) -> int:
    found = asked.all()
    return int(found[0][0]) if found else 0


MESSAGE_COLUMNS = ("account_id", "sha256", "raw", "size", "source", "mail_from", "rcpt", "peer",
                   "received_at", "kind", "outcome", "reason", "order_id", "dkim", "dkim_domain", "route",
                   "marketplace", "wording", "wording_group")


def _store(conn: Connection, items: Sequence[Item], verdicts: list[tuple[Outcome, str]]) -> list[int | None]:
    """Insert the messages not seen before, each with its verdict; the new row's ID per item,
    None for a duplicate."""
    now = utcnow()
    rows, first = [], {}
    keys = [(item.inbound.account_id, sha256(item.inbound.raw)) for item in items]
    for index, (item, key) in enumerate(zip(items, keys)):
        inbound, result = item.inbound, item.result
        if key in first:
            continue  # the same message twice in one batch
        first[key] = index
        outcome, reason = verdicts[index]
        rows.append((key[0], key[1], inbound.raw, len(inbound.raw), inbound.source, storable(inbound.mail_from),
                     storable(inbound.rcpt), storable(inbound.peer), now, result.kind, str(outcome), reason, result.order_id,
                     item.dkim[0], item.dkim[1], _route(inbound, result), result.marketplace, result.wording,
                     _group(result)))
    ids: list[int | None] = [None] * len(items)
    inserted = bulk.insert(conn, table="message", columns=MESSAGE_COLUMNS, rows=rows,
                           tail=sql.MESSAGE_ONCE, returning="id, account_id, sha256")
    for message_id, account_id, digest in inserted:
        ids[first[(account_id, digest)]] = message_id
    _count_resent(conn, keys, ids, now)
    return ids


def _count_resent(conn: Connection, keys: list[tuple[int, str]], ids: list[int | None], now: datetime) -> None:
    """Each message received again (here before, or twice in this batch), by its (account,
    SHA-256): counted on its row, so the seller page shows the re-sent notice came."""
    again = [(now, account_id, digest) for (account_id, digest), message_id in zip(keys, ids) if message_id is None]
    if again:
        bulk.update_many(conn, sql.MESSAGE_RESENT, again)


def _group(result: Result) -> str | None:
    return wordings.group_key(result.group) if result.group else None


def _route(inbound: Inbound, result: Result) -> str | None:
    return "backfill" if inbound.source == "backfill" else result.route


def _record_outcomes(conn: Connection, done: list[tuple[int, Item, Applied]]) -> None:
    """The verdict and outcome on each message row (a retry may change the verdict too)."""
    rows = [(item.result.kind, str(outcome.outcome), outcome.reason, item.result.order_id, item.dkim[0],
             item.dkim[1], _route(item.inbound, item.result), item.result.marketplace, item.result.wording,
             _group(item.result), message_id)
            for message_id, item, outcome in done]
    if rows:
        bulk.update_many(conn, sql.MESSAGE_VERDICT, rows)


def _confirmation(conn: Connection, message_id: int, item: Item) -> None:
    result = item.result
    bulk.insert(conn, table="confirmation", columns=CONFIRMATION_COLUMNS, tail=sql.CONFIRMATION_ONCE, rows=[(
        item.inbound.account_id, result.confirmation_code, result.confirmation_link, result.forwarded_by, utcnow(),
        message_id)])


CONFIRMATION_COLUMNS = ("account_id", "code", "link", "requested_by", "received_at", "message_id")


def stored(conn: Connection, *, message_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(MESSAGE).where(MESSAGE.c.id == message_id)).mappings().first()
    return dict(row) if row else None
