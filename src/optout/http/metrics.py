"""Prometheus metrics (prometheus-client): HTTP requests and latency, lookups by result, failed
authentications, and the size of the quarantine, read from the database at each scrape. The
listener's own metrics (listener/metrics.py) live in the same process and are served here too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from optout.store import sql

if TYPE_CHECKING:
    from optout.http.store import Store

REQUESTS = Counter("optout_http_requests_total", "HTTP requests by route and status", ["route", "status"])
LATENCY = Histogram("optout_http_request_seconds", "HTTP request time until the response starts", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
LOOKUPS = Counter("optout_lookups_total", "Queries answered, by endpoint and result", ["endpoint", "result"])
LOOKUP_SECONDS = Histogram("optout_lookup_batch_seconds", "Database time of one batch of lookups")
AUTH_FAILURES = Counter("optout_http_auth_failures_total", "Requests refused for a missing, unknown or revoked key")


def count_lookups(endpoint: str, *, listed: int, not_listed: int, malformed: int = 0) -> None:
    for result, count in (("listed", listed), ("not_listed", not_listed), ("malformed", malformed)):
        if count:
            LOOKUPS.labels(endpoint, result).inc(count)


class _Measure:
    """Pure ASGI middleware (Starlette's BaseHTTPMiddleware cannot stream a request body into a
    streaming response): counts each request by route template and status, and times it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "other")  # the template, not the raw path
                latency, requests = _children(route, message["status"])
                latency.observe(time.perf_counter() - started)
                requests.inc()
            await send(message)

        await self.app(scope, receive, sending)


_CHILDREN: dict[tuple[str, int], tuple[Any, Any]] = {}


def _children(route: str, status: int) -> tuple[Any, Any]:
    """The labelled latency and request series of a route and status, looked up once (labels()
    takes a lock and builds a key on every call)."""
    found = _CHILDREN.get((route, status))
    if found is None:
        found = _CHILDREN[(route, status)] = (LATENCY.labels(route), REQUESTS.labels(route, str(status)))
    return found


class _Quarantine(Collector):
    """Messages waiting for a person, by outcome (quarantined, unverified, held), counted at
    scrape time; nothing when the database cannot answer (the scrape itself still works)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("optout_quarantine_messages", "Messages waiting for review, by outcome",
                                   labels=["outcome"])
        try:
            with self.store.connection() as reader:
                rows = reader.run(sql.REVIEW_COUNTS).fetchall()
                groups = reader.run(sql.WORDING_GROUPS_WAITING).fetchone()
        except Exception:  # the database is away: /readyz says so; the rest of the scrape goes on
            return
        for outcome, count in rows:
            family.add_metric([outcome], count)
        yield family
        yield GaugeMetricFamily("optout_wording_groups_waiting", "Groups of possible notices in an unknown "
                                "language waiting to be taught (optout quarantine groups)", value=groups[0] if groups else 0)


def install(app: FastAPI, store: Store) -> None:
    app.add_middleware(_Measure)
    own = CollectorRegistry(auto_describe=False)  # this app's database, beside the process-wide metrics
    own.register(_Quarantine(store))

    @app.get("/metrics", include_in_schema=False)
    def _metrics() -> Response:
        return Response(generate_latest(REGISTRY) + generate_latest(own), media_type=CONTENT_TYPE_LATEST)
