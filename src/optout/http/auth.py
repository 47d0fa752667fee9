"""``Authorization: Bearer KEY``: the key's hash is looked up (and remembered a few seconds, so a
busy client costs no query per request); a failure is counted and logged with the client's
address. Scopes: read < write < admin; a read or write key belongs to one seller account, and
stops working with that account (disabled or revoked) as it does when revoked itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cachetools import TTLCache
from fastapi import Request
from starlette.exceptions import HTTPException

from optout.http import metrics
from optout.http.store import Store
from optout.record.keys import digest
from optout.store import sql

log = logging.getLogger("optout.http")
RANK = {"read": 1, "write": 2, "admin": 3}
CACHE_SECONDS = 5.0  # a revoked key, or a disabled account's, stops working within this


@dataclass(frozen=True)
class Principal:
    key_id: int
    scope: str
    account_id: int | None
    account: str | None

    @property
    def admin(self) -> bool:
        return self.scope == "admin"

    @property
    def sees(self) -> str | None:
        """Whose reports this key may see named: None for every account's (the operator's
        key), else its own account's slug."""
        return None if self.admin else (self.account or "")


class Keys:
    """The live keys, remembered for CACHE_SECONDS; one per application (``app.state.keys``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=CACHE_SECONDS)

    async def of(self, header: str) -> Principal | None:
        """The live key an Authorization header names, or None. Async, so a remembered key costs
        no trip to a worker thread."""
        kind, _, key = header.partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            return None
        hashed = digest(key.strip())
        if hashed in self.cache:
            return self.cache[hashed]
        row = await self.store.one(sql.KEY_BY_DIGEST, (hashed,))
        principal = Principal(row[0], row[1], row[2], row[3]) if row else None
        self.cache[hashed] = principal
        return principal

    async def principal(self, request: Request, scope: str) -> Principal:
        """The request's key, at least ``scope``; else 401 (counted and logged) or 403."""
        header = request.headers.get("authorization", "")
        found = await self.of(header)
        if found is None:
            raise refused(request, "no key" if not header else "unknown or revoked key")
        if RANK[found.scope] < RANK[scope]:
            raise HTTPException(403, f"this key's scope is {found.scope}; this needs {scope}")
        return found


def refused(request: Request, why: str) -> HTTPException:
    """A 401 for a request without a live key, counted and logged with the client's address."""
    client = request.client.host if request.client else "unknown"
    metrics.AUTH_FAILURES.inc()
    log.warning("authentication failed", extra={"fields": {"client": client, "path": request.url.path, "why": why}})
    return HTTPException(401, "give a live API key: Authorization: Bearer KEY (optout keys add)",
                         headers={"WWW-Authenticate": "Bearer"})
