"""What no route should have to think of, checked before any route runs (pure ASGI middleware):

- a NUL byte in the path or the query is bad input (400), not something for the database to
  choke on (PostgreSQL refuses NUL in text);
- a GET or HEAD for a path with a trailing slash is sent to the path without it, by a relative
  ``Location`` (Starlette's own redirect copies the request's Host header into it);
- a body is refused past its route's limit: by its declared length up front, and as it arrives
  (the bulk lookups take ``http_max_body``; everything else is a small form or JSON object);
- on the API, a request with a body must carry a live key before a byte of it is read.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from optout.http import auth, problems

SMALL_BODY = 64 * 1024  # a sign-in form, a JSON entry: a few hundred bytes
BULK = frozenset({"/v1/check", "/v1/filter"})
READING = frozenset({"GET", "HEAD"})
Scope = dict[str, Any]


class Gate:
    def __init__(self, app: Any, *, keys: auth.Keys, bulk_limit: int) -> None:
        self.app, self.keys, self.bulk_limit = app, keys, bulk_limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, query, method = scope["path"], scope["query_string"], scope["method"]
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            await problems.problem(400, "a NUL byte is not allowed in a path or a query")(scope, receive, send)
            return
        if method in READING:
            if len(path) > 1 and path.endswith("/"):
                await _relative_redirect(path, query)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(scope, path, method)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _limited(receive, self.bulk_limit if path in BULK else SMALL_BODY), send)

    async def _refusal(self, scope: Scope, path: str, method: str) -> Any:
        """The answer to a request refused before its body is read, or None."""
        try:
            known = not path.startswith("/v1/") or await self.keys.of(_header(scope, b"authorization")) is not None
        except problems.Unavailable as down:  # out here no handler turns it into its 503
            return problems.unavailable(down)
        if not known:
            why = "no key" if not _header(scope, b"authorization") else "unknown or revoked key"
            exc = auth.refused(Request(scope), why)
            return problems.problem(exc.status_code, str(exc.detail), dict(exc.headers or {}))
        limit = self.bulk_limit if method == "POST" and path in BULK else SMALL_BODY
        length = _header(scope, b"content-length")
        if length and (not length.isdigit() or int(length) > limit):
            return problems.problem(413, f"the body is {length} bytes; this takes at most {limit:,}")
        return None


def _limited(receive: Any, limit: int) -> Any:
    """``receive`` that refuses (413) a body past ``limit`` bytes as it arrives (a chunked body
    declares no length)."""
    seen = 0

    async def receiving() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"the body passed {limit:,} bytes: send it in parts, or raise the "
                                         "setting http_max_body (bulk lookups)")
        return message

    return receiving


def _relative_redirect(path: str, query: bytes) -> Any:
    from starlette.responses import RedirectResponse

    target = path.rstrip("/") or "/"
    if target.startswith("//"):  # //evil.example would be read as another host
        target = "/" + target.lstrip("/")
    return RedirectResponse(target + ("?" + query.decode("latin-1") if query else ""), status_code=308)


def _header(scope: Scope, name: bytes) -> str:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""
