"""The HTTP side for tests: a real `optout serve` (SMTP and HTTP in one process) on free ports,
API keys minted through the real CLI, and the check every problem answer must pass."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import httpx

from smtp_server import free_port, subprocess_server
from waiting import until

LISTED = ("112-4455667-7788990", "buyer@example.com")


@dataclass
class Serve:
    base: str
    smtp_port: int
    log: Path
    pid: int = 0

    def rss(self) -> int:
        """The server process's resident memory now, in bytes (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def mint(cli, scope: str, account: str | None = None) -> str:  # noqa: ANN001
    """A new API key from `optout keys add`."""
    made = cli("keys", "add", "--scope", scope, *(["--account", account] if account else []), "--json")
    assert made.exit_code == 0, made.output
    return json.loads(made.stdout)["key"]


def answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_serve(tmp_path: Path, **settings: str) -> tuple[Serve, object]:
    """`optout serve` with HTTP on a free port, changes served at once (changes_settle 0) unless
    the caller says otherwise; OPTOUT_* settings by keyword."""
    env = os.environ.copy()
    env["OPTOUT_CHANGES_SETTLE"] = "0"
    env.update({f"OPTOUT_{k.upper()}": v for k, v in settings.items()})
    http_port, smtp_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    proc = subprocess_server(smtp_port, "--http-port", str(http_port), log=log, env=env)
    serve = Serve(f"http://127.0.0.1:{http_port}", smtp_port, log, proc.pid)
    until(lambda: answers(serve.base), what="the HTTP side")
    return serve, proc


def stop_serve(proc) -> None:  # noqa: ANN001
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0


def problem(response: httpx.Response, status: int) -> dict:
    """``response`` is an RFC 9457 problem with ``status``, a title and a detail; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body
