"""``GET /v1/accounts/{slug}``: is a seller's forwarding working? A seller's key sees its own
account only; an admin key sees every one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from optout.consult import account
from optout.errors import OptoutError
from optout.http import problems
from optout.http.deps import ReadKey, StoreDep


class Confirmation(BaseModel):
    code: str
    link: str | None
    requested_by: str | None
    received_at: str | None


class LastNotice(BaseModel):
    received_at: str | None
    outcome: str
    reason: str | None
    order_id: str | None
    dkim: str | None


class AccountView(BaseModel):
    slug: str
    name: str | None
    enabled: bool
    address: str
    confirmations_pending: list[Confirmation]
    last_notice: LastNotice | None
    messages_by_outcome: dict[str, int]


router = APIRouter()


@router.get("/v1/accounts/{slug}", summary="An account's ingest address, Gmail confirmations waiting, "
            "last notice and what became of its mail", response_model=AccountView,
            responses=problems.documented(401, 403, 404, 422, 503))
def account_get(slug: Annotated[str, Path(max_length=40)], principal: ReadKey, store: StoreDep) -> dict[str, Any]:
    if not principal.admin and slug != principal.account:
        raise HTTPException(403, "this key belongs to another account")
    with store.reading() as conn:
        try:
            return account.summary(conn, slug=slug, domain=store.cfg.ingest_domain)
        except OptoutError:
            raise HTTPException(404, f"no account {slug!r}") from None
