"""The dependencies routes declare (FastAPI's ``Annotated[…, Depends(…)]``): the store, the API
key of the request at the scope a route needs, and for the pages the signed-in viewer.

Each lives on ``app.state`` (made once by ``create_app``), so route modules import this module,
never the application.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from optout.http import session
from optout.http.auth import Keys, Principal
from optout.http.language import N_
from optout.http.problems import PageError
from optout.http.store import Store
from optout.record.signin import Viewer


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def keys_of(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


StoreDep = Annotated[Store, Depends(store_of)]


# Declared so that the OpenAPI document carries the scheme (a generated client then sends the
# key); the key itself is judged by Keys, which answers 401 in the API's own words.
bearer = HTTPBearer(auto_error=False, scheme_name="apiKey",
                    description="An API key from `optout keys add`, as `Authorization: Bearer KEY`")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def read_key(request: Request, _: Bearer) -> Principal:
    return await keys_of(request).principal(request, "read")


async def write_key(request: Request, _: Bearer) -> Principal:
    return await keys_of(request).principal(request, "write")


ReadKey = Annotated[Principal, Depends(read_key)]
WriteKey = Annotated[Principal, Depends(write_key)]


def signed_in(request: Request, store: StoreDep) -> Viewer:
    """The page's viewer; a 401 page that says how to sign in when there is none."""
    found = session.viewer(store, request)
    if found is None:
        raise PageError(401, N_("Please sign in"), N_("Your session has ended, or you have not signed in on this "
                                                      "browser yet. Open the newest sign-in link you were sent, or "
                                                      "sign in with a key."),
                        signin=True)
    request.state.viewer = found
    return found


SignedIn = Annotated[Viewer, Depends(signed_in)]


def seller_of(slug: str, viewer: SignedIn) -> Viewer:
    """The viewer of account ``slug``'s pages: that seller or the operator; else a 403 page."""
    if not viewer.operator and viewer.slug != slug:
        raise PageError(403, N_("Not your account"), N_("This page belongs to another seller account. "
                                                        "Go back to your own page from the link at the top."))
    return viewer


def operator_of(viewer: SignedIn) -> Viewer:
    if not viewer.operator:
        raise PageError(403, N_("For the operator only"), N_("This page is for the person who runs optout."))
    return viewer


Seller = Annotated[Viewer, Depends(seller_of)]
Operator = Annotated[Viewer, Depends(operator_of)]
