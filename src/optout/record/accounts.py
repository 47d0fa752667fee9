"""Seller accounts and their ingest addresses ``<slug>-<token>@<ingest_domain>``.

The token is 80 random bits; the slug in front of it is for people reading logs. Lookup finds
the account by slug and compares the token in constant time, so a stranger learns nothing from
how long a wrong guess takes.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from optout.errors import OptoutError
from optout.store.models import Account, Confirmation, table, utcnow

ACCOUNT = table(Account)
CONFIRMATION = table(Confirmation)
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 chars, 80 bits


def address(account: dict[str, Any], domain: str) -> str:
    return f"{account['slug']}-{account['token']}@{domain}"


def masked(account: dict[str, Any], domain: str) -> str:
    """The address with most of the token hidden, for logs."""
    return f"{account['slug']}-{account['token'][:4]}…@{domain}"


def validate_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug):
        raise OptoutError(
            f"bad account slug {slug!r}: use 1-40 lowercase letters, digits, '-' or '_'"
        )
    return slug


def create(conn: Connection, *, slug: str, name: str | None) -> dict[str, Any]:
    validate_slug(slug)
    if conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.slug == slug)).first():
        raise OptoutError(f"account {slug!r} exists already")
    conn.execute(ACCOUNT.insert().values(slug=slug, name=name, token=new_token(),
                                         enabled=True, created_at=utcnow()))
    return get(conn, slug=slug)


def get(conn: Connection, *, slug: str) -> dict[str, Any]:
    row = conn.execute(select(ACCOUNT).where(ACCOUNT.c.slug == slug)).mappings().first()
    if row is None:
        raise OptoutError(f"no such account: {slug!r}")
    return dict(row)


def all_accounts(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(ACCOUNT).order_by(ACCOUNT.c.slug)).mappings()]


def disable(conn: Connection, *, slug: str, reason: str | None = None) -> dict[str, Any]:
    get(conn, slug=slug)
    conn.execute(update(ACCOUNT).where(ACCOUNT.c.slug == slug)
                 .values(enabled=False, disabled_at=utcnow(), disabled_reason=reason))
    return get(conn, slug=slug)


def rotate(conn: Connection, *, slug: str) -> dict[str, Any]:
    get(conn, slug=slug)
    conn.execute(update(ACCOUNT).where(ACCOUNT.c.slug == slug).values(token=new_token()))
    return get(conn, slug=slug)


def routing_table(conn: Connection) -> dict[str, dict[str, Any]]:
    """The enabled accounts by slug: what the listener routes envelope recipients by."""
    return {row["slug"]: row for row in all_accounts(conn) if row["enabled"]}


def match_recipient(enabled: dict[str, dict[str, Any]], *, recipient: str, domain: str) -> dict[str, Any] | None:
    """The account among ``enabled`` (by slug) that ``recipient`` names, or None.

    Case-insensitive; a ``+tag`` after the token is ignored; only the ingest domain routes.
    """
    slug, token = _split(recipient, domain)
    account = enabled.get(slug) if slug else None
    if account is None or not hmac.compare_digest(account["token"].encode(), token.encode()):
        return None
    return account


def slug_of(recipient: str, domain: str) -> str | None:
    """The slug an envelope recipient names (for logs: never the token), or None."""
    return _split(recipient, domain)[0]


def _split(recipient: str, domain: str) -> tuple[str | None, str]:
    local, _, rcpt_domain = recipient.strip().strip("<>").rpartition("@")
    if rcpt_domain.lower() != domain or "-" not in local:
        return None, ""
    slug, _, token = local.lower().split("+", 1)[0].rpartition("-")
    return slug, token


def confirmations(conn: Connection, *, account_id: int) -> list[dict[str, Any]]:
    query = (
        select(CONFIRMATION.c.code, CONFIRMATION.c.link, CONFIRMATION.c.requested_by,
               CONFIRMATION.c.received_at)
        .where(CONFIRMATION.c.account_id == account_id)
        .order_by(CONFIRMATION.c.received_at.desc())
    )
    return [dict(r) for r in conn.execute(query).mappings()]
