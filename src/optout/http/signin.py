"""Signing in to the seller pages: with a link from ``optout accounts link`` or with an API key,
and signing out. A session cookie is set, then the browser is sent to its home page (so the
link's token leaves the address bar). Failed sign-ins are limited per client address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from optout.clock import utcnow
from optout.http import session
from optout.http.deps import StoreDep
from optout.http.language import N_
from optout.http.problems import PageError
from optout.http.render import show
from optout.http.store import Store
from optout.record import signin
from optout.record.signin import Viewer

log = logging.getLogger("optout.http")
router = APIRouter(include_in_schema=False)


def home(viewer: Viewer) -> str:
    return "/admin" if viewer.operator else f"/account/{viewer.slug}"


@router.get("/")
def root(request: Request, store: StoreDep) -> Response:
    viewer = session.viewer(store, request)
    return RedirectResponse(home(viewer) if viewer else "/signin", status_code=303)


@router.get("/signin")
def signin_form(request: Request) -> HTMLResponse:
    return show(request, "signin.html", signed_out=request.query_params.get("out") == "1", error=None)


# Each form: its body is read on the event loop (async), the rest (database work, which may
# wait for SQLite's write lock) in a worker thread, as FastAPI runs a plain `def` route.
@router.post("/signin")
async def signin_key(request: Request, store: StoreDep) -> Response:
    form = await session.checked_form(request)
    return await run_in_threadpool(_sign_in_with_key, request, store, str(form.get("key") or "").strip())


def _sign_in_with_key(request: Request, store: Store, key: str) -> Response:
    try:
        token, viewer = _open_session(request, store, "key", lambda conn: signin.open_with_key(conn, key=key))
    except signin.Refused as refused:
        return show(request, "signin.html", 401, signed_out=False, error=str(refused))
    return _enter(request, token, viewer)


@router.get("/signin/{token}")
def signin_link(request: Request, token: str, store: StoreDep) -> Response:
    try:
        made, viewer = _open_session(request, store, "link", lambda conn: signin.open_with_link(conn, token=token))
    except signin.Refused as refused:
        raise PageError(401, N_("This sign-in link does not work"), str(refused), signin=True) from None
    return _enter(request, made, viewer)


@router.post("/signout")
async def signout(request: Request, store: StoreDep) -> Response:
    await session.checked_form(request)
    return await run_in_threadpool(_sign_out, request, store)


def _sign_out(request: Request, store: Store) -> Response:
    token = session.session_token(request)
    if token:
        with store.writing() as conn:
            signin.end(conn, token=token)
    response = RedirectResponse("/signin?out=1", status_code=303)
    session.forget(request, response)
    return response


def _open_session(request: Request, store: Store, how: str,
                  opening: Callable[[Any], tuple[str, Viewer]]) -> tuple[str, Viewer]:
    """A new session by ``opening`` (a link or a key), within the limit on failed sign-ins;
    a refusal is counted and logged with the client's address (as failed API keys are)."""
    limit: session.SignInLimit = request.app.state.signin_limit
    client = request.client.host if request.client else "unknown"
    limit.check(client)
    try:
        with store.writing() as conn:
            return opening(conn)
    except signin.Refused as refused:
        limit.failed(client)
        log.warning("sign-in failed", extra={"fields": {"client": client, "with": how, "why": str(refused)}})
        raise


def _enter(request: Request, token: str, viewer: Viewer) -> RedirectResponse:
    response = RedirectResponse(home(viewer), status_code=303)
    seconds = int((viewer.expires_at - utcnow()).total_seconds())
    session.remember(request, response, token, seconds)
    return response
