"""API keys for the HTTP side: ``oo_`` and 32 random base32 characters (160 bits).

Only the key's SHA-256 is stored, so a copy of the database gives no one a working key; the key
is shown once, when it is made. A key has a scope (read, write or admin) and, unless it is an
admin key, the seller account it belongs to.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from optout.errors import OptoutError
from optout.store.models import Account, ApiKey, table, utcnow

KEY = table(ApiKey)
ACCOUNT = table(Account)
SCOPES = ("read", "write", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.strip().encode("utf-8", "surrogateescape")).hexdigest()


def create(conn: Connection, *, scope: str, account_id: int | None, name: str | None) -> tuple[str, dict[str, Any]]:
    """A new key and its row: (the key, shown once; the stored row, without it)."""
    if scope not in SCOPES:
        raise OptoutError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    if scope != "admin" and account_id is None:
        raise OptoutError("a read or write key belongs to an account: give --account SLUG")
    key = "oo_" + base64.b32encode(secrets.token_bytes(20)).decode().lower()
    conn.execute(KEY.insert().values(digest=digest(key), prefix=key[:10], scope=scope, account_id=account_id,
                                     name=name, created_at=utcnow()))
    row = conn.execute(select(KEY).where(KEY.c.digest == digest(key))).mappings().one()
    return key, _public(row)


def listing(conn: Connection) -> list[dict[str, Any]]:
    """Every key, with its account's slug (``account``) beside the ID."""
    found = []
    for row in conn.execute(select(KEY, ACCOUNT.c.slug).outerjoin(ACCOUNT, ACCOUNT.c.id == KEY.c.account_id)
                            .order_by(KEY.c.id)).mappings():
        shown = _public(row)
        shown["account"] = row["slug"]
        found.append(shown)
    return found


def revoke(conn: Connection, *, key_id: int) -> dict[str, Any]:
    changed = conn.execute(update(KEY).where(KEY.c.id == key_id, KEY.c.revoked_at.is_(None))
                           .values(revoked_at=utcnow())).rowcount
    if not changed:
        raise OptoutError(f"no live key with ID {key_id}")
    return _public(conn.execute(select(KEY).where(KEY.c.id == key_id)).mappings().one())


def _public(row: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "digest"}
