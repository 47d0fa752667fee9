"""deploy/ is checked by the tools that will read it: systemd-analyze, postconf and postmap, a
YAML parser for compose; the container file and crontab by their shape."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import require_tool

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
OPTOUT = Path(sys.executable).with_name("optout")


UNITS = ["optout.service", "optout-http.service", "optout-export.service", "optout-export.timer",
         "optout-backup.service", "optout-backup.timer"]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_units_verify_cleanly(unit: str, tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing to say about each unit (paths pointed at this venv)."""
    analyze = require_tool("systemd-analyze", "systemd")
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        text = text.replace("/opt/optout/venv/bin/optout", str(OPTOUT)).replace("/etc/optout/optout.env", str(tmp_path / "env"))
        (tmp_path / name).write_text(text)
    shutil.copy(DEPLOY / "systemd" / "optout.env.example", tmp_path / "env")
    done = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize(("unit", "side"), [("optout.service", "--no-http"), ("optout-http.service", "--no-smtp")])
def test_service_units_are_hardened(unit: str, side: str, tmp_path: Path) -> None:
    """systemd's own security audit rates each service unit as well confined (exposure under
    2.5 of 10, "OK"); each runs one side as its own user with a clean SIGTERM stop."""
    analyze = require_tool("systemd-analyze", "systemd")
    shutil.copy(DEPLOY / "systemd" / unit, tmp_path / unit)
    audit = subprocess.run([analyze, "security", "--offline=yes", "--threshold=25", "--no-pager",
                            str(tmp_path / unit)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 0, audit.stdout[-800:] + audit.stderr
    settings = dict(line.split("=", 1) for line in (tmp_path / unit).read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    assert (settings["User"], settings["KillSignal"]) == ("optout", "SIGTERM")
    assert settings["ExecStart"].endswith(f"optout serve {side}")


def test_env_example_names_only_real_settings() -> None:
    """Every OPTOUT_* in the example environment file is a setting optout knows."""
    from optout.config import Settings

    names = {line.split("=", 1)[0].lstrip("#") for line in (DEPLOY / "systemd" / "optout.env.example").read_text().splitlines()
             if "=" in line and not line.startswith("# ")}
    known = {f"OPTOUT_{field.upper()}" for field in Settings.model_fields}
    assert names and names <= known, names - known


def test_postfix_snippets_are_valid(tmp_path: Path) -> None:
    """postconf reads main.cf without warnings; postmap builds the transport map."""
    require_tool("postconf", "postfix")
    require_tool("postmap", "postfix")
    shutil.copy(DEPLOY / "postfix" / "main.cf", tmp_path / "main.cf")
    if Path("/etc/postfix/master.cf").exists():
        shutil.copy("/etc/postfix/master.cf", tmp_path / "master.cf")
    checked = subprocess.run(["postconf", "-c", str(tmp_path), "-n"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stderr
    assert "transport_maps = hash:/etc/postfix/transport" in checked.stdout
    shutil.copy(DEPLOY / "postfix" / "transport", tmp_path / "transport")
    mapped = subprocess.run(["postmap", "-c", str(tmp_path), f"hash:{tmp_path / 'transport'}"],
                            capture_output=True, text=True, timeout=60)
    assert mapped.returncode == 0, mapped.stderr
    looked_up = subprocess.run(["postmap", "-c", str(tmp_path), "-q", "optout.example.com", f"hash:{tmp_path / 'transport'}"],
                               capture_output=True, text=True, timeout=60)
    assert looked_up.stdout.strip() == "smtp:[127.0.0.1]:2525"


def test_compose_file_wires_listeners_and_http_to_postgres() -> None:
    """compose.yaml parses: two SMTP listeners (with their own /metrics) and the HTTP side, each
    a process of its own on the PostgreSQL service, and nginx with the TLS example in front."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "listener", "http", "proxy", "export"} <= set(services)
    for side in ("listener", "http"):
        assert services[side]["environment"]["OPTOUT_DATABASE_URL"].startswith("postgresql://optout:optout@db:")
        assert services[side]["build"]["dockerfile"] == "deploy/Containerfile"
    assert services["listener"]["deploy"]["replicas"] == 2
    assert services["listener"]["command"][-1].endswith("optout serve --no-http")
    assert services["listener"]["environment"]["OPTOUT_METRICS_PORT"] == "9125"
    assert services["http"]["command"] == ["optout", "serve", "--no-smtp"]
    assert "./proxy/nginx.conf:/etc/nginx/conf.d/optout.conf:ro" in services["proxy"]["volumes"]


def test_proxy_example_terminates_tls_and_guards_metrics() -> None:
    """The nginx example listens with TLS, passes everything to the HTTP side unbuffered (send
    lists stream both ways), forwards the client address, and keeps /metrics inside."""
    conf = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert "listen 443 ssl;" in conf and conf.count("proxy_pass http://127.0.0.1:8025;") == 2
    assert "proxy_request_buffering off;" in conf and "proxy_buffering off;" in conf
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf
    metrics = conf[conf.index("location = /metrics"):conf.index("location / {")]
    assert "deny all;" in metrics


def test_prometheus_example_scrapes_both_sides() -> None:
    """The scrape example parses and names the HTTP side's port and the listener's metrics_port."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "optout.yml").read_text())
    job = config["scrape_configs"][0]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert job["metrics_path"] == "/metrics" and targets == {"127.0.0.1:8025", "127.0.0.1:9125"}


def test_containerfile_installs_and_serves() -> None:
    """The image installs the package as a non-root user and runs the migrations then serve."""
    lines = (DEPLOY / "Containerfile").read_text().splitlines()
    assert lines[next(i for i, line in enumerate(lines) if line.startswith("FROM"))].startswith("FROM python:3.1")
    assert "USER optout" in lines and "STOPSIGNAL SIGTERM" in lines
    assert any("optout db upgrade && exec optout serve" in line for line in lines if line.startswith("CMD"))


def test_crontab_line_has_five_time_fields_and_runs_export() -> None:
    """The crontab example is one entry: five time fields, then the export and purge."""
    entries = [line for line in (DEPLOY / "crontab.example").read_text().splitlines() if line and not line.startswith("#")]
    assert len(entries) == 1
    fields = entries[0].split(None, 5)
    assert fields[:5] == ["30", "2", "*", "*", "*"] and "optout export" in fields[5] and "optout purge" in fields[5]
