"""``Authorization: Bearer KEY``: the key's hash is looked up (and remembered a few seconds, so a
busy client costs no query per request); a failure is counted and logged with the client's
address. Scopes: read < write < admin; a read or write key belongs to one seller account."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.exceptions import HTTPException

from optout.http import metrics
from optout.record.keys import digest
from optout.store import sql

if TYPE_CHECKING:
    from optout.http.store import Store

log = logging.getLogger("optout.http")
RANK = {"read": 1, "write": 2, "admin": 3}
CACHE_SECONDS = 5.0  # a revoked key stops working within this


@dataclass(frozen=True)
class Principal:
    key_id: int
    scope: str
    account_id: int | None
    account: str | None


class Keys:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: dict[str, tuple[Principal | None, float]] = {}

    def require(self, scope: str) -> Callable[[Request], Awaitable[Principal]]:
        """A FastAPI dependency: the request's principal, at least ``scope``; else 401 or 403.
        Async, so a remembered key costs no trip to a worker thread."""
        async def dependency(request: Request) -> Principal:
            principal = await self._principal(request)
            if RANK[principal.scope] < RANK[scope]:
                raise HTTPException(403, f"this key's scope is {principal.scope}; this needs {scope}")
            return principal
        return dependency

    async def of(self, header: str) -> Principal | None:
        """The live key an Authorization header names, or None."""
        kind, _, key = header.partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            return None
        hashed = digest(key.strip())
        cached = self.cache.get(hashed)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return await self.store.small(self._lookup, hashed)

    async def _principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        found = await self.of(header)
        if found is None:
            client = request.client.host if request.client else "unknown"
            metrics.AUTH_FAILURES.inc()
            log.warning("authentication failed", extra={"fields": {
                "client": client, "path": request.url.path, "why": "no key" if not header else "unknown or revoked key"}})
            raise HTTPException(401, "give a live API key: Authorization: Bearer KEY (optout keys add)",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def _lookup(self, hashed: str) -> Principal | None:
        with self.store.connection() as conn:
            row = sql.run(conn.cursor(), self.store.dialect, sql.KEY_BY_DIGEST, (hashed,)).fetchone()
        principal = Principal(row[0], row[1], row[2], row[3]) if row else None
        if len(self.cache) > 10_000:
            self.cache.clear()
        self.cache[hashed] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal
