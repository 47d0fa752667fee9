"""A developer of a sending tool generates a client from the served OpenAPI document
(openapi-python-client) and uses it without reading the README: the key goes in by the declared
security scheme, answers come back as typed models (kind and status as enums, times as
date-times), writes and the changes feed work, a refusal is a typed problem."""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

from conftest import unavailable
from web import LISTED, mint


def test_a_generated_client_works_against_the_server(cli, web, tmp_path: Path) -> None:
    """Generate, import, look up, write, page the feed; a missing key is a 401 Problem."""
    generator = Path(sys.executable).parent / "openapi-python-client"
    if not generator.exists():
        unavailable("openapi-python-client", "pip install -e '.[test]' (it is in the test extras)")
    client, key = web
    spec = tmp_path / "openapi.json"
    spec.write_bytes(client.get("/openapi.json").content)
    out = tmp_path / "optout_generated"
    done = subprocess.run([str(generator), "generate", "--path", str(spec), "--meta", "none", "--output-path", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert done.returncode == 0 and out.is_dir(), done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module("optout_generated")
        from optout_generated.api.default import changes_get, check_get, entries_post
        from optout_generated.models import NewEntry, Problem, Results

        stack = contextlib.ExitStack()
        authed = stack.enter_context(package.AuthenticatedClient(base_url=str(client.base_url), token=key))
        answer = check_get.sync(client=authed, q=[LISTED[0], LISTED[1].upper(), "nobody@example.com"])
        assert isinstance(answer, Results)
        first, second, third = answer.results
        assert first.listed and first.kind.value == "order" and first.status.value == "listed"
        assert second.query == LISTED[1].upper() and second.normalised == LISTED[1] and second.listed
        assert not third.listed
        assert first.first_seen is not None and first.first_seen.year >= 2026  # parsed as a date-time
        writer = stack.enter_context(package.AuthenticatedClient(base_url=str(client.base_url),
                                                                 token=mint(cli, "write", "acme")))
        written = entries_post.sync(client=writer, body=NewEntry(query="new@example.com", reason="asked by phone"))
        assert written.listed and written.new
        page = changes_get.sync(client=authed, limit=100)
        assert {c.normalised for c in page.changes} >= {LISTED[0], LISTED[1], "new@example.com"}
        # POST /v1/check answers in JSON lines: each line reads as the declared Answer or LineError
        from optout_generated.models import Answer, LineError

        lines = client.post("/v1/check", content=f"{LISTED[0]}\nnot a query\n", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "text/plain"}).text.splitlines()
        line = Answer.from_dict(json.loads(lines[0]))
        assert line.listed and line.kind.value == "order" and line.first_seen.year >= 2026
        refused = LineError.from_dict(json.loads(lines[1]))
        assert refused.query == "not a query" and refused.error
        anonymous = stack.enter_context(package.Client(base_url=str(client.base_url)))
        refused = check_get.sync(client=anonymous, q=[LISTED[0]])
        assert isinstance(refused, Problem) and refused.status == 401
        stack.close()
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("optout_generated")]:
            del sys.modules[name]
