"""Signing in to the seller pages: links made by ``optout accounts link`` and the browser
sessions they (or an API key) open.

A link is 192 random bits; like API keys, only its SHA-256 is kept, so a copy of the database
opens nothing. A session is the same: a random cookie, its hash in ``websession``, ended when it
expires, when the seller signs out, or when the link or key it was opened with is revoked (the
session is checked against them on every request, so revoking takes effect at once).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from optout.clock import utcnow
from optout.errors import OptoutError
from optout.record.keys import KEY, digest
from optout.store.models import Account, SignInLink, WebSession, table

ACCOUNT = table(Account)
LINK = table(SignInLink)
SESSION = table(WebSession)
KEY_SESSION = timedelta(hours=12)  # a session opened with an API key (the operator's, say)
LONGEST_LINK = timedelta(days=90)
_DURATION = re.compile(r"(\d{1,4})\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Refused(OptoutError):
    """A sign-in that cannot go ahead; the message says why, for the person at the browser."""


@dataclass(frozen=True)
class Viewer:
    """Who a session belongs to: one seller account, or the operator (account None)."""

    session_id: int
    account_id: int | None
    slug: str | None
    expires_at: datetime

    @property
    def operator(self) -> bool:
        return self.account_id is None


def duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d`` or ``2w`` as a timedelta; a one-line error otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found or int(found[1]) == 0:
        raise OptoutError(f"bad duration {text!r}: use a number and m, h, d or w, like 7d")
    valid = timedelta(**{_UNITS[found[2]]: int(found[1])})
    if valid > LONGEST_LINK:
        raise OptoutError(f"a link may be valid for at most {LONGEST_LINK.days} days")
    return valid


def create_link(conn: Connection, *, account_id: int, valid: timedelta) -> tuple[str, datetime]:
    """A new sign-in token for the account (shown once) and when it stops working."""
    token = secrets.token_urlsafe(24)
    now = utcnow()
    conn.execute(LINK.insert().values(account_id=account_id, digest=digest(token), created_at=now,
                                      expires_at=now + valid))
    return token, now + valid


def revoke_links(conn: Connection, *, account_id: int) -> int:
    """Withdraw every live link of the account (and so the sessions opened with them)."""
    return conn.execute(update(LINK).where(LINK.c.account_id == account_id, LINK.c.revoked_at.is_(None))
                        .values(revoked_at=utcnow())).rowcount


def open_with_link(conn: Connection, *, token: str) -> tuple[str, Viewer]:
    """A session for the link's account, lasting as long as the link; Refused if it cannot."""
    row = conn.execute(
        select(LINK.c.id, LINK.c.account_id, LINK.c.expires_at, LINK.c.revoked_at, ACCOUNT.c.enabled)
        .join(ACCOUNT, ACCOUNT.c.id == LINK.c.account_id).where(LINK.c.digest == digest(token))
    ).mappings().first()
    if row is None:
        raise Refused("This sign-in link is not valid: it may have been copied only in part.")
    if row["revoked_at"] is not None:
        raise Refused("This sign-in link was withdrawn.")
    if row["expires_at"] <= utcnow():
        raise Refused("This sign-in link has expired.")
    if not row["enabled"]:
        raise Refused("This account is disabled.")
    return _open(conn, account_id=row["account_id"], expires_at=row["expires_at"], link_id=row["id"])


def open_with_key(conn: Connection, *, key: str) -> tuple[str, Viewer]:
    """A session for an API key's account (or, for an admin key, the operator's)."""
    row = conn.execute(select(KEY.c.id, KEY.c.scope, KEY.c.account_id, ACCOUNT.c.enabled)
                       .outerjoin(ACCOUNT, ACCOUNT.c.id == KEY.c.account_id)
                       .where(KEY.c.digest == digest(key), KEY.c.revoked_at.is_(None))).mappings().first()
    if row is None:
        raise Refused("That key is not valid (or was revoked).")
    account_id = None if row["scope"] == "admin" else row["account_id"]
    if account_id is not None and not row["enabled"]:
        raise Refused("This key's account is disabled.")
    return _open(conn, account_id=account_id, expires_at=utcnow() + KEY_SESSION, key_id=row["id"])


def _open(conn: Connection, *, account_id: int | None, expires_at: datetime, link_id: int | None = None,
          key_id: int | None = None) -> tuple[str, Viewer]:
    token = secrets.token_urlsafe(32)
    conn.execute(SESSION.insert().values(digest=_session_digest(token), account_id=account_id, link_id=link_id,
                                         key_id=key_id, created_at=utcnow(), expires_at=expires_at))
    viewer = session(conn, token=token)
    assert viewer is not None  # just made
    return token, viewer


def session(conn: Connection, *, token: str) -> Viewer | None:
    """The viewer a session cookie stands for, or None when it is unknown, over, or what
    opened it was revoked since."""
    s, link, key = SESSION, LINK.alias("l"), KEY.alias("k")
    row = conn.execute(
        select(s.c.id, s.c.account_id, s.c.expires_at, s.c.ended_at, ACCOUNT.c.slug, ACCOUNT.c.enabled,
               link.c.revoked_at.label("link_revoked"), key.c.revoked_at.label("key_revoked"))
        .outerjoin(ACCOUNT, ACCOUNT.c.id == s.c.account_id)
        .outerjoin(link, link.c.id == s.c.link_id).outerjoin(key, key.c.id == s.c.key_id)
        .where(s.c.digest == _session_digest(token))
    ).mappings().first()
    if row is None or row["ended_at"] is not None or row["expires_at"] <= utcnow():
        return None
    if row["link_revoked"] is not None or row["key_revoked"] is not None:
        return None
    if row["account_id"] is not None and not row["enabled"]:
        return None
    return Viewer(row["id"], row["account_id"], row["slug"], row["expires_at"])


def end(conn: Connection, *, token: str) -> None:
    conn.execute(update(SESSION).where(SESSION.c.digest == _session_digest(token)).values(ended_at=utcnow()))


def purge_sessions(conn: Connection) -> int:
    """Delete sessions that expired or were ended (they open nothing any more); links stay, as
    the record of who was sent one."""
    over = (SESSION.c.expires_at <= utcnow()) | SESSION.c.ended_at.is_not(None)
    return conn.execute(SESSION.delete().where(over)).rowcount


def _session_digest(token: str) -> str:
    # its own prefix, so a session cookie can never be presented as an API key or a link
    return hashlib.sha256(b"session:" + token.encode("ascii", "replace")).hexdigest()

