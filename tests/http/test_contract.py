"""Schemathesis against the OpenAPI document a real `optout serve` publishes: generated
requests, valid and not, to every operation; no 500, and every answer (status, content type,
body, headers) is one the document declares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from web import LISTED, Serve, start_serve, stop_serve  # noqa: E402


def _optout(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "optout", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, str]]:
    """A serve of its own (SQLite) for the whole module, seeded, and an admin key."""
    folder = tmp_path_factory.mktemp("contract")
    env = {**os.environ, "OPTOUT_DATABASE_URL": f"sqlite:///{folder / 'optout.db'}"}
    _optout(env, "accounts", "add", "acme")
    for value in LISTED:
        _optout(env, "add", value, "--reason", "seed", "--account", "acme")
    key = json.loads(_optout(env, "keys", "add", "--scope", "admin", "--json"))["key"]
    serve, proc = start_serve(folder, database_url=env["OPTOUT_DATABASE_URL"])
    yield serve, key
    stop_serve(proc)


def test_every_operation_keeps_its_contract(served) -> None:  # noqa: ANN001
    """Each operation in turn (schemathesis's pytest loader does not run under pytest 9, so the
    operations are walked here), with an admin key so that every route is reached."""
    serve, key = served
    schema = schemathesis.openapi.from_url(serve.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/check", "/v1/filter", "/v1/changes", "/v1/entries",
                                              "/v1/entries/{query}", "/v1/accounts/{slug}", "/readyz"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exchange(case) -> None:  # noqa: ANN001
            # positive_data_acceptance is left out: a string the schema admits is not always a
            # buyer address or an order ID, and a 400 saying which is the contract
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"},
                                   excluded_checks=[schemathesis.checks.positive_data_acceptance])

        exchange()
