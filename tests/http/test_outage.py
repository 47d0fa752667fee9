"""A database outage under a running `optout serve`: lookups and /readyz answer 503 with a
reason (never a 500, never a stale or empty answer), and both recover by themselves when the
database is back. SQLite: the file is moved away and back. PostgreSQL: the connection runs
through a proxy the test cuts (connections reset, new ones refused) and restores."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tcp_proxy import Proxy
from waiting import until
from web import LISTED, mint, problem, start_serve, stop_serve


def _lookups_then_outage(client: httpx.Client, cut, restore, unused_key: str) -> None:  # noqa: ANN001
    assert client.get("/v1/check", params={"q": LISTED[0]}).json()["results"][0]["listed"]
    cut()
    down = problem(client.get("/v1/check", params={"q": LISTED[0]}), 503)
    assert "database" in down["detail"]
    # a key not yet remembered must be looked up, and cannot be: 503 too, never a 500
    problem(client.get("/v1/check", params={"q": LISTED[0]}, headers={"Authorization": f"Bearer {unused_key}"}), 503)
    assert problem(client.get("/readyz"), 503)["detail"].startswith("database unreachable")
    bulk = client.post("/v1/check", content=LISTED[0], headers={"Content-Type": "text/plain"})
    # refused before the body is read (the key could not be looked up), or, once the answer has started, a last line says why
    assert bulk.status_code == 503 or (bulk.status_code == 200 and "error" in bulk.json()), bulk.text
    restore()
    until(lambda: client.get("/readyz").status_code == 200, what="/readyz to recover", timeout=30)
    assert client.get("/v1/check", params={"q": LISTED[0]}).json()["results"][0]["listed"]


def test_sqlite_file_moved_away_and_back(cli, account, tmp_path, database_url) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: the PostgreSQL leg is the next test")
    for value in LISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")
    path = Path(urlsplit(database_url).path)
    aside = path.with_name("aside.db")
    serve, proc = start_serve(tmp_path)
    try:
        with serve.client(key) as client:
            _lookups_then_outage(client, lambda: os.replace(path, aside), lambda: os.replace(aside, path),
                                 mint(cli, "read", "acme"))
    finally:
        stop_serve(proc)


@pytest.mark.postgres
def test_postgresql_connection_cut_and_restored(cli, account, tmp_path, database_url) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: the SQLite leg is the test before")
    for value in LISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")
    parts = urlsplit(database_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    serve, proc = start_serve(tmp_path, database_url=through)
    try:
        with serve.client(key) as client:
            _lookups_then_outage(client, proxy.cut, proxy.start, mint(cli, "read", "acme"))
    finally:
        stop_serve(proc)
        proxy.cut()
