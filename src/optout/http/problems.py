"""Errors as RFC 9457 problem details (``application/problem+json``), never a 500 page."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, WithJsonSchema
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from optout.errors import OptoutError

log = logging.getLogger("optout.http")
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          413: "Request body too large", 415: "Unsupported media type", 422: "Unprocessable request",
          429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


Time = Annotated[str | None, WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]})]
Kind = Literal["order", "email"]
Status = Literal["listed", "removed", "expired"]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str


WHY = {400: "A malformed query or body", 401: "No key, or an unknown or revoked one",
       403: "The key's scope or account does not allow this", 404: "No such entry or account",
       413: "The body is over its limit", 415: "A body of another type",
       429: "The account is past its daily limit of new entries",
       422: "A missing or invalid parameter or field", 503: "The database cannot answer now; try again"}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each error it can answer, as a problem document."""
    return {code: {"model": Problem, "description": WHY[code], "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


class PageError(Exception):
    """An error shown as a page: a status, a heading and what to do next."""

    def __init__(self, status: int, title: str, detail: str, *, signin: bool = False,
                 headers: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.signin, self.headers = status, title, detail, signin, headers or {}
        # the title and detail are the catalogues' sentences (marked N_); ``values`` fill the
        # detail's %(name)s slots after it is translated
        self.values = values or {}


class Unavailable(Exception):
    """The database cannot answer now: 503, and the client may try again."""


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        return problem(422, in_our_words(first))

    @app.exception_handler(OptoutError)
    async def _bad(request: Request, exc: OptoutError) -> JSONResponse:
        return problem(400, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        """The client hung up while sending: one log line, and an answer nobody will read."""
        client = request.client.host if request.client else "unknown"
        log.info("client went away", extra={"fields": {"client": client, "path": request.url.path}})
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        """A bug of ours: logged with its traceback (by the server); the answer carries none of it."""
        return problem(500, "something went wrong on our side; the operator's log has the details")


def in_our_words(error: dict[str, Any]) -> str:
    """A validation error of FastAPI's (pydantic's) as the API says it: which parameter or field,
    and what it must be, without the framework's vocabulary."""
    loc = [str(p) for p in error.get("loc", ())]
    where = {"query": "the query parameter", "path": "the path's", "header": "the header", "body": "the body's field"}
    name = f"{where.get(loc[0], loc[0])} {'.'.join(loc[1:])}".strip() if loc else "the request"
    kind, context = error.get("type", ""), error.get("ctx") or {}
    if loc[:1] == ["body"] and (len(loc) == 1 or kind == "json_invalid"):
        name = "the body"
    if kind == "value_error":
        return f"{name}: {context.get('error', 'not valid')}"
    said = {
        "missing": "is required",
        "string_too_short": f"must be at least {context.get('min_length')} character(s) long",
        "string_too_long": f"must be at most {context.get('max_length')} characters long",
        "too_short": f"must be given at least {context.get('min_length')} time(s)",
        "int_parsing": "must be a whole number",
        "greater_than_equal": f"must be at least {context.get('ge')}",
        "less_than_equal": f"must be at most {context.get('le')}",
        "enum": f"must be one of: {context.get('expected')}",
        "literal_error": f"must be one of: {context.get('expected')}",
        "json_invalid": "is not valid JSON",
        "model_attributes_type": "must be a JSON object",
        "dict_type": "must be a JSON object",
        "string_type": "must be a string",
        "string_pattern_mismatch": "is not of the expected form",
    }.get(kind)
    return f"{name} {said}" if said else f"{name} is not valid ({error.get('msg', kind)})"


def unavailable(exc: Unavailable) -> JSONResponse:
    """The API's answer to an outage (``pages.install`` registers the handler that calls it)."""
    return problem(503, "the database cannot answer now; try again", {"Retry-After": "5"})
