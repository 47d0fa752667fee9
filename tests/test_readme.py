"""The README's commands run as printed, on a copy of a fresh clone: `optout serve` with its
defaults (SQLite under ./optout-data) in a scratch folder, then the blocks marked
`<!-- readme-test: NAME -->`, each by bash with `set -e`, twice, in that folder (which has the
repository's `examples/` and its `.venv`, as a clone that ran the quick start would).

The one change: the ports. The README's 2525 and 8025 may be a developer's own `optout serve`
(the quick start leaves one running), so the test's serve takes free ports and the blocks are
run with those in place of 2525 and 8025."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tool
from smtp_server import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]


def blocks() -> dict[str, str]:
    """The README's tested shell blocks by name."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- readme-test: ([\w-]+) -->\n```sh\n(.*?)```", text, re.S))


@pytest.fixture
def clone(tmp_path: Path):  # noqa: ANN201
    """A scratch folder laid out as a clone after the quick start, with `optout serve` running."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the virtual environment these tests run in
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    smtp, http = free_port(), free_port()
    serving = {**env, "OPTOUT_SMTP_PORT": str(smtp), "OPTOUT_HTTP_PORT": str(http)}
    proc = subprocess.Popen([str(tmp_path / ".venv/bin/optout"), "serve"], cwd=tmp_path, env=serving,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert wait_port(smtp, timeout=30) and wait_port(http, timeout=30), "optout serve did not start"
    yield tmp_path, env, {"2525": str(smtp), "8025": str(http)}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"next step" in err  # a first start says what to do next


def run(block: str, cwd: Path, env: dict[str, str], ports: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for printed, used in ports.items():
        block = block.replace(f"127.0.0.1:{printed}", f"127.0.0.1:{used}")
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_quick_start_and_the_api_examples_run_as_printed(clone) -> None:
    """try-it: an account, the example notice mailed with swaks, `optout check` says LISTED;
    api: every curl line of the HTTP section answers without an HTTP error."""
    require_tool("swaks", "swaks")
    require_tool("curl", "curl")
    folder, env, ports = clone
    found = blocks()
    assert set(found) >= {"try-it", "api"}
    for _ in range(2):  # safe to run again, as a person trying it will
        tried = run(found["try-it"], folder, env, ports)
        assert tried.returncode == 0, tried.stdout + tried.stderr
        assert "112-4455667-7788990\tLISTED" in tried.stdout
        api = run(found["api"].replace("curl -sS", "curl -sS --fail-with-body"), folder, env, ports)
        assert api.returncode == 0, api.stdout + api.stderr
        first, _ = json.JSONDecoder().raw_decode(api.stdout)  # curl prints the answers one after another
        assert first["results"][0]["listed"] is True
        assert '"new": true' in api.stdout or '"new":true' in api.stdout
