"""The HTTP application: lookups, the changes feed and writes for sending tools, account
views for sellers, the seller pages, ``/healthz``, ``/readyz`` and ``/metrics`` for operators.

Each route module holds an ``APIRouter``; ``create_app`` makes what they share once (the store,
the keys, the limit on failed sign-ins, on ``app.state``, read through ``http/deps.py``) and
includes them. The GET fast path (``http/fastcheck.py``) answers the hot route beneath them.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from optout.config import Settings
from optout.http import accounts, filtering, health, lists, lookups, metrics, pages, problems, session, signin
from optout.http.auth import Keys
from optout.http.docs import DocsPolicy, document
from optout.http.fastcheck import FastCheck
from optout.http.gate import Gate
from optout.http.store import Store


def create_app(cfg: Settings, *, worker_alive: Callable[[], bool] | None = None) -> FastAPI:
    """The application; ``worker_alive`` tells /readyz whether the SMTP side's worker runs."""
    # fastapi-offline: /docs and /redoc load Swagger UI and ReDoc from this server, not a CDN, so
    # the docs work offline and under the pages' no-third-party rule
    app = FastAPIOffline(title="optout", version=_version(), favicon_url="/favicon.ico",
                  generate_unique_id_function=lambda route: route.name,  # operation IDs: check_get, entries_post …
                  description="The shared list of Amazon buyers who opted out of seller messages: lookups "
                              "and a changes feed for sending tools, writes by hand, account views.")
    store = Store(cfg)
    app.state.store = store
    app.state.keys = keys = Keys(store)
    app.state.signin_limit = session.SignInLimit()
    app.state.worker_alive = worker_alive
    app.state.operator = {"name": cfg.operator_name, "contact": cfg.operator_contact, "help": cfg.help_url}
    problems.install(app)
    pages.install(app)  # after problems: on the pages, an outage is a page rather than a problem document
    app.router.redirect_slashes = False  # its redirect copies the Host header; the gate's is relative
    # the last added runs first: the metrics, then the gate, then the GET fast path
    app.add_middleware(DocsPolicy)
    app.add_middleware(FastCheck, store=store, keys=keys)
    app.add_middleware(Gate, keys=keys, bulk_limit=cfg.http_max_body)
    metrics.install(app, store)
    for module in (lookups, filtering, lists, accounts, health, signin, pages):
        app.include_router(module.router)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]  # FastAPI's documented way to extend it
    return app


def _version() -> str:
    from optout import __version__

    return __version__
