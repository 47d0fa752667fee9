"""The list itself over HTTP: the changes feed for systems that keep their own copy, and
writes by hand (``POST /v1/entries``, ``DELETE /v1/entries/{query}``) under the CLI's rules,
with the same history.

Who may remove what: the list is shared, so a seller's write key may take off only an entry
that rests on that seller's own reports alone; anything another account (or an import, or an
operator) vouches for needs an admin key."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi import Query as QueryParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException

from optout.clock import utcnow
from optout.consult import changes
from optout.errors import OptoutError
from optout.http import problems
from optout.http.auth import Principal
from optout.http.deps import ReadKey, StoreDep, WriteKey
from optout.http.problems import Kind, Status, Time
from optout.identifiers import parse_query
from optout.record import accounts, entries, ingest


class NewEntry(BaseModel):
    query: str = Field(description="A buyer address or an order ID", max_length=400)
    reason: str = Field(description="Why; kept in the entry's history", min_length=1, max_length=500)
    account: str | None = Field(None, description="Admin keys: the account this is on behalf of "
                                "(a seller's key always writes for its own account)")

    @field_validator("query", "reason", "account")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("a NUL character is not allowed")
        return value


class Written(BaseModel):
    query: str
    listed: bool
    new: bool = Field(description="false: it was listed already")


class Removed(BaseModel):
    query: str
    listed: bool


class Change(BaseModel):
    normalised: str = Field(description="The entry: an order ID, or a buyer address as /v1/check normalises it")
    value: str = Field(description="The same as normalised (the first version's name for it)")
    kind: Kind
    status: Status
    changed_at: Time
    buyer_email: str | None
    order_ids: list[str]
    marketplace: str | None
    first_seen: Time
    last_seen: Time
    reports: int
    verified: bool
    removed_at: Time
    removed_reason: str | None


class ChangesPage(BaseModel):
    changes: list[Change]
    next: str = Field(description="Give this as ?since= for the next page (or the next poll)")
    more: bool = Field(description="More changes are waiting: ask again at once with ?since=next")


router = APIRouter()


CHANGES = """Keep a copy of the list in step: page through everything from the start (no `since`),
then poll with `since` set to the last page's `next`, an opaque cursor (an ISO 8601 time works
too). `more: true` means ask again at once. A change appears only once it is `changes_settle`
seconds old (60 by default): a writer's transaction that began earlier but committed later
cannot then slip in behind a cursor already handed out. Entries removed or past `expire_days`
come as changes too, with their status."""


@router.get("/v1/changes", summary="Entries listed, removed or expired since a cursor, oldest first",
            description=CHANGES, response_model=ChangesPage, responses=problems.documented(400, 401, 403, 422, 503))
def changes_get(principal: ReadKey, store: StoreDep,
                since: Annotated[str | None, QueryParam(description="The `next` of the last page, or an "
                                                        "ISO 8601 time; none: from the start")] = None,
                limit: Annotated[int, QueryParam(ge=1, le=changes.MAX_PAGE)] = 1000) -> dict[str, Any]:
    after = changes.cursor(since)
    with store.connection() as reader:
        found = changes.page(reader, after=after, limit=limit, expire_days=store.cfg.expire_days,
                             settle=store.cfg.changes_settle)
    return {"changes": found.changes, "next": found.next.token(), "more": found.more}


@router.post("/v1/entries", summary="Put a buyer or an order on the list by hand", response_model=Written,
             status_code=201, responses={200: {"model": Written, "description": "It was listed already"},
                                         **problems.documented(400, 401, 403, 404, 413, 422, 429, 503)})
def entries_post(entry: NewEntry, principal: WriteKey, store: StoreDep) -> JSONResponse:
    query = parse_query(entry.query)
    if entry.account and not principal.admin and entry.account != principal.account:
        raise HTTPException(403, "a seller's key writes for its own account only")
    with store.writing() as conn:
        slug = entry.account or principal.account
        account_id = known(conn, slug)["id"] if slug else None
        if not principal.admin and account_id is not None:
            _within_daily_limit(conn, account_id, store.cfg.daily_new_entries_limit)
        new = entries.add_by_hand(conn, query=query, reason=entry.reason, account_id=account_id,
                                  actor=_actor(principal))
    return JSONResponse({"query": query.value, "listed": True, "new": new}, status_code=201 if new else 200)


@router.delete("/v1/entries/{query}", summary="Take a buyer or an order off the list; its history is kept",
               response_model=Removed, responses=problems.documented(400, 401, 403, 404, 422, 503))
def entries_delete(query: Annotated[str, Path(description="A buyer address or an order ID")],
                   reason: Annotated[str, QueryParam(min_length=1, max_length=500, description="Why")],
                   principal: WriteKey, store: StoreDep) -> dict[str, Any]:
    parsed = parse_query(query)
    with store.writing() as conn:
        if not principal.admin:
            vouching = entries.supporters(conn, value=parsed.value) - {str(principal.account_id)}
            if vouching:
                raise HTTPException(403, "other accounts, an import or an operator also listed this entry: "
                                         "only an admin key can remove it")
        if not entries.remove(conn, query=parsed, reason=reason, actor=_actor(principal)):
            raise HTTPException(404, f"{parsed.value} is not listed")
    return {"query": parsed.value, "listed": False}


def known(conn: Any, slug: str) -> dict[str, Any]:
    """The account, or 404."""
    try:
        return accounts.get(conn, slug=slug)
    except OptoutError:
        raise HTTPException(404, f"no account {slug!r}") from None


def _within_daily_limit(conn: Any, account_id: int, limit: int) -> None:
    """The volume guard notices obey, for a seller's key: past the account's daily limit of new
    entries, 429 until midnight UTC. A notice past it is held for the operator to review; an API
    add has no message to review, so it is refused instead, and only the admin key passes."""
    if ingest.listed_today(conn, account_id=account_id) >= limit:
        now = utcnow()
        wait = int((datetime.combine(now.date() + timedelta(days=1), time()) - now).total_seconds()) + 1
        raise HTTPException(429, f"this account has added {limit} new entries today (setting "
                                 "daily_new_entries_limit); the operator's admin key can add more",
                            headers={"Retry-After": str(wait)})


def _actor(principal: Principal) -> str:
    """Who did it, in the entry's history: the account (or "admin") and which key."""
    return f"{principal.account or 'admin'} (API key {principal.key_id})"
