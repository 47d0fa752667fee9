"""The documented production set-up, for real: a private Postfix instance (Debian's postfix, its
own config directory, spool and loopback port) with deploy/postfix/main.cf and transport, in
front of a real `optout serve` configured as deploy/systemd/optout.env.example says."""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

import mail
from conftest import require_tool, unavailable
from smtp_server import free_port, subprocess_server
from waiting import until

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DOMAIN = "ingest.example.net"


@dataclass
class Front:
    port: int  # where Postfix listens
    hop: int  # where it relays to: the optout listener's port
    conf: Path
    log: Path

    def postfix(self, *args: str) -> str:
        done = subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def flush(self) -> None:
        done = subprocess.run(["postqueue", "-c", str(self.conf), "-f"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if re.search(pattern, line)]


def _documented_env() -> dict[str, str]:
    """The OPTOUT_* limits the example environment file sets for this set-up."""
    wanted = ("OPTOUT_TRUSTED_RELAYS",)
    found = {}
    for line in (DEPLOY / "systemd" / "optout.env.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if key in wanted:
            found[key] = value
    assert set(found) == set(wanted), "optout.env.example must set " + ", ".join(wanted)
    return found


def _certificate(folder: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "front.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    """Postfix with the project's main.cf and transport, relaying to an optout on a free port."""
    for tool in ("postfix", "postconf", "postmap", "postqueue"):
        require_tool(tool, "postfix")
    if os.geteuid() != 0:
        unavailable("root", "a private Postfix instance starts as root (its master drops privileges)")
    # Postfix's own processes run as user postfix: its folders must be reachable by it, which
    # pytest's per-user temporary folders (mode 700) are not.
    base = Path(tempfile.mkdtemp(prefix="optout-postfix-"))
    base.chmod(0o755)
    conf, spool, data = base / "conf", base / "spool", base / "data"
    for folder in (conf, spool, data):
        folder.mkdir(parents=True)
    shutil.chown(data, "postfix")
    port, hop = free_port(), free_port()
    shutil.copy(DEPLOY / "postfix" / "main.cf", conf / "main.cf")
    (conf / "transport").write_text((DEPLOY / "postfix" / "transport").read_text()
                                    .replace("optout.example.com", DOMAIN).replace(":2525", f":{hop}"))
    master = (Path("/etc/postfix/master.cf")).read_text()
    master = re.sub(r"^smtp(\s+)inet", f"127.0.0.1:{port}\\1inet", master, flags=re.M)
    master = re.sub(r"^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)", r"\1n\2", master, flags=re.M)  # no chroot
    if not re.search(r"^postlog\s", master, flags=re.M):
        master += "postlog   unix-dgram n  -       n       -       1       postlogd\n"
    (conf / "master.cf").write_text(master)
    cert, key = _certificate(conf)
    private = {  # what makes it a private instance; every other line is the project's
        "queue_directory": str(spool), "data_directory": str(data), "mail_owner": "postfix",
        "setgid_group": "postdrop", "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
        "myhostname": "front.test", "mydestination": "", "compatibility_level": "3.6",
        "maillog_file_prefixes": str(base), "maillog_file": str(base / "maillog"),
        "relay_domains": DOMAIN, "transport_maps": f"hash:{conf / 'transport'}",
        "smtpd_tls_cert_file": str(cert), "smtpd_tls_key_file": str(key),
        "alias_maps": "", "alias_database": "",  # this instance delivers nothing locally
    }
    subprocess.run(["postconf", "-c", str(conf), "-e", *(f"{k}={v}" for k, v in private.items())], check=True)
    subprocess.run(["postmap", "-c", str(conf), f"hash:{conf / 'transport'}"], check=True)
    pf = Front(port=port, hop=hop, conf=conf, log=base / "maillog")
    pf.postfix("start")
    try:
        until(lambda: pf.log.exists() and pf.lines("daemon started"), what="Postfix to start")
        yield pf
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _listed(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM entry WHERE status = 'listed'")).scalar()


def _send_many(port: int, rcpt: str, orders: list[str], *, connections: int) -> None:
    """Send notices into Postfix over a few connections, as a busy sender would."""
    shares = [orders[i::connections] for i in range(connections)]

    def lane(share: list[str]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for order in share:
                client.sendmail("seller-notification@amazon.com", rcpt, mail.as_bytes(mail.notice("en", order)))

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(lane, shares))


@pytest.mark.slow
def test_burst_through_postfix_unknown_address_and_outage(cli, account, engine, front: Front, tmp_path: Path) -> None:
    """1,000 notices into Postfix reach the list with no deferral; an unknown ingest address is
    refused at RCPT by asking optout; notices queued while optout is stopped are all listed once
    it is back and the queue is flushed."""
    # the per-account volume guard (500 new entries a day) would hold half the burst: not the point here
    env = {**os.environ, **_documented_env(), "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "100000"}
    listener = subprocess_server(front.hop, env=env, log=tmp_path / "optout.log")
    try:
        orders = [f"410-0000000-{i:07d}" for i in range(1000)]
        _send_many(front.port, account["address"], orders, connections=10)
        until(lambda: _listed(engine) == 1000 or front.lines(r"status=deferred"), what="1,000 notices on the list",
              timeout=300)
        assert front.lines(r"status=deferred") == [], front.lines(r"status=deferred")[:3]
        assert len(front.lines(rf"to=<{re.escape(account['address'])}>.*status=sent")) == 1000

        stranger = account["address"].replace("@", "x@")
        def refused() -> int | None:  # Postfix answers 450 while its probe of optout is under way
            with smtplib.SMTP("127.0.0.1", front.port, timeout=60) as client:
                client.ehlo()
                client.mail("seller-notification@amazon.com")
                code = client.rcpt(stranger)[0]
            return code if code != 450 else None
        assert until(refused, what="Postfix's answer for an unknown ingest address", timeout=60) == 550
    finally:
        listener.terminate()
        assert listener.wait(timeout=60) == 0

    queued = [f"411-0000000-{i:07d}" for i in range(20)]
    _send_many(front.port, account["address"], queued, connections=2)  # accepted: the address was verified
    until(lambda: len(front.lines(r"status=deferred")) >= 20, what="the notices to wait in Postfix's queue")
    listener = subprocess_server(front.hop, env=env, log=tmp_path / "optout.log")
    try:
        front.flush()
        until(lambda: _listed(engine) == 1020, what="the queued notices on the list", timeout=120)
    finally:
        listener.terminate()
        listener.wait(timeout=60)
    assert all(row["listed"] for row in cli.checks(*queued))
