"""Fixtures for the HTTP tests: `optout serve` on the test database (each kind), seeded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from web import LISTED, Serve, mint, start_serve, stop_serve


@pytest.fixture
def serve(cli, account, tmp_path) -> Iterator[Serve]:  # noqa: ANN001
    """`optout serve` on the test database, the account `acme` registered."""
    server, proc = start_serve(tmp_path)
    yield server
    stop_serve(proc)


@pytest.fixture
def web(cli, serve) -> Iterator[tuple[httpx.Client, str]]:  # noqa: ANN001
    """The LISTED entries seeded; a client and a read key of the account `acme`."""
    for value in LISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")
    with serve.client() as client:
        yield client, key
