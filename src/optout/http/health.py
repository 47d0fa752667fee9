"""``/favicon.ico``, ``/healthz`` (the process is up) and ``/readyz`` (the database answers with the schema this
optout needs, and the SMTP side's worker runs) for load balancers and operators."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from optout.http import problems
from optout.http.deps import StoreDep
from optout.store import db

router = APIRouter()


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """Every browser asks for it on every page; the pages' icon."""
    return FileResponse(Path(__file__).parent / "static" / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


@router.get("/healthz", summary="The process is up", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok\n"


@router.get("/readyz", summary="The database answers with the schema this optout needs, and the "
            "SMTP side's worker runs", responses=problems.documented(503))
def readyz(request: Request, store: StoreDep) -> JSONResponse:
    try:
        revision = store.schema()
    except problems.Unavailable:
        return problems.problem(503, "database unreachable (the log says why)")
    if revision != db.SCHEMA_REVISION:
        return problems.problem(503, f"database schema is at {revision}, this optout needs "
                                     f"{db.SCHEMA_REVISION}: run `optout db upgrade`")
    worker_alive: Callable[[], bool] | None = request.app.state.worker_alive
    if worker_alive is not None and not worker_alive():
        return problems.problem(503, "the SMTP side's worker process is not running")
    return JSONResponse({"status": "ready", "schema": revision})
