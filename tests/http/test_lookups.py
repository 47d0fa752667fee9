"""The HTTP side against a real `optout serve` (SMTP and HTTP in one process) driven by httpx,
on SQLite and PostgreSQL: lookups answer what `optout check --json` prints; every bad input is a
problem-details JSON with the right status; health, readiness and metrics."""

from __future__ import annotations

import json
import os
import socket

import httpx

from optout.store.db import SCHEMA_REVISION
from smtp_server import free_port
from waiting import until
from web import LISTED, problem


def test_get_check_answers_what_the_cli_does(cli, web) -> None:
    """GET /v1/check?q=…&q=… gives, per query, exactly `optout check --json`'s record."""
    client, key = web
    queries = [*LISTED, "nobody@example.com"]
    response = client.get("/v1/check", params=[("q", q) for q in queries], headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json()["results"] == cli.checks(*queries)


def test_post_check_streams_plain_lines_and_json_arrays(cli, web) -> None:
    """POST /v1/check with text/plain lines or a JSON array: JSON lines in order; a malformed
    query gets a line with its error and the rest still answer."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    many = [f"{i:06d}@example.com" for i in range(5000)] + list(LISTED)
    with client.stream("POST", "/v1/check", content="\n".join(many).encode(),
                       headers={**auth, "Content-Type": "text/plain"}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        rows = [json.loads(line) for line in response.iter_lines() if line]
    assert [r["query"] for r in rows] == many
    assert [r["listed"] for r in rows[-2:]] == [True, True] and not any(r["listed"] for r in rows[:-2])
    mixed = client.post("/v1/check", json=["buyer@example.com", "not a query", "112-4455667-7788990"], headers=auth)
    lines = [json.loads(line) for line in mixed.text.splitlines()]
    assert lines[0] == cli.checks("buyer@example.com")[0] and "error" in lines[1] and lines[2]["listed"]


def test_bad_input_is_a_problem_with_the_right_status(web) -> None:
    """No key or a wrong key: 401 with WWW-Authenticate; a malformed query, invalid JSON: 400;
    no q: 422; over 100 q: 400; a declared body over http_max_body: 413; another type: 415."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    missing = client.get("/v1/check", params={"q": LISTED[0]})
    assert problem(missing, 401) and missing.headers["www-authenticate"] == "Bearer"
    problem(client.get("/v1/check", params={"q": LISTED[0]}, headers={"Authorization": "Bearer oo_wrong"}), 401)
    problem(client.get("/v1/check", params={"q": "bad"}, headers=auth), 400)
    problem(client.get("/v1/check", headers=auth), 422)
    problem(client.get("/v1/check", params=[("q", LISTED[0])] * 101, headers=auth), 422)  # validation, as a bad q is
    problem(client.post("/v1/check", content=b'{"a": 1}', headers={**auth, "Content-Type": "application/json"}), 400)
    problem(client.post("/v1/check", content=b"x", headers={**auth, "Content-Type": "text/csv"}), 415)
    # a sender that declares 200 MB (httpx will not send less than it declares: a raw socket does)
    with socket.create_connection((client.base_url.host, client.base_url.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
                     + b"\r\nContent-Type: text/plain\r\nContent-Length: 209715200\r\n\r\na@example.com\n")
        status_line = sock.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def test_health_readiness_and_metrics(web) -> None:
    """/healthz and /readyz answer; /metrics counts the requests and the failed authentication."""
    client, key = web
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/readyz").json() == {"status": "ready", "schema": SCHEMA_REVISION}
    client.get("/v1/check", params={"q": LISTED[0]}, headers={"Authorization": f"Bearer {key}"})
    client.get("/v1/check", params={"q": LISTED[0]})
    text = client.get("/metrics").text
    assert 'optout_http_requests_total{route="/v1/check",status="200"} 1.0' in text
    assert "optout_http_auth_failures_total 1.0" in text
    assert 'optout_lookups_total{endpoint="check",result="listed"} 1.0' in text
    assert client.get("/openapi.json").json()["paths"]["/v1/check"]["get"]


def test_revoked_key_stops_working(cli, web) -> None:
    """A revoked key is refused within the cache time (5 s)."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/check", params={"q": LISTED[0]}, headers=auth).status_code == 200
    key_id = json.loads(cli("keys", "list", "--json").stdout.splitlines()[0])["id"]
    assert cli("keys", "revoke", str(key_id)).exit_code == 0
    until(lambda: client.get("/v1/check", params={"q": LISTED[0]}, headers=auth).status_code == 401,
          what="the revoked key to be refused", timeout=15)


def test_serve_http_port_in_use_is_one_line(cli, account) -> None:
    """`optout serve` with its HTTP port taken: one line, exit 2, and no SMTP side left running."""
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "optout", "serve", "--port", str(free_port()), "--http-port", str(port)],
                              capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "(HTTP)" in done.stderr, done.stderr


def test_a_client_that_sends_everything_before_reading_gets_its_whole_answer(web) -> None:
    """httpx (like requests and fetch) sends the whole body before it reads the answer: 60,000
    queries, whose answer is several megabytes, must not wedge both ends."""
    client, key = web
    many = [f"{i:07d}@example.com" for i in range(60_000)]

    def chunks():  # noqa: ANN202 (a generator body: sent chunked, no length declared)
        for start in range(0, len(many), 5000):
            yield ("\n".join(many[start : start + 5000]) + "\n").encode()

    answer = client.post("/v1/check", content=chunks(), headers={"Authorization": f"Bearer {key}",
                                                                  "Content-Type": "text/plain"})
    rows = answer.text.splitlines()
    assert len(rows) == 60_000 and json.loads(rows[-1])["query"] == many[-1]


def test_a_chunked_body_over_the_limit_is_413(cli, account, tmp_path) -> None:
    """A body sent without a length is counted as it arrives: past http_max_body, 413."""
    from web import mint, start_serve, stop_serve

    key = mint(cli, "read", "acme")
    serve, proc = start_serve(tmp_path, http_max_body="1000")
    try:
        with serve.client(key) as client:
            too_big = client.post("/v1/check", content=iter([b"a@example.com\n"] * 100),
                                  headers={"Content-Type": "text/plain"})
            assert problem(too_big, 413)["detail"].startswith("the body passed 1,000 bytes")
            fits = client.post("/v1/check", content=iter([b"a@example.com\n"] * 10), headers={"Content-Type": "text/plain"})
            assert fits.status_code == 200 and len(fits.text.splitlines()) == 10
    finally:
        stop_serve(proc)


def test_the_smtp_side_alone_serves_its_metrics(account, tmp_path) -> None:
    """`optout serve --no-http` with metrics_port: the listener's metrics on a port of their own
    (the HTTP side may run as another process)."""
    import smtplib

    import mail
    from smtp_server import subprocess_server
    from web import stop_serve

    metrics_port, smtp_port = free_port(), free_port()
    proc = subprocess_server(smtp_port, log=tmp_path / "serve.log",
                             env={**os.environ, "OPTOUT_METRICS_PORT": str(metrics_port)})
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.sendmail("seller-notification@amazon.com", [account["address"]],
                          mail.as_bytes(mail.notice(order="203-5555555-1234567", to=account["address"])))
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert 'optout_messages_total{form="direct",language="en",outcome="listed"} 1.0' in scrape
    finally:
        stop_serve(proc)


def test_the_fast_path_answers_as_the_documented_route(web) -> None:
    """A well-formed GET is answered beneath FastAPI's routing; one with an extra parameter goes
    through the documented route. Both answer the same bytes, and both are counted as the route."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    params = [("q", LISTED[0]), ("q", LISTED[1].upper()), ("q", "nobody@example.org"), ("q", "113-0000000-0000000")]
    fast = client.get("/v1/check", params=params, headers=auth)
    routed = client.get("/v1/check", params=[*params, ("via", "the route")], headers=auth)
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content and fast.headers["content-type"] == routed.headers["content-type"]
    assert [r["listed"] for r in fast.json()["results"]] == [True, True, False, False]
    assert 'optout_http_requests_total{route="/v1/check",status="200"} 2.0' in client.get("/metrics").text


def test_what_the_fast_path_leaves_to_the_route() -> None:
    """Only plainly well-formed query strings are taken; the rest get the route's problem answers."""
    from optout.http.fastcheck import _queries

    assert [q.value for q in _queries(b"q=112-4455667-7788990&q=A%40Example.com")] == [
        "112-4455667-7788990", "a@example.com"]
    for refused in (b"", b"q=", b"q=x", b"q=a@example.com&limit=3", b"&".join([b"q=a@example.com"] * 101)):
        assert _queries(refused) is None, refused
