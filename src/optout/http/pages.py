"""The seller pages: one page per account (is my forwarding working, what did you list for me,
what is in quarantine) and the operator's overview; signing in is ``http/signin.py``.
Server-rendered, usable without JavaScript; every form carries a CSRF token.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from optout.consult import seller
from optout.consult.lookup import iso
from optout.errors import OptoutError
from optout.http import problems, session
from optout.http.deps import Operator, Seller, StoreDep
from optout.http.language import N_
from optout.http.problems import PageError
from optout.http.render import HEADERS, HERE, language_of, show
from optout.http.store import Store
from optout.record import accounts, quarantine, trust, wordings

PAGE_SIZE = 20
CSV_FIELDS = ("kind", "value", "status", "marketplace", "first_seen", "last_seen")
DONE = {"retried", "accepted", "rejected", "forgotten"}  # what a redirect after a form may report
_DIGITS = re.compile(r"[0-9]{1,6}")  # str.isdigit() admits "²", which int() refuses
MessageId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]  # past it, no database stores the number


router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """The pages' static files, and their errors answered as pages."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(PageError, _page_error)  # type: ignore[arg-type]  # Starlette types handlers for Exception
    app.add_exception_handler(problems.Unavailable, _down)  # type: ignore[arg-type]  # likewise
    app.add_exception_handler(HTTPException, _not_a_page)  # type: ignore[arg-type]  # likewise


async def _not_a_page(request: Request, exc: HTTPException) -> Response:
    """A mistyped address in a browser gets a page it can read; an API client, its problem
    document (told apart by what the request accepts, and the API's own paths)."""
    if (exc.status_code == 404 and not request.url.path.startswith("/v1/")
            and "text/html" in request.headers.get("accept", "")):
        return show(request, "error.html", 404, title=N_("Page not found"),
                    detail=N_("There is no page at this address. Check the link you followed, or start again "
                              "from the link you were sent."), values={}, signin=False)
    return problems.problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def _page_error(request: Request, exc: PageError) -> Response:
    response = show(request, "error.html", exc.status, title=exc.title, detail=exc.detail, values=exc.values,
                    signin=exc.signin)
    response.headers.update(exc.headers)
    return response


async def _down(request: Request, exc: problems.Unavailable) -> Response:
    """A database outage: on a page, a page that says to reload; elsewhere the problem document."""
    if not _is_page(request.url.path):
        return problems.unavailable(exc)
    response = show(request, "error.html", 503, title=N_("Try again in a minute"),
                    detail=N_("The list is not answering right now. Reload this page in a minute; if it "
                              "goes on, tell the person who runs optout for you."), values={}, signin=False)
    response.headers["Retry-After"] = "5"
    return response


@router.get("/account/{slug}")
def account_page(request: Request, slug: str, viewer: Seller, store: StoreDep) -> HTMLResponse:
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
            "filter_words": seller.filter_words(conn, language=language_of(request)),
        }
    return show(request, "account.html", 200, **context, done=_done(request))


@router.get("/account/{slug}/entries.csv")
def entries_csv(request: Request, slug: str, viewer: Seller, store: StoreDep) -> Response:
    search = _search(request)
    with store.reading() as conn:  # read before answering: a database error is a 503, not a cut file
        found = seller.all_entries(conn, account_id=_account(conn, slug)["id"], search=search)

    def rows() -> Iterator[str]:
        yield _csv_line(CSV_FIELDS)
        for entry in found:
            yield _csv_line([entry[f] if "seen" not in f else iso(entry[f]) for f in CSV_FIELDS])

    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="optout-{slug}-entries.csv"'}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


# Each form: its body is read on the event loop (async), the rest (database work, which may
# wait for SQLite's write lock) in a worker thread, as FastAPI runs a plain `def` route.
@router.post("/account/{slug}/messages/{message_id}/retry")
async def retry(request: Request, slug: str, message_id: MessageId, viewer: Seller, store: StoreDep) -> Response:
    await session.checked_form(request)
    outcome = await run_in_threadpool(_retry, store, slug, message_id)
    # back to where the button was: the answer shows beside the message (or, once it left the
    # list, at the top of the page)
    return RedirectResponse(f"/account/{slug}?done=retried&outcome={outcome}&message={message_id}#held-{message_id}",
                            status_code=303)


@router.get("/admin")
def admin(request: Request, viewer: Operator, store: StoreDep) -> HTMLResponse:
    with store.reading() as conn:
        context = seller.overview(conn)
        context["held"] = seller.quarantine(conn, account_id=None, limit=20)
        context["groups"] = wordings.shown_groups(conn)
        context["taught"] = [{**w, "language_name": wordings.language_name(w["language"]) or w["language"]}
                             for w in wordings.listing(conn)]
    return show(request, "admin.html", 200, **context, done=_done(request), language_names=wordings.languages())


WordingId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.post("/admin/wordings/{wording_id}/forget")
async def forget(request: Request, wording_id: WordingId, viewer: Operator, store: StoreDep) -> Response:
    await session.checked_form(request)
    await run_in_threadpool(_forget, store, wording_id)
    return RedirectResponse("/admin?done=forgotten#taught-h", status_code=303)


def _forget(store: Store, wording_id: int) -> None:
    with store.writing() as conn:
        try:
            wordings.forget(conn, wording_id=wording_id)
        except OptoutError as exc:
            raise PageError(404, "Nothing to forget", f"{exc}. Reload the overview.") from None


GroupKey = Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$")]


@router.post("/admin/groups/{key}/preview")
async def preview(request: Request, key: GroupKey, viewer: Operator, store: StoreDep) -> Response:
    """The wording a group would teach, shown before it is saved."""
    form = await session.checked_form(request)
    kind, language = _teaching(form)
    with store.reading() as conn:
        try:
            derived = wordings.derive(conn, target=key)
            wordings.check(sentence=derived.sentence, language=language, kind=kind)
        except OptoutError as exc:
            raise PageError(409, "This cannot be taught", f"{exc}. Reject its messages instead, or list an "
                            "order by hand with optout add.") from None
        messages = next((g.messages for g in wordings.groups(conn) if g.key == key), 0)
    return show(request, "teach.html", 200, key=key, kind=kind, language=language, sentence=derived.sentence,
                subject=derived.subject, messages=messages,
                language_label=wordings.language_name(language) or language)


@router.post("/admin/groups/{key}/teach")
async def teach(request: Request, key: GroupKey, viewer: Operator, store: StoreDep) -> Response:
    form = await session.checked_form(request)
    kind, language = _teaching(form)
    counts = await run_in_threadpool(_teach, store, key, kind, language)
    done = "+".join(f"{n}-{outcome}" for outcome, n in sorted(counts.items()))
    return RedirectResponse(f"/admin?done=taught&outcome={done}#groups-h", status_code=303)


def _teaching(form: Any) -> tuple[str, str]:
    kind, language = str(form.get("kind") or ""), str(form.get("language") or "").strip().lower()
    if kind == "lookalike" and not language:
        language = "other"
    return kind, language


def _teach(store: Store, key: str, kind: str, language: str) -> dict[str, int]:
    with store.writing() as conn:
        try:
            _, counts = quarantine.teach(conn, target=key, language=language, kind=kind, actor="overview (admin key)",
                                       cfg=store.cfg)
        except OptoutError as exc:
            raise PageError(409, "This cannot be taught", f"{exc}.") from None
    return counts


@router.post("/admin/messages/{message_id}/{decision}")
async def decide(request: Request, message_id: MessageId, decision: str, viewer: Operator, store: StoreDep) -> Response:
    await session.checked_form(request)
    if decision not in ("accept", "reject"):
        raise PageError(404, "No such action", "Use the Accept or Reject button on the overview.")
    outcome = await run_in_threadpool(_decide, store, message_id, decision)
    return RedirectResponse(f"/admin?done={decision}ed&outcome={outcome}#waiting", status_code=303)


def _retry(store: Store, slug: str, message_id: int) -> str:
    with store.writing() as conn:
        account = _account(conn, slug)
        if not seller.in_account(conn, message_id=message_id, account_id=account["id"]):
            raise PageError(404, N_("Not in quarantine"), N_("That message is not waiting in this account's "
                                                            "quarantine (it may have been handled already). "
                                                            "Reload the page."))
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
        raise PageError(404, N_("No such account"), N_("There is no account %(slug)r."), values={"slug": slug}) from None


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith(("/signin", "/signout", "/account/", "/admin"))


def _search(request: Request) -> str | None:
    """The entries search box's text (an address is at most 320 characters), or None."""
    return (request.query_params.get("q") or "").strip()[:320] or None


def _page_number(request: Request, name: str) -> int:
    """The page asked for, 1 to 10,000; anything else (``²``, a 5,000-digit number) is page 1."""
    text = request.query_params.get(name, "1")
    return min(int(text), 10_000) if _DIGITS.fullmatch(text) and int(text) > 0 else 1


def _done(request: Request) -> dict[str, str] | None:
    """What the form just posted did, from the redirect's query (words chosen by the template)."""
    done, outcome = request.query_params.get("done"), request.query_params.get("outcome", "")
    if done == "taught":  # "3-listed+1-duplicate": counts and outcomes, nothing else
        parts = [p.split("-", 1) for p in outcome.split("+") if _COUNTED.fullmatch(p)]
        return {"action": done, "outcome": ", ".join(f"{n} {what}" for n, what in parts)}
    if done not in DONE:
        return None
    message = request.query_params.get("message", "")
    return {"action": done, "outcome": outcome if outcome.isalpha() else "",
            "message": message if _DIGITS.fullmatch(message) else ""}


_COUNTED = re.compile(r"[0-9]{1,6}-[a-z]{1,20}")


def _csv_line(values: Any) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula gets a quote
    first (this download is for people opening it in Excel; the export is for programs)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
