"""The listener as an operator runs it: TLS, PROXY protocol, database outages, signals, crashes,
and several listeners sharing one PostgreSQL database."""

from __future__ import annotations

import datetime
import json
import os
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

import mail
from smtp_server import InProcess, free_port, subprocess_server
from waiting import refused, unread_bytes, until


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _client_tls(cert_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_path))
    context.check_hostname = False
    return context


def test_starttls_and_require_starttls(cli, account, cert) -> None:
    """STARTTLS works with the configured certificate; with require_starttls, MAIL needs it."""
    server = InProcess.start(tls_cert=cert[0], tls_key=cert[1], require_starttls=True)
    try:
        with smtplib.SMTP("localhost", server.port) as plain:
            plain.ehlo()
            assert plain.has_extn("starttls")
            assert plain.mail("a@example.com")[0] == 530
        with smtplib.SMTP("localhost", server.port) as secure:
            secure.starttls(context=_client_tls(cert[0]))
            assert secure.sendmail("a@example.com", account["address"], mail.as_bytes(mail.notice())) == {}
    finally:
        server.stop()
    assert cli("check", "112-4455667-7788990").exit_code == 0


def test_proxy_protocol_records_and_limits_the_real_client(account, engine) -> None:
    """Behind a load balancer, the PROXY header's source address is the peer that is kept, and
    the one the per-client connection limit counts."""
    server = InProcess.start(proxy_protocol=True, max_connections_per_client=1)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(f"PROXY TCP4 203.0.113.7 127.0.0.1 40000 {server.port}\r\n".encode())
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"220")
            for command in (b"HELO lb", b"MAIL FROM:<a@example.com>", f"RCPT TO:<{account['address']}>".encode(), b"DATA"):
                sock.sendall(command + b"\r\n")
                reply = reader.readline()
                assert reply[:1] in (b"2", b"3"), reply
            sock.sendall(mail.as_bytes(mail.notice()) + b"\r\n.\r\n")
            assert reader.readline().startswith(b"250 2.0.0")
            second = _proxied(server.port, "203.0.113.7")  # the same client while the first is open
            assert second == b""  # refused: closed without a greeting
            assert _proxied(server.port, "203.0.113.8").startswith(b"220")  # another client is fine
    finally:
        server.stop()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT peer FROM message")).scalar_one() == "203.0.113.7"


def _proxied(port: int, client: str) -> bytes:
    """The first line the server sends after a PROXY header naming ``client``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"PROXY TCP4 {client} 127.0.0.1 40001 {port}\r\n".encode())
        sock.settimeout(5)
        return sock.makefile("rb").readline()


def _lock_database(database_url: str):  # noqa: ANN202
    """Hold the database so no write can pass; returns a function that lets go."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        return lambda: (conn.execute("ROLLBACK"), conn.close())
    import psycopg

    conn = psycopg.connect(database_url)
    conn.execute("LOCK TABLE message IN ACCESS EXCLUSIVE MODE")
    return lambda: (conn.rollback(), conn.close())


def test_database_unavailable_gives_451_then_recovers(cli, account, database_url) -> None:
    """While the database cannot take writes the listener answers 451; afterwards 250 again."""
    server = InProcess.start(db_timeout=0.5)
    try:
        release = _lock_database(database_url)
        try:
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
                    client.sendmail("a@example.com", account["address"], mail.as_bytes(mail.notice()))
            assert deferred.value.smtp_code == 451
        finally:
            release()
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            assert client.sendmail("a@example.com", account["address"], mail.as_bytes(mail.notice())) == {}
    finally:
        server.stop()
    assert cli("check", "112-4455667-7788990").exit_code == 0
    assert json.loads(cli("stats", "--json").stdout)["messages"] == {"listed": 1}


def test_a_locked_database_fails_a_whole_group_at_once(cli, account, database_url) -> None:
    """Ten messages arriving together while the database is locked all get 451 in about two
    db_timeouts, not one db_timeout per message (the group used to be retried one by one)."""
    server = InProcess.start(db_timeout=1.0)
    codes: list[int] = []
    try:
        release = _lock_database(database_url)
        try:
            started = time.monotonic()
            raws = [mail.as_bytes(mail.notice("en", f"304-0000000-{i:07d}")) for i in range(10)]
            with ThreadPoolExecutor(max_workers=10) as pool:
                codes = list(pool.map(lambda raw: _send_code(server.port, account["address"], raw), raws))
            took = time.monotonic() - started
        finally:
            release()
    finally:
        server.stop()
    assert codes == [451] * 10
    assert took < 6, took  # one by one it took 10 s or more
    assert json.loads(cli("stats", "--json").stdout)["messages"] == {}


@pytest.mark.parametrize("to_group", [False, True], ids=["listener", "process-group"])
def test_sigterm_finishes_the_message_in_flight(cli, account, to_group: bool) -> None:
    """SIGTERM: no new connections, the transaction under way completes with 250, exit 0 —
    also when the signal goes to the whole process group (systemd's default, or Ctrl-C in a
    terminal), which reaches the worker too."""
    port = free_port()
    proc = subprocess_server(port)
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo()
    client.mail("seller-notification@amazon.com")
    client.rcpt(account["address"])
    client.putcmd("data")
    assert client.getreply()[0] == 354
    raw = mail.as_bytes(mail.notice("en", "555-0000000-0000001"))
    client.send(raw[:200])
    worker = _worker_of(proc.pid)
    if to_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    until(lambda: refused(port), what="the listener to close its socket on SIGTERM")
    assert _process_state(worker) not in ("gone", "Z"), "the worker must outlive the signal"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    client.send(raw[200:] + b"\r\n.\r\n")
    assert client.getreply()[0] == 250
    client.close()
    assert proc.wait(timeout=40) == 0
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert "outcome=listed" in stderr and "stopped" in stderr
    assert cli("check", "555-0000000-0000001").exit_code == 0


@pytest.mark.slow
def test_sigkill_mid_load_loses_nothing_accepted(cli, account) -> None:
    """A small run of scripts/kill_drill.py: every 250 is on the list after the crash."""
    from kill_drill import run_drill

    result = run_drill(messages=150, kill_after=40, prefix="901")
    assert result["killed"] and result["accepted"] >= 40
    assert result["lost"] == 0, result


@pytest.mark.postgres
@pytest.mark.slow
def test_two_listeners_share_one_postgres(cli, account, database_url) -> None:
    """Two `optout serve` processes receive the same notices at once: one entry, one report each."""
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    ports = [free_port(), free_port()]
    procs = [subprocess_server(port) for port in ports]
    orders = [f"777-0000000-{i:07d}" for i in range(40)]

    def deliver(job: tuple[int, str]) -> dict:
        with smtplib.SMTP("127.0.0.1", job[0], timeout=30) as client:
            return client.sendmail("a@amazon.com", account["address"], mail.as_bytes(mail.notice("en", job[1])))

    jobs = [(port, order) for order in orders for port in ports]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            assert list(pool.map(deliver, jobs)) == [{}] * len(jobs)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            proc.stderr.close()
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["entries_listed"] == 40 and stats["reports"] == 40
    assert stats["messages"] == {"listed": 40}  # the second copy of each is a duplicate, not kept twice


@pytest.mark.postgres
def test_a_dead_database_connection_costs_no_message_a_451(cli, account, database_url) -> None:
    """The worker's pool does not ping at checkout; when PostgreSQL has dropped its connections
    (a restart, a killed backend) the next group is tried again on a new one and gets its 250."""
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    import psycopg

    with _serving() as (port, _):
        for order in ("778-0000000-0000001", "778-0000000-0000002"):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                assert client.sendmail("a@amazon.com", account["address"], mail.as_bytes(mail.notice("en", order))) == {}
            with psycopg.connect(database_url, autocommit=True) as admin:  # every other connection to it
                killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
            assert killed is not None and killed[0] >= 1
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["messages"] == {"listed": 2} and stats["entries_listed"] == 2


def test_json_log_lines_for_log_shippers(cli, account) -> None:
    """--log-format json: one JSON object a line, one line per message, with its outcome."""
    port = free_port()
    proc = subprocess_server(port, "--log-format", "json")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("a@amazon.com", account["address"], mail.as_bytes(mail.notice("en", "666-0000000-0000001")))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    lines = [json.loads(line) for line in proc.stderr.read().decode().splitlines()]
    proc.stderr.close()
    messages = [line for line in lines if line["event"] == "message"]
    assert len(messages) == 1
    assert messages[0]["outcome"] == "listed" and messages[0]["order_id"] == "666-0000000-0000001"
    assert messages[0]["ms"] >= 0 and messages[0]["account"].startswith("acme-")
    assert [line["event"] for line in lines if line["event"] != "message"] == ["listening", "stopped"]


def test_serve_start_up_errors_are_one_line(cli, account, tmp_path: Path) -> None:
    """A port already taken, or a missing TLS certificate: one line, exit 2, no traceback.
    (The real command: in-process, asyncio.run would meet the event loop a browser test leaves.)"""
    def serve(port: int, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "optout", "serve", "--no-http", "--port", str(port)],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=60)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = serve(taken.getsockname()[1])
    assert busy.returncode == 2 and "cannot listen" in busy.stderr and "Traceback" not in busy.stderr
    no_cert = serve(free_port(), OPTOUT_TLS_CERT=str(tmp_path / "missing.pem"))
    assert no_cert.returncode == 2 and "cannot load TLS certificate" in no_cert.stderr
    assert "Traceback" not in no_cert.stderr and len(no_cert.stderr.strip().splitlines()) == 1


def _worker_of(listener_pid: int) -> int:
    """The listener's worker process (its other child is multiprocessing's resource tracker)."""
    for child in Path(f"/proc/{listener_pid}/task/{listener_pid}/children").read_text().split():
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise AssertionError("no worker process")


@contextmanager
def _serving(env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """`optout serve` as a subprocess; afterwards SIGTERM, and it must exit cleanly."""
    port = free_port()
    proc = subprocess_server(port, env=env)
    try:
        yield port, proc
    finally:
        proc.terminate()
        assert proc.wait(timeout=40) == 0
        proc.stderr.close()


def test_a_dead_worker_defers_its_messages_and_is_replaced(cli, account) -> None:
    """The worker killed mid-message: that message gets 451 (not lost: the sender retries);
    a new worker takes the next one, and the retry is stored once."""
    with _serving() as (port, proc):
        worker = _worker_of(proc.pid)
        os.kill(worker, signal.SIGSTOP)  # hold it mid-request, then kill it
        raw = mail.as_bytes(mail.notice("en", "556-0000000-0000001"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            reply = pool.submit(_send_code, port, account["address"], raw)
            until(lambda: unread_bytes(worker) >= len(raw), what="the message to reach the stopped worker")
            os.kill(worker, signal.SIGKILL)
            assert reply.result(timeout=30) == 451
        assert _send_code(port, account["address"], raw) == 250
        assert _worker_of(proc.pid) != worker
    assert cli("check", "556-0000000-0000001").exit_code == 0
    assert json.loads(cli("stats", "--json").stdout)["messages"] == {"listed": 1}


def test_a_wedged_worker_is_killed_after_worker_timeout(cli, account) -> None:
    """A worker that stops answering: after worker_timeout its message gets 451 and a new
    worker takes over."""
    with _serving(env={**os.environ, "OPTOUT_WORKER_TIMEOUT": "2"}) as (port, proc):
        worker = _worker_of(proc.pid)
        os.kill(worker, signal.SIGSTOP)
        raw = mail.as_bytes(mail.notice("en", "557-0000000-0000001"))
        started = time.monotonic()
        assert _send_code(port, account["address"], raw) == 451
        assert 1.5 < time.monotonic() - started < 20
        assert _send_code(port, account["address"], raw) == 250
        assert _worker_of(proc.pid) != worker
    assert cli("check", "557-0000000-0000001").exit_code == 0


def test_worker_exits_when_the_listener_is_killed(account) -> None:
    """SIGKILL of the listener leaves no worker holding the database: it reads end-of-file."""
    port = free_port()
    proc = subprocess_server(port)
    worker = _worker_of(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    proc.stderr.close()
    # Z: exited, not yet reaped by init
    until(lambda: _process_state(worker) in ("gone", "Z"), what="the worker to exit", timeout=10)


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _send_code(port: int, rcpt: str, raw: bytes) -> int:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("seller-notification@amazon.com", rcpt, raw)
        return 250
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code
