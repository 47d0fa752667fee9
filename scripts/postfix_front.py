"""A private Postfix instance with the project's deploy/postfix files, in front of an optout
listener: for the test that proves the documented set-up and for scripts/bench_postfix.py.

Private means its own config directory, spool, data directory and loopback port, started with
``postfix -c DIR start`` (as root: Postfix's master drops to user postfix), stopped and removed
by ``stop()``. Everything in main.cf is the project's except the lines that make it private.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loadgen import free_port

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


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

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.conf.parent, ignore_errors=True)


def start(domain: str, hop: int) -> Front:
    """Postfix with the project's main.cf and transport for ``domain``, relaying to 127.0.0.1:``hop``."""
    # Postfix's own processes run as user postfix: its folders must be reachable by it, which
    # a per-user temporary folder (mode 700) is not.
    base = Path(tempfile.mkdtemp(prefix="optout-postfix-"))
    base.chmod(0o755)
    conf, spool, data = base / "conf", base / "spool", base / "data"
    for folder in (conf, spool, data):
        folder.mkdir(parents=True)
    shutil.chown(data, "postfix")
    port = free_port()
    shutil.copy(DEPLOY / "postfix" / "main.cf", conf / "main.cf")
    (conf / "transport").write_text((DEPLOY / "postfix" / "transport").read_text()
                                    .replace("optout.example.com", domain).replace(":2525", f":{hop}"))
    master = Path("/etc/postfix/master.cf").read_text()
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
        "relay_domains": domain, "transport_maps": f"hash:{conf / 'transport'}",
        "smtpd_tls_cert_file": str(cert), "smtpd_tls_key_file": str(key),
        "alias_maps": "", "alias_database": "",  # this instance delivers nothing locally
    }
    subprocess.run(["postconf", "-c", str(conf), "-e", *(f"{k}={v}" for k, v in private.items())], check=True)
    subprocess.run(["postmap", "-c", str(conf), f"hash:{conf / 'transport'}"], check=True)
    front = Front(port=port, hop=hop, conf=conf, log=base / "maillog")
    front.postfix("start")
    deadline = time.monotonic() + 30
    while not (front.log.exists() and front.lines("daemon started")):  # Postfix's own word that it runs
        if time.monotonic() > deadline:
            front.stop()
            raise RuntimeError("Postfix did not start")
        time.sleep(0.05)
    return front


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
