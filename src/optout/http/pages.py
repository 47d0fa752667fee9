"""The seller pages: sign-in (a link from ``optout accounts link``, or an API key), one page per
account (is my forwarding working, what did you list for me, what is in quarantine) and the
operator's overview. Server-rendered, usable without JavaScript; every form carries a CSRF token.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from optout.clock import utcnow
from optout.consult import seller
from optout.consult.lookup import iso
from optout.errors import OptoutError
from optout.http import problems, session
from optout.http.render import HEADERS, HERE, PageError, page
from optout.record import accounts, quarantine, signin, trust
from optout.record.signin import Viewer

if TYPE_CHECKING:
    from optout.http.store import Store

log = logging.getLogger("optout.http")
PAGE_SIZE = 20
CSV_FIELDS = ("kind", "value", "status", "marketplace", "first_seen", "last_seen")
DONE = {"retried", "accepted", "rejected"}  # what a redirect after a form may report


def install(app: FastAPI, store: Store) -> None:
    limit = session.SignInLimit()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def show(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session.csrf_token(request)
        response = page(request, name, status, **context)
        session.issue(request, response)
        return response

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        response = show(request, "error.html", exc.status, title=exc.title, detail=exc.detail, signin=exc.signin)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(problems.Unavailable)  # in place of the problem document, on the pages
    async def _down(request: Request, exc: problems.Unavailable) -> Response:
        if not _is_page(request.url.path):
            return problems.unavailable(exc)
        log.warning("page unavailable", extra={"fields": {"path": request.url.path, "why": str(exc)}})
        response = show(request, "error.html", 503, title="Try again in a minute",
                        detail="The list is not answering right now. Reload this page in a minute; if it "
                               "goes on, tell the person who runs optout for you.", signin=False)
        response.headers["Retry-After"] = "5"
        return response

    def signed_in(request: Request) -> Viewer:
        found = session.viewer(store, request)
        if found is None:
            raise PageError(401, "Please sign in", "Your session has ended, or you have not signed in on this "
                            "browser yet. Open the newest sign-in link you were sent, or sign in with a key.",
                            signin=True)
        request.state.viewer = found
        return found

    def may_see(request: Request, slug: str) -> Viewer:
        viewer = signed_in(request)
        if not viewer.operator and viewer.slug != slug:
            raise PageError(403, "Not your account", "This page belongs to another seller account. "
                            "Go back to your own page from the link at the top.")
        return viewer

    def operator(request: Request) -> Viewer:
        viewer = signed_in(request)
        if not viewer.operator:
            raise PageError(403, "For the operator only", "This page is for the person who runs optout.")
        return viewer

    def home(viewer: Viewer) -> str:
        return "/admin" if viewer.operator else f"/account/{viewer.slug}"

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def open_session(request: Request, how: str, opening: Callable[[Any], tuple[str, Viewer]]) -> tuple[str, Viewer]:
        """A new session by ``opening`` (a link or a key), within the limit on failed sign-ins;
        a refusal is counted and logged with the client's address (as failed API keys are)."""
        limit.check(client(request))
        try:
            with store.writing() as conn:
                return opening(conn)
        except signin.Refused as refused:
            limit.failed(client(request))
            log.warning("sign-in failed", extra={"fields": {"client": client(request), "with": how, "why": str(refused)}})
            raise

    def enter(request: Request, token: str, viewer: Viewer) -> RedirectResponse:
        response = RedirectResponse(home(viewer), status_code=303)
        seconds = int((viewer.expires_at - utcnow()).total_seconds())
        session.remember(request, response, token, seconds)
        return response

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        viewer = session.viewer(store, request)
        return RedirectResponse(home(viewer) if viewer else "/signin", status_code=303)

    @app.get("/signin", include_in_schema=False)
    def signin_form(request: Request) -> HTMLResponse:
        return show(request, "signin.html", signed_out=request.query_params.get("out") == "1", error=None)

    # Each form: its body is read on the event loop (async), the rest (database work, which may
    # wait for SQLite's write lock) in a worker thread, as FastAPI runs a plain `def` route.
    @app.post("/signin", include_in_schema=False)
    async def signin_key(request: Request) -> Response:
        form = await session.checked_form(request)
        return await run_in_threadpool(sign_in_with_key, request, str(form.get("key") or "").strip())

    def sign_in_with_key(request: Request, key: str) -> Response:
        try:
            token, viewer = open_session(request, "key", lambda conn: signin.open_with_key(conn, key=key))
        except signin.Refused as refused:
            return show(request, "signin.html", 401, signed_out=False, error=str(refused))
        return enter(request, token, viewer)

    @app.get("/signin/{token}", include_in_schema=False)
    def signin_link(request: Request, token: str) -> Response:
        try:
            made, viewer = open_session(request, "link", lambda conn: signin.open_with_link(conn, token=token))
        except signin.Refused as refused:
            raise PageError(401, "This sign-in link does not work",
                            f"{refused} Ask the person who runs optout for you to send you a new link.",
                            signin=True) from None
        return enter(request, made, viewer)

    @app.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        await session.checked_form(request)
        return await run_in_threadpool(sign_out, request)

    def sign_out(request: Request) -> Response:
        token = request.cookies.get(session.SESSION_COOKIE)
        if token:
            with store.writing() as conn:
                signin.end(conn, token=token)
        response = RedirectResponse("/signin?out=1", status_code=303)
        session.forget(request, response)
        return response

    @app.get("/account/{slug}", include_in_schema=False)
    def account_page(request: Request, slug: str) -> HTMLResponse:
        may_see(request, slug)
        search = _search(request)
        at, entries_at = _page_number(request, "page"), _page_number(request, "epage")
        with store.reading() as conn:
            account = _account(conn, slug)
            notices, older = seller.messages(conn, account_id=account["id"], page=at, size=PAGE_SIZE)
            entries, more = seller.entries(conn, account_id=account["id"], search=search, page=entries_at, size=50)
            context: dict[str, Any] = {
                "account": account, "address": accounts.address(account, store.cfg.ingest_domain),
                "checklist": seller.checklist(conn, account_id=account["id"]),
                "notices": notices, "page": at, "older": older,
                "entries": entries, "epage": entries_at, "more_entries": more, "search": search,
                "held": seller.quarantine(conn, account_id=account["id"]),
                "keys": seller.keys(conn, account_id=account["id"]),
            }
        return show(request, "account.html", 200, **context, done=_done(request))

    @app.get("/account/{slug}/entries.csv", include_in_schema=False)
    def entries_csv(request: Request, slug: str) -> Response:
        may_see(request, slug)
        search = _search(request)
        with store.reading() as conn:  # read before answering: a database error is a 503, not a cut file
            found = seller.all_entries(conn, account_id=_account(conn, slug)["id"], search=search)

        def rows() -> Iterator[str]:
            yield _csv_line(CSV_FIELDS)
            for entry in found:
                yield _csv_line([entry[f] if "seen" not in f else iso(entry[f]) for f in CSV_FIELDS])

        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="optout-{slug}-entries.csv"'}
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)

    @app.post("/account/{slug}/messages/{message_id}/retry", include_in_schema=False)
    async def retry(request: Request, slug: str, message_id: int) -> Response:
        await session.checked_form(request)
        return await run_in_threadpool(recognise_again, request, slug, message_id)

    def recognise_again(request: Request, slug: str, message_id: int) -> Response:
        may_see(request, slug)
        outcome = _retry(store, slug, message_id)
        return RedirectResponse(f"/account/{slug}?done=retried&outcome={outcome}#quarantine", status_code=303)

    @app.get("/admin", include_in_schema=False)
    def admin(request: Request) -> HTMLResponse:
        operator(request)
        with store.reading() as conn:
            context = seller.overview(conn)
            context["held"] = seller.quarantine(conn, account_id=None, limit=20)
        return show(request, "admin.html", 200, **context, done=_done(request))

    @app.post("/admin/messages/{message_id}/{decision}", include_in_schema=False)
    async def decide(request: Request, message_id: int, decision: str) -> Response:
        await session.checked_form(request)
        return await run_in_threadpool(decided, request, message_id, decision)

    def decided(request: Request, message_id: int, decision: str) -> Response:
        operator(request)
        if decision not in ("accept", "reject"):
            raise PageError(404, "No such action", "Use the Accept or Reject button on the overview.")
        outcome = _decide(store, message_id, decision)
        return RedirectResponse(f"/admin?done={decision}ed&outcome={outcome}#waiting", status_code=303)


def _retry(store: Store, slug: str, message_id: int) -> str:
    with store.writing() as conn:
        account = _account(conn, slug)
        if not seller.in_account(conn, message_id=message_id, account_id=account["id"]):
            raise PageError(404, "Not in quarantine", "That message is not waiting in this account's quarantine "
                            "(it may have been handled already). Reload the page.")
        done = quarantine.retry(conn, message_id=message_id, policy=trust.policy(store.cfg),
                                verifier=trust.Verifier(store.cfg))
    return str(done.outcome)


def _decide(store: Store, message_id: int, decision: str) -> str:
    with store.writing() as conn:
        if not seller.in_account(conn, message_id=message_id, account_id=None):
            raise PageError(404, "Nothing to decide", "That message is no longer waiting (someone decided "
                            "already). Reload the page.")
        try:
            done = (quarantine.accept(conn, message_id=message_id, verifier=trust.Verifier(store.cfg))
                    if decision == "accept" else quarantine.reject(conn, message_id=message_id))
        except OptoutError as exc:
            raise PageError(409, "Could not accept", f"{exc}. Reject it instead, or leave it.") from None
    return str(done.outcome)


def _account(conn: Any, slug: str) -> dict[str, Any]:
    try:
        return accounts.get(conn, slug=slug)
    except OptoutError:
        raise PageError(404, "No such account", f"There is no account {slug!r}.") from None


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith(("/signin", "/signout", "/account/", "/admin"))


def _search(request: Request) -> str | None:
    """The entries search box's text (an address is at most 320 characters), or None."""
    return (request.query_params.get("q") or "").strip()[:320] or None


def _page_number(request: Request, name: str) -> int:
    text = request.query_params.get(name, "1")
    return min(int(text), 10_000) if text.isdigit() and int(text) > 0 else 1


def _done(request: Request) -> dict[str, str] | None:
    """What the form just posted did, from the redirect's query (words chosen by the template)."""
    done, outcome = request.query_params.get("done"), request.query_params.get("outcome", "")
    return {"action": done, "outcome": outcome if outcome.isalpha() else ""} if done in DONE else None


def _csv_line(values: Any) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula gets a quote
    first (this download is for people opening it in Excel; the export is for programs)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
