"""The HTTP application: lookups, the changes feed and writes for sending tools, account
views for sellers, ``/healthz``, ``/readyz`` and ``/metrics`` for operators. Routes live in
``lookups``, ``lists`` and ``accounts``; this module holds the database side they share.

Lookups read through a pooled read-only connection (a WAL reader on SQLite, so they never wait
for the listener's commits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from optout.config import Settings
from optout.http import accounts, lists, lookups, metrics, pages, problems
from optout.http.auth import Keys
from optout.http.fastcheck import FastCheck
from optout.http.store import Store
from optout.store import db

log = logging.getLogger("optout.http")
T = TypeVar("T")


def create_app(cfg: Settings, *, worker_alive: Callable[[], bool] | None = None) -> FastAPI:
    """The application; ``worker_alive`` tells /readyz whether the SMTP side's worker runs."""
    app = FastAPI(title="optout", version=_version(),
                  description="The shared list of Amazon buyers who opted out of seller messages: lookups "
                              "and a changes feed for sending tools, writes by hand, account views.")
    store = Store(cfg)
    keys = Keys(store)
    problems.install(app)
    app.add_middleware(FastCheck, store=store, keys=keys)  # added first: the metrics middleware wraps it
    metrics.install(app, store)
    lookups.install(app, store, keys)
    lists.install(app, store, keys)
    accounts.install(app, store, keys)
    pages.install(app, store)

    @app.get("/healthz", summary="The process is up", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok\n"

    @app.get("/readyz", summary="The database answers with the schema this optout needs, and the "
             "SMTP side's worker runs", responses=problems.documented(503))
    def readyz() -> JSONResponse:
        try:
            revision = store.schema()
        except problems.Unavailable as exc:
            return problems.problem(503, f"database unreachable: {exc}")
        if revision != db.SCHEMA_REVISION:
            return problems.problem(503, f"database schema is at {revision}, this optout needs "
                                         f"{db.SCHEMA_REVISION}: run `optout db upgrade`")
        if worker_alive is not None and not worker_alive():
            return problems.problem(503, "the SMTP side's worker process is not running")
        return JSONResponse({"status": "ready", "schema": revision})

    app.state.store = store
    return app


def _version() -> str:
    from optout import __version__

    return __version__
