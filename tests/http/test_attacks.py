"""The HTTP side under attack, against a real `optout serve` on SQLite and PostgreSQL: a disabled
account's keys and sessions answer nothing; a seller's key never learns who else reports a buyer;
no body is read before the key is checked or past its limit; hostile JSON, numbers and NUL bytes
get 4xx answers, never a 500 or a 503; redirects never name the Host a client sent; a client that
hangs up leaves one log line; API writes obey the volume guard; slow and huge headers are cut off."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from waiting import until
from web import LISTED, mint, problem

ORDER = "303-7654321-1234567"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_disabled_accounts_keys_and_sessions_are_refused(cli, serve) -> None:
    """After `accounts disable`, the account's read key (GET fast path and POST), its write key
    and a sign-in with its key are refused (401, a page for the browser), within the key cache's
    bound; before, they worked."""
    read, write = mint(cli, "read", "acme"), mint(cli, "write", "acme")
    with serve.client() as client:
        assert client.get("/v1/check", params={"q": ORDER}, headers=_bearer(read)).status_code == 200
        assert cli("accounts", "disable", "acme").exit_code == 0
        until(lambda: client.get("/v1/check", params={"q": ORDER}, headers=_bearer(read)).status_code == 401,
              what="the disabled account's read key to be refused")
        problem(client.post("/v1/check", content=ORDER, headers={**_bearer(read), "Content-Type": "text/plain"}), 401)
        problem(client.post("/v1/entries", json={"query": ORDER, "reason": "x"}, headers=_bearer(write)), 401)
        page = client.get("/signin")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        signin = client.post("/signin", data={"key": write, "csrf": csrf})
        assert signin.status_code == 401 and "disabled" in signin.text
    assert cli("check", ORDER).exit_code == 1  # the refused write listed nothing


def test_a_sellers_key_sees_only_its_own_account_among_the_reporters(cli, serve) -> None:
    """Two sellers report the same order, one of them another: each seller's key sees only its
    own slug (or none) in `accounts`, in GET (the fast path and the routed answer) and POST;
    the admin key sees both."""
    assert cli("accounts", "add", "rival").exit_code == 0
    assert cli("add", ORDER, "--reason", "r", "--account", "acme").exit_code == 0
    assert cli("add", ORDER, "--reason", "r", "--account", "rival").exit_code == 0
    assert cli("add", LISTED[0], "--reason", "r", "--account", "rival").exit_code == 0
    acme, admin = mint(cli, "read", "acme"), mint(cli, "admin")
    with serve.client() as client:
        def accounts(key: str, *extra: tuple[str, str]) -> list[list[str]]:
            answer = client.get("/v1/check", params=[("q", ORDER), ("q", LISTED[0]), *extra], headers=_bearer(key))
            return [r["accounts"] for r in answer.json()["results"]]

        assert accounts(acme) == [["acme"], []]
        assert accounts(acme, ("pretty", "1")) == [["acme"], []]  # the routed answer (an extra parameter)
        assert accounts(admin) == [["acme", "rival"], ["rival"]]
        bulk = client.post("/v1/check", content=f"{ORDER}\n{LISTED[0]}\n",
                           headers={**_bearer(acme), "Content-Type": "text/plain"})
        assert [json.loads(line)["accounts"] for line in bulk.text.splitlines()] == [["acme"], []]
        assert "rival" not in client.get("/v1/changes", headers=_bearer(acme)).text


def _chunks(total: int, piece: bytes) -> Iterator[bytes]:
    for _ in range(total // len(piece)):
        yield piece


def test_no_body_is_read_before_the_key_nor_past_its_limit(cli, serve) -> None:
    """POST /v1/entries with no key and a 20 MB body: 401 before the body is read (the server's
    memory does not grow by it); with a write key, a 1 MB JSON body is 413, declared or chunked;
    the sign-in form is bounded too."""
    write = mint(cli, "write", "acme")
    before = serve.rss()
    with serve.client() as client:
        declared = client.post("/v1/entries", content=b"x" * (20 << 20), headers={"Content-Type": "application/json"})
        problem(declared, 401)
        assert serve.rss() - before < 8 << 20
        big = json.dumps({"query": ORDER, "reason": "r" * (1 << 20)})
        problem(client.post("/v1/entries", content=big, headers={**_bearer(write), "Content-Type": "application/json"}),
                413)
        chunked = client.post("/v1/entries", content=_chunks(1 << 20, b" " * 4096),
                              headers={**_bearer(write), "Content-Type": "application/json"})
        problem(chunked, 413)
        problem(client.post("/signin", content=b"key=" + b"k" * (1 << 20),
                            headers={"Content-Type": "application/x-www-form-urlencoded"}), 413)
    assert cli("check", ORDER).exit_code == 1


def test_one_long_line_is_refused_as_it_arrives(cli, web, serve) -> None:
    """A 30 MB line with no newline to POST /v1/check (plain) and /v1/filter: 400 once it passes
    the longest item, and the server's memory stays near where it was."""
    client, key = web
    before = serve.rss()
    for path in ("/v1/check", "/v1/filter"):
        answer = client.post(path, content=_chunks(30 << 20, b"a" * 65536),
                             headers={**_bearer(key), "Content-Type": "text/plain"})
        assert "a line longer than" in problem(answer, 400)["detail"]
    assert serve.rss() - before < 16 << 20


def test_hostile_json_and_numbers_get_their_own_answers(cli, web) -> None:
    """A 5,000-digit number, arrays nested 100,000 deep, a lone surrogate; out-of-range times and
    cursors on /v1/changes: 400 problems (or, once a bulk answer has started, its last line says
    why), never a 500 or a cut answer."""
    client, key = web
    headers = {**_bearer(key), "Content-Type": "application/json"}
    huge = "9" * 5000
    problem(client.post("/v1/check", content=f"[{huge}]", headers=headers), 400)
    after_one = client.post("/v1/check", content=f'["{LISTED[0]}", {huge}]', headers=headers)
    lines = [json.loads(line) for line in after_one.text.splitlines()]
    assert after_one.status_code == 200 and lines[0]["listed"] and "JSON array of strings" in lines[-1]["error"]
    problem(client.post("/v1/check", content="[" * 100_000 + "]" * 100_000, headers=headers), 400)
    lone = client.post("/v1/check", content=b'["\\ud800", "' + LISTED[1].encode() + b'"]', headers=headers)
    assert lone.status_code == 200
    first, second = (json.loads(line) for line in lone.text.splitlines())
    assert "error" in first and second["listed"]
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):  # outside the calendar in UTC
        problem(client.get("/v1/changes", params={"since": since}, headers=_bearer(key)), 400)
    assert client.get("/v1/changes", params={"since": "0001-01-02T00:00:00Z"}, headers=_bearer(key)).json()["changes"]
    import base64

    cursor = base64.urlsafe_b64encode(f"2026-01-01 00:00:00.000000/{2**63}".encode()).decode().rstrip("=")
    problem(client.get("/v1/changes", params={"since": cursor}, headers=_bearer(key)), 400)


def test_page_numbers_and_message_ids_out_of_range_are_not_500(site) -> None:
    """`?page=²`, a 5,000-digit page and a message ID past any database's integers: the page
    (page 1) or a 4xx, never a 500."""
    with site.signed_in(site.link()) as client:
        for page in ("²", "9" * 5000, "-1"):
            assert client.get("/account/acme", params={"page": page, "epage": page}).status_code == 200
        csrf = client.cookies.get("optout_csrf")
        answer = client.post("/account/acme/messages/99999999999999999999/retry", data={"csrf": csrf})
        assert 400 <= answer.status_code < 500


@pytest.mark.parametrize("where", ["search", "reason", "slug", "json"])
def test_a_nul_byte_is_bad_input_not_an_outage(cli, serve, site, where) -> None:
    """NUL in a search box, a DELETE's reason, a slug or a JSON field: 400 or 422, no 503 and
    none of the driver's words (PostgreSQL refuses NUL in text)."""
    write = mint(cli, "write", "acme")
    with site.signed_in(site.link()) as client:
        if where == "search":
            answer = client.get("/account/acme", params={"q": "a\x00b"})
        elif where == "reason":
            answer = client.delete(f"/v1/entries/{ORDER}", params={"reason": "\x00"}, headers=_bearer(write))
        elif where == "slug":
            answer = client.get("/v1/accounts/ac%00me", headers=_bearer(write))
        else:
            answer = client.post("/v1/entries", json={"query": ORDER, "reason": "a\x00"}, headers=_bearer(write))
    assert answer.status_code in (400, 422), answer.text
    assert "0x00" not in answer.text and "NUL (0x00)" not in answer.text


def test_redirects_never_name_the_host_the_client_sent(serve) -> None:
    """A trailing slash is redirected with a relative Location, whatever Host says."""
    with serve.client() as client:
        answer = client.get("/account/acme/", params={"page": "2"}, headers={"Host": "evil.example"})
        assert answer.status_code == 308 and answer.headers["location"] == "/account/acme?page=2"
        assert "evil" not in answer.headers["location"]
        assert client.get("//evil.example/", headers={"Host": "evil.example"}).headers.get("location", "/").startswith("/")


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def test_a_client_that_hangs_up_mid_upload_leaves_one_line_not_a_traceback(cli, serve) -> None:
    """Half a body to /v1/check, /v1/filter and /signin, then the connection closed: the log
    says so in one line each and holds no traceback."""
    key = mint(cli, "read", "acme")
    for path, kind in (("/v1/check", "text/plain"), ("/v1/filter", "text/plain"),
                       ("/signin", "application/x-www-form-urlencoded")):
        with _connect(serve.base) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: {kind}\r\n"
                         f"Content-Length: 10000\r\n\r\n".encode() + b"a@example.com\n" * 100)
    until(lambda: serve.log.read_text().count("client went away") >= 3, what="three one-line reports")
    assert "Traceback" not in serve.log.read_text()


@pytest.mark.serve(daily_new_entries_limit="3")
def test_api_adds_obey_the_daily_volume_guard(cli, serve) -> None:
    """A seller's write key adds up to the daily limit, then 429 with Retry-After; the admin
    key may pass it."""
    write, admin = mint(cli, "write", "acme"), mint(cli, "admin")
    with serve.client() as client:
        for n in range(3):
            assert client.post("/v1/entries", json={"query": f"30{n}-7654321-1234567", "reason": "r"},
                               headers=_bearer(write)).status_code == 201
        over = client.post("/v1/entries", json={"query": "309-7654321-1234567", "reason": "r"}, headers=_bearer(write))
        assert "daily_new_entries_limit" in problem(over, 429)["detail"] and int(over.headers["retry-after"]) > 0
        assert client.post("/v1/entries", json={"query": "309-7654321-1234567", "reason": "r", "account": "acme"},
                           headers=_bearer(admin)).status_code == 201
    assert cli("check", "309-7654321-1234567").exit_code == 0


@pytest.mark.serve(http_header_timeout="1", http_max_header_bytes="16384")
def test_slow_and_huge_headers_are_cut_off(serve) -> None:
    """A head that never ends gets 408 after http_header_timeout; one past http_max_header_bytes
    gets 431; a normal request still works."""
    with _connect(serve.base) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        assert slow.recv(100).startswith(b"HTTP/1.1 408")
    with _connect(serve.base) as huge:
        huge.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(64):
                huge.sendall(b"X-Big: " + b"b" * 1000 + b"\r\n")
        except OSError:  # the server closed as soon as it had seen enough
            pass
        assert huge.recv(100).startswith(b"HTTP/1.1 431")
    assert httpx.get(serve.base + "/healthz").text == "ok\n"


def test_cookies_take_the_host_prefix_over_tls(site) -> None:
    """Served over TLS (the proxy says so), the session and CSRF cookies are __Host- cookies:
    Secure, Path=/, no Domain."""
    with httpx.Client(base_url=site.base, headers={"X-Forwarded-Proto": "https"}) as tls:
        cookie = tls.get(site.link()).headers["set-cookie"]
        assert cookie.startswith("__Host-optout_session=") and "secure" in cookie.lower() and "domain" not in cookie.lower()
        assert tls.get("/signin").headers["set-cookie"].startswith("__Host-optout_csrf=")
