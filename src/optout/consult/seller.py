"""What the seller pages show: an account's setup checklist, its last messages, its entries and
its quarantine; and for the operator, every account, the quarantine by reason, the last export
and what waits for a decision. Plain rows; the words a person reads are in the templates.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from optout.consult.account import waiting_confirmations
from optout.identifiers import ORDER_ID
from optout.recognise.notice import GMAIL_WORDS, UNKNOWN_LANGUAGE
from optout.recognise.result import NOTICE
from optout.record import ingest
from optout.store.models import Account, ApiKey, Entry, ExportRun, Message, Report, Wording, table

MESSAGE = table(Message)
ENTRY = table(Entry)
REPORT = table(Report)
ACCOUNT = table(Account)
EXPORT_RUN = table(ExportRun)
KEY = table(ApiKey)
WORDING = table(Wording)
REVIEW = tuple(str(o) for o in ingest.REVIEW)
DECIDE = ("held", "unverified")  # what the operator accepts or rejects
PREVIEW = 400  # characters of a kept message's text shown in the review list
HEADERS_SHOWN = 32 * 1024  # bytes of a raw message's header block shown on the page


def checklist(conn: Connection, *, account_id: int) -> dict[str, Any]:
    """Per route, what actually arrived: the last message by it, and for direct notices whether
    Amazon's signature verified and which marketplaces they came from."""
    mine = MESSAGE.c.account_id == account_id
    last = dict(conn.execute(select(MESSAGE.c.route, func.max(MESSAGE.c.received_at))
                             .where(mine, MESSAGE.c.route.is_not(None)).group_by(MESSAGE.c.route)).all())
    verified = conn.execute(select(func.max(MESSAGE.c.received_at))
                            .where(mine, MESSAGE.c.route == "direct", MESSAGE.c.dkim == "pass")).scalar()
    markets = conn.execute(select(MESSAGE.c.marketplace).distinct()
                           .where(mine, MESSAGE.c.route == "direct", MESSAGE.c.kind == NOTICE,
                                  MESSAGE.c.marketplace.is_not(None))).scalars()
    gmail_notice = conn.execute(select(func.max(MESSAGE.c.received_at))
                                .where(mine, MESSAGE.c.route == "gmail", MESSAGE.c.kind != "forwarding_confirmation")).scalar()
    return {
        "direct": last.get("direct"), "direct_verified": verified, "marketplaces": sorted(markets),
        "gmail": gmail_notice, "pending": waiting_confirmations(conn, account_id=account_id, since=gmail_notice),
        "outlook": last.get("outlook"), "outlook_by_hand": last.get("outlook-hand"),
        "other_rule": last.get("auto-forward"),
        "by_hand": max((t for t in (last.get("by-hand"), last.get("outlook-hand")) if t), default=None),
        "backfill": last.get("backfill"),
    }


def filter_words(conn: Connection, *, language: str) -> str:
    """The "Has the words" of the seller's Gmail filter, in Gmail's search syntax: English's words,
    the page's language's (built in), and a phrase of each wording taught for that language."""
    words = list(GMAIL_WORDS["en"])
    words += [w for w in GMAIL_WORDS.get(language, ()) if w not in words]
    taught = conn.execute(select(WORDING.c.sentence).where(
        WORDING.c.kind == "notice", WORDING.c.forgotten_at.is_(None),
        or_(WORDING.c.language == language, WORDING.c.language.like(f"{language}-%"))).order_by(WORDING.c.id))
    words += [phrase for (sentence,) in taught if (phrase := _phrase(sentence)) and phrase not in words]
    return " OR ".join(f'"{w}"' for w in words)


def _phrase(sentence: str) -> str:
    """Up to five words of a taught wording, from its longer side of the order ID, without the
    masks a search would not find ("###" the order, "@" an address, "#" a number)."""
    side = max(sentence.split("###"), key=len)
    words = [w for w in side.replace('"', " ").split() if "#" not in w and "@" not in w]
    return " ".join(words[:5])


def messages(conn: Connection, *, account_id: int, page: int, size: int) -> tuple[list[dict[str, Any]], bool]:
    """A page of the account's messages, newest first, and whether there are older ones."""
    rows = conn.execute(
        select(MESSAGE.c.id, MESSAGE.c.received_at, MESSAGE.c.kind, MESSAGE.c.outcome, MESSAGE.c.reason,
               MESSAGE.c.order_id, MESSAGE.c.route, MESSAGE.c.marketplace, MESSAGE.c.resent_count,
               MESSAGE.c.last_resent_at)
        .where(MESSAGE.c.account_id == account_id)
        .order_by(MESSAGE.c.received_at.desc(), MESSAGE.c.id.desc()).offset((page - 1) * size).limit(size + 1)
    ).mappings().all()
    shown = [dict(r) for r in rows[:size]]
    orders = _reported_orders(conn, message_ids=[r["id"] for r in shown])
    for row in shown:  # a mail carrying several notices shows each of their orders
        row["orders"] = orders.get(row["id"]) or ([row["order_id"]] if row["order_id"] else [])
    return shown, len(rows) > size


def _reported_orders(conn: Connection, *, message_ids: list[int]) -> dict[int, list[str]]:
    """The order IDs each message's notices reported, in the mail's order."""
    if not message_ids:
        return {}
    found: dict[int, list[str]] = {}
    query = (select(REPORT.c.message_id, REPORT.c.order_id)
             .where(REPORT.c.message_id.in_(message_ids), REPORT.c.order_id.is_not(None)).order_by(REPORT.c.id))
    for message_id, order_id in conn.execute(query):
        found.setdefault(message_id, []).append(order_id)
    return found


def _entries_query(account_id: int, search: str | None) -> Any:
    live = (REPORT.c.account_id == account_id) & REPORT.c.withdrawn_at.is_(None)
    mine = or_(ENTRY.c.value.in_(select(REPORT.c.order_id).where(live, REPORT.c.order_id.is_not(None))),
               ENTRY.c.value.in_(select(REPORT.c.buyer_email).where(live, REPORT.c.buyer_email.is_not(None))))
    query = select(ENTRY.c.kind, ENTRY.c.value, ENTRY.c.status, ENTRY.c.marketplace, ENTRY.c.first_seen,
                   ENTRY.c.last_seen).where(mine)
    if search:
        query = query.where(ENTRY.c.value.contains(search.strip().lower(), autoescape=True))
    return query.order_by(ENTRY.c.last_seen.desc(), ENTRY.c.id.desc())


def entries(conn: Connection, *, account_id: int, search: str | None, page: int,
            size: int) -> tuple[list[dict[str, Any]], bool]:
    """A page of the entries the account's own reports support (order IDs and buyers)."""
    rows = conn.execute(_entries_query(account_id, search).offset((page - 1) * size).limit(size + 1)).mappings().all()
    return [dict(r) for r in rows[:size]], len(rows) > size


def all_entries(conn: Connection, *, account_id: int, search: str | None) -> list[dict[str, Any]]:
    """Every entry of the account, for the CSV download. Read whole: one seller's entries are
    thousands, and the HTTP side's PostgreSQL reads run outside a transaction, where a
    server-side cursor cannot."""
    return [dict(row) for row in conn.execute(_entries_query(account_id, search)).mappings()]


def quarantine(conn: Connection, *, account_id: int | None, limit: int = 50) -> list[dict[str, Any]]:
    """What waits for review (of one account, or all), newest first, with each message's headers."""
    query = select(MESSAGE.c.id, MESSAGE.c.account_id, MESSAGE.c.received_at, MESSAGE.c.outcome, MESSAGE.c.reason,
                   MESSAGE.c.route, func.substr(MESSAGE.c.raw, 1, HEADERS_SHOWN).label("head"),
                   ACCOUNT.c.slug).join(ACCOUNT, ACCOUNT.c.id == MESSAGE.c.account_id, isouter=True)
    query = query.where(MESSAGE.c.outcome.in_(REVIEW))
    if account_id is not None:
        query = query.where(MESSAGE.c.account_id == account_id)
    rows = conn.execute(query.order_by(MESSAGE.c.id.desc()).limit(limit)).mappings().all()
    return [{**{k: v for k, v in r.items() if k != "head"}, "headers": header_text(r["head"]),
             **summary(r["head"])} for r in rows]


def summary(raw: bytes | None) -> dict[str, Any]:
    """What a person needs to recognise a kept message: its sender, subject, date, the first
    lines of its text, and an order ID its subject or text names. Text only: the page shows it
    escaped, never as markup."""
    if not raw:
        return {"sender": None, "subject": None, "sent": None, "preview": None, "order": None}
    from optout.recognise import mime

    msg = mime.load(bytes(raw))
    subject, text = mime.header(msg, "Subject"), mime.body_text(msg)
    found = ORDER_ID.search(subject) or ORDER_ID.search(text)
    return {"sender": mime.header(msg, "From"), "subject": subject, "sent": _sent(mime.header(msg, "Date")),
            "preview": " ".join(text.split())[:PREVIEW] or None, "order": found[0] if found else None}


def _sent(date: str) -> datetime | str | None:
    """The Date header as a UTC time, for the page to show in the viewer's zone; as written
    when it is no date a parser reads."""
    if not date:
        return None
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return date
    if when.tzinfo is None:
        return when
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def header_text(raw: bytes | None) -> str:
    """A message's header block as text to show (never to render): unfolded as sent, non-UTF-8
    bytes replaced. Empty when the raw message was purged."""
    if not raw:
        return ""
    head = bytes(raw).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    return "\n".join(f"{name}: {value}" for name, value in parsed.items()) if len(parsed) else head.decode("utf-8", "replace")


def keys(conn: Connection, *, account_id: int) -> list[dict[str, Any]]:
    """The account's API keys as the page lists them: the first characters only, never a hash."""
    query = (select(KEY.c.prefix, KEY.c.scope, KEY.c.name, KEY.c.created_at, KEY.c.revoked_at)
             .where(KEY.c.account_id == account_id).order_by(KEY.c.id.desc()))
    return [dict(r) for r in conn.execute(query).mappings()]


def in_account(conn: Connection, *, message_id: int, account_id: int | None) -> bool:
    """Whether the message is in review and (unless the viewer is the operator) the account's."""
    query = select(MESSAGE.c.id).where(MESSAGE.c.id == message_id, MESSAGE.c.outcome.in_(REVIEW))
    if account_id is not None:
        query = query.where(MESSAGE.c.account_id == account_id)
    return conn.execute(query).first() is not None


def overview(conn: Connection) -> dict[str, Any]:
    """The operator's page: accounts, the quarantine by reason, the last export, what waits."""
    notices = MESSAGE.c.kind == NOTICE
    per_account = conn.execute(
        select(ACCOUNT.c.slug, ACCOUNT.c.name, ACCOUNT.c.enabled,
               func.max(MESSAGE.c.received_at).filter(notices).label("last_notice"),
               func.count(MESSAGE.c.id).filter(notices).label("notices"),
               func.count(MESSAGE.c.id).filter(MESSAGE.c.outcome.in_(REVIEW)).label("in_review"))
        .join(MESSAGE, MESSAGE.c.account_id == ACCOUNT.c.id, isouter=True)
        .group_by(ACCOUNT.c.id, ACCOUNT.c.slug, ACCOUNT.c.name, ACCOUNT.c.enabled).order_by(ACCOUNT.c.slug)
    ).mappings().all()
    reasons = conn.execute(select(MESSAGE.c.reason, func.count()).where(MESSAGE.c.outcome == "quarantined")
                           .group_by(MESSAGE.c.reason)).all()
    # an unknown language first: the one reason that means real notices are being missed
    by_reason = sorted(((r or "", int(n)) for r, n in reasons), key=lambda rn: (rn[0] != UNKNOWN_LANGUAGE, -rn[1], rn[0]))
    last_export = conn.execute(select(EXPORT_RUN.c.at, EXPORT_RUN.c.format, EXPORT_RUN.c.rows, EXPORT_RUN.c.path)
                               .order_by(EXPORT_RUN.c.id.desc()).limit(1)).mappings().first()
    waiting = conn.execute(
        select(MESSAGE.c.id, MESSAGE.c.received_at, MESSAGE.c.outcome, MESSAGE.c.reason, MESSAGE.c.order_id,
               ACCOUNT.c.slug).join(ACCOUNT, ACCOUNT.c.id == MESSAGE.c.account_id, isouter=True)
        .where(MESSAGE.c.outcome.in_(DECIDE)).order_by(MESSAGE.c.id.desc()).limit(200)
    ).mappings().all()
    return {"accounts": [dict(a) for a in per_account], "by_reason": by_reason,
            "last_export": dict(last_export) if last_export else None, "waiting": [dict(w) for w in waiting],
            "unknown_language": UNKNOWN_LANGUAGE}
