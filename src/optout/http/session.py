"""Who is at the browser: the session cookie, the CSRF token every form carries, and the limit
on failed sign-ins.

CSRF uses a double-submit token: a random ``optout_csrf`` cookie (HttpOnly, SameSite=Strict) that
every form repeats in a hidden field. Another site can make a browser post a form, but it can
neither read that cookie nor set it, so it cannot repeat it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING

from cachetools import LRUCache
from fastapi import Request, Response
from starlette.datastructures import FormData

from optout.http.language import N_
from optout.http.problems import PageError
from optout.record import signin

if TYPE_CHECKING:
    from optout.http.store import Store

SESSION_COOKIE = "optout_session"
CSRF_COOKIE = "optout_csrf"
# Over TLS the cookies' names take the __Host- prefix: a browser then accepts them only with
# Secure, Path=/ and no Domain, so no other host under the same domain can set or shadow them.
HOST_ONLY = "__Host-"


def secure(request: Request) -> bool:
    """Served over TLS, here or at the proxy in front (which says so in X-Forwarded-Proto)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def cookie_name(request: Request, name: str) -> str:
    """``name`` as this request's cookies carry it: with the __Host- prefix over TLS."""
    return HOST_ONLY + name if secure(request) else name


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


def viewer(store: Store, request: Request) -> signin.Viewer | None:
    """The signed-in viewer, or None."""
    token = session_token(request)
    if not token:
        return None
    with store.reading() as conn:
        return signin.session(conn, token=token)


def remember(request: Request, response: Response, token: str, seconds: int) -> None:
    response.set_cookie(cookie_name(request, SESSION_COOKIE), token, max_age=max(1, seconds), path="/", httponly=True,
                        samesite="lax", secure=secure(request))


def forget(request: Request, response: Response) -> None:
    response.delete_cookie(cookie_name(request, SESSION_COOKIE), path="/", httponly=True, samesite="lax", secure=secure(request))


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (made now if it has none; ``issue`` sets the cookie)."""
    token = request.cookies.get(cookie_name(request, CSRF_COOKIE)) or getattr(request.state, "csrf", None) or secrets.token_urlsafe(24)
    request.state.csrf = token
    return token


def issue(request: Request, response: Response) -> None:
    if request.cookies.get(cookie_name(request, CSRF_COOKIE)) != request.state.csrf:
        response.set_cookie(cookie_name(request, CSRF_COOKIE), request.state.csrf, path="/", httponly=True, samesite="strict",
                            secure=secure(request))


async def checked_form(request: Request) -> FormData:
    """The posted form, once it repeats the CSRF cookie; else 403, saying how to go on."""
    form = await request.form()
    sent, cookie = form.get("csrf"), request.cookies.get(cookie_name(request, CSRF_COOKIE))
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise PageError(403, N_("This form has expired"),
                        N_("The page was open too long, or came from another site. Go back, reload the page "
                           "and try again."))
    return form


class SignInLimit:
    """At most ``failures`` failed sign-ins per client address in ``window`` seconds; after
    that, 429 until the oldest failure leaves the window. Kept in memory: a restart forgets it,
    which costs a guesser nothing worth having against 192-bit links and 160-bit keys."""

    def __init__(self, failures: int = 10, window: float = 900.0) -> None:
        self.failures, self.window = failures, window
        # a flood of addresses forgets the least recently seen ones, not the memory
        self.seen: LRUCache[str, deque[float]] = LRUCache(maxsize=100_000)

    def check(self, client: str) -> None:
        recent = self._recent(client)
        if len(recent) >= self.failures:
            wait = int(recent[0] + self.window - time.monotonic()) + 1
            raise PageError(429, N_("Too many tries"), N_("Too many sign-ins failed from your address. Wait "
                                                          "%(minutes)d minutes, then use the newest link you were "
                                                          "sent."),
                            headers={"Retry-After": str(wait)}, values={"minutes": max(1, wait // 60)})

    def failed(self, client: str) -> None:
        self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        recent = self.seen.get(client)
        if recent is None:
            recent = self.seen[client] = deque()
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        return recent
