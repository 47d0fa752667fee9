"""Nothing blocks the HTTP side's event loop on PostgreSQL: under asyncio's debug mode (which
reports any step holding the loop past 50 ms), a bulk check of 20,000 queries runs beside GET
lookups, and the log reports no slow step."""

from __future__ import annotations

import threading

import pytest

from web import LISTED, mint, start_serve, stop_serve


def test_a_bulk_check_beside_lookups_never_holds_the_loop(cli, account, tmp_path, database_url, monkeypatch) -> None:
    """PostgreSQL: lookups on asynchronous connections, bulk batches in worker threads."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: on SQLite small reads run on the loop by design (microseconds)")
    for value in LISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    serve, proc = start_serve(tmp_path)
    try:
        with serve.client(key) as client:
            # warm up first: the first request of each kind imports and builds what it needs once
            assert client.get("/v1/check", params={"q": LISTED[0]}).status_code == 200
            assert client.post("/v1/check", content=LISTED[0], headers={"Content-Type": "text/plain"}).status_code == 200
            warm = len(serve.log.read_text())
            answers: list[int] = []

            def lookups() -> None:
                for _ in range(200):
                    answers.append(client.get("/v1/check", params={"q": LISTED[0]}).status_code)

            side = threading.Thread(target=lookups)
            side.start()
            body = "\n".join(f"{n:07d}@example.com" for n in range(20_000))
            bulk = client.post("/v1/check", content=body, headers={"Content-Type": "text/plain"})
            side.join()
        assert bulk.status_code == 200 and len(bulk.text.splitlines()) == 20_000
        assert answers == [200] * 200
    finally:
        stop_serve(proc)
    log = serve.log.read_text()
    assert "slow steps reported" in log  # the mode was on
    serving = log[warm:]  # start-up and the first requests (imports, building the app) come before
    slow = [line for line in serving.splitlines() if "took" in line and "seconds" in line]
    assert not slow, slow[:5]
