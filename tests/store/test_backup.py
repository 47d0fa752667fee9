"""Backup and restore on both engines: a backup taken while the real listener takes a steady
stream of notices holds every notice answered 250 before it began; it restores into a fresh
SQLite file and a fresh PostgreSQL database, equal table by table; the restored PostgreSQL
deployment serves (an old key answers, a new notice to an old ingest address lists). Damaged,
cut-short and newer-schema files, and a target that is not empty, are refused with one line
and nothing changed; a backup of an older schema restores and is migrated."""

from __future__ import annotations

import gzip
import hashlib
import json
import smtplib
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

import mail
from waiting import until
from web import mint, start_serve, stop_serve

TABLES = ("account", "entry", "event", "message", "report", "accountday", "apikey", "refusal", "confirmation",
          "importrun", "exportrun", "signinlink", "wording")


class Load:
    """Notices sent one after another on one SMTP connection until stopped: when each was
    answered, with what, and how long each took."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address = port, address
        self.answered: list[tuple[float, str, int]] = []  # (time of the answer, order ID, code)
        self.slowest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            number = 0
            while not self.stop.is_set() and number < 5000:
                order = f"171-{number:07d}-{7000000 + number:07d}"
                raw = mail.as_bytes(mail.notice("de", order, msgid=f"<load{number}@amazon.de>"))
                started = time.monotonic()
                try:
                    client.sendmail("donotreply@amazon.de", [self.address], raw)
                    code = 250
                except smtplib.SMTPResponseException as exc:
                    code = exc.smtp_code
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.answered.append((time.monotonic(), order, code))
                number += 1

    def __enter__(self) -> Load:
        self.thread.start()
        until(lambda: len(self.answered) >= 20, what="the first notices")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def _rows(url: str) -> dict[str, list[tuple]]:
    """Every table's rows as Python values (datetimes, booleans, bytes alike on either engine)."""
    from sqlmodel import SQLModel

    import optout.store.models  # noqa: F401
    from optout.store import db

    eng = create_engine(db.sqlalchemy_url(url))
    try:
        with eng.connect() as conn:
            return {name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for name, table in SQLModel.metadata.tables.items() if name in TABLES}
    finally:
        eng.dispose()


def _restore(cli, monkeypatch, url: str, path: Path):  # noqa: ANN001, ANN202
    monkeypatch.setenv("OPTOUT_DATABASE_URL", url)
    return cli("restore", str(path), "--json")


def test_backup_under_load_restores_into_both_engines(cli, account, listener, database_url, tmp_path, monkeypatch,
                                                      spare_postgres) -> None:
    """While notices keep coming: each gets 250 and none waits a second; every notice answered
    before the backup began is in both restores; all tables equal between the two restores."""
    cli("keys", "add", "--scope", "read", "--account", "acme", "--json")
    cli("add", "171-9999999-9999999", "--reason", "phoned in")
    cli("remove", "171-9999999-9999999", "--reason", "mistake")  # history: listed, then removed
    path = tmp_path / "optout.backup"
    with Load(listener.port, account["address"]) as load:
        until(lambda: len(load.answered) >= 60, what="notices before the backup")
        began = time.monotonic()
        done = cli("backup", str(path), "--json")
        until(lambda: load.answered[-1][0] > time.monotonic() - 0.2 and len(load.answered) > 80,
              what="notices after the backup")
    assert done.exit_code == 0, done.output
    assert {code for _, _, code in load.answered} == {250}
    assert load.slowest < 1.0, f"a notice waited {load.slowest:.2f} s"
    before = [order for at, order, _ in load.answered if at < began]
    sqlite_url = f"sqlite:///{tmp_path / 'restored' / 'optout.db'}"
    for url in (sqlite_url, spare_postgres):
        restored = _restore(cli, monkeypatch, url, path)
        assert restored.exit_code == 0, restored.output
        assert all(r["listed"] for r in cli.checks(*before)), url
    assert _rows(sqlite_url) == _rows(spare_postgres)
    monkeypatch.setenv("OPTOUT_DATABASE_URL", database_url)
    source = _rows(database_url)
    restored = _rows(sqlite_url)
    for name in ("account", "apikey", "wording", "exportrun"):
        assert restored[name] == source[name], name
    for name in ("message", "report", "event"):  # what the snapshot held is as it was then
        taken = {row[0] for row in restored[name]}
        assert [r for r in source[name] if r[0] in taken] == restored[name], name
    assert len(restored["entry"]) >= len(before) and len(restored["event"]) == 2


def test_a_moved_deployment_serves_on_postgresql(cli, account, listener, tmp_path, monkeypatch,
                                                 spare_postgres) -> None:
    """SQLite to PostgreSQL: `backup -` then `restore`; the old read key answers over HTTP, a
    new notice to the old ingest address is listed, and the seller's sign-in link still opens."""
    key = mint(cli, "read", "acme")
    link = json.loads(cli("accounts", "link", "acme", "--json").stdout)["url"]
    assert _deliver(listener.port, account["address"], "171-0000001-0000001") == {}  # 250, no recipient refused
    path = tmp_path / "move.backup"
    taken = cli("backup", "-")
    assert taken.exit_code == 0
    path.write_bytes(taken.stdout_bytes)
    assert _restore(cli, monkeypatch, spare_postgres, path).exit_code == 0
    serve, proc = start_serve(tmp_path, database_url=spare_postgres)
    try:
        with httpx.Client(base_url=serve.base, headers={"Authorization": f"Bearer {key}"}) as client:
            assert client.get("/v1/check", params={"q": "171-0000001-0000001"}).json()["results"][0]["listed"]
        _deliver(serve.smtp_port, account["address"], "171-0000002-0000002")
        with httpx.Client(base_url=serve.base, headers={"Authorization": f"Bearer {key}"}) as client:
            until(lambda: client.get("/v1/check", params={"q": "171-0000002-0000002"}).json()["results"][0]["listed"],
                  what="the new notice listed on the moved deployment")
            opened = client.get("/signin/" + link.rsplit("/signin/", 1)[1], follow_redirects=False)
            assert opened.status_code in (200, 303), opened.text[:300]
    finally:
        stop_serve(proc)


def _deliver(port: int, address: str, order: str) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("donotreply@amazon.de", [address], mail.as_bytes(mail.notice("de", order)))


@pytest.fixture
def taken(cli, account, tmp_path) -> Path:  # noqa: ANN001
    """A backup of a deployment with an account, an entry and its history."""
    cli("add", "171-0000009-0000009", "--reason", "test")
    path = tmp_path / "taken.backup"
    assert cli("backup", str(path)).exit_code == 0
    return path


def _refused(cli, monkeypatch, url: str, path: Path, says: str) -> None:  # noqa: ANN001
    result = _restore(cli, monkeypatch, url, path)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and says in line and "Traceback" not in line, line


def test_damaged_and_cut_short_files_are_refused(cli, taken, tmp_path, monkeypatch) -> None:
    """A flipped byte, a file cut short, and a file that is no backup: one line, exit 2, and the
    target gets nothing (not even a schema)."""
    data = taken.read_bytes()
    flipped = tmp_path / "flipped.backup"
    flipped.write_bytes(data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
    short = tmp_path / "short.backup"
    short.write_bytes(data[: len(data) * 2 // 3])
    other = tmp_path / "other.backup"
    other.write_bytes(gzip.compress(b"hello"))
    target = tmp_path / "target" / "optout.db"
    for path, says in ((flipped, "damaged"), (short, "cut short"), (other, "not an optout backup")):
        _refused(cli, monkeypatch, f"sqlite:///{target}", path, says)
    assert not target.exists()


def _rewrite(path: Path, out: Path, change) -> None:  # noqa: ANN001
    """A copy of a backup with its header changed by ``change`` and a checksum made anew."""
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    head = json.loads(lines[1])
    change(head, lines)
    lines[1] = json.dumps(head).encode()
    body = b"\n".join(lines[:-2]) + b"\n"  # less the end record and the empty string after it
    trailer = json.loads(lines[-2][len(b"@end "):])
    trailer["sha256"] = hashlib.sha256(body).hexdigest()
    out.write_bytes(gzip.compress(body + b"@end " + json.dumps(trailer).encode() + b"\n"))


def test_a_newer_schema_is_refused(cli, taken, tmp_path, monkeypatch) -> None:
    """A backup from a newer optout: one line naming the schema, exit 2, nothing made."""
    newer = tmp_path / "newer.backup"
    _rewrite(taken, newer, lambda head, lines: head.update(schema="9999"))
    target = tmp_path / "target" / "optout.db"
    _refused(cli, monkeypatch, f"sqlite:///{target}", newer, "schema 9999")
    assert not target.exists()


def test_a_header_naming_what_is_no_plain_name_is_refused(cli, taken, tmp_path, monkeypatch) -> None:
    """Names go into SQL: a (re-checksummed) header naming a column `x"; drop …` is refused before
    the target is touched."""
    crafted = tmp_path / "crafted.backup"

    def inject(head: dict, lines: list[bytes]) -> None:
        head["tables"][0]["columns"][0] = 'id"; DROP TABLE entry; --'

    _rewrite(taken, crafted, inject)
    target = tmp_path / "target" / "optout.db"
    _refused(cli, monkeypatch, f"sqlite:///{target}", crafted, "unexpected name")
    assert not target.exists()


def test_a_target_that_is_not_empty_is_refused(cli, taken, database_url, monkeypatch) -> None:
    """Restoring over a list in use: one line, exit 2, the list unchanged."""
    before = _rows(database_url)
    _refused(cli, monkeypatch, database_url, taken, "not empty")
    assert _rows(database_url) == before


def test_an_older_schema_restores_and_is_migrated(cli, taken, tmp_path, monkeypatch) -> None:
    """A backup of schema 0005 (before taught wordings) loads at 0005 and is migrated to now."""
    older = tmp_path / "older.backup"

    def to_0005(head: dict, lines: list[bytes]) -> None:
        head["schema"] = "0005"
        head["tables"] = [t for t in head["tables"] if t["name"] != "wording"]
        for table in head["tables"]:
            if table["name"] == "message":
                keep = [i for i, c in enumerate(table["columns"]) if c not in ("wording", "wording_group")]
                table["columns"] = [table["columns"][i] for i in keep]
                table["types"] = [table["types"][i] for i in keep]
        start = lines.index(b"@table wording")
        del lines[start:lines.index(b"\\.", start) + 1]

    _rewrite(taken, older, to_0005)
    target = f"sqlite:///{tmp_path / 'old' / 'optout.db'}"
    result = _restore(cli, monkeypatch, target, older)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["schema"] == "0005"
    assert cli.checks("171-0000009-0000009")[0]["listed"]
    from optout.config import load_settings
    from optout.store import db

    eng = db.writer(load_settings())
    assert db.current_revision(eng) == db.SCHEMA_REVISION
    eng.dispose()


def test_the_nightly_unit_writes_a_dated_backup_and_drops_old_ones(cli, account, tmp_path) -> None:
    """deploy/systemd/optout-backup.service's commands, as systemd would run them (its %% and
    ${…} expanded): a dated, checksummed backup readable by its owner alone; older ones past
    BACKUP_KEEP_DAYS are deleted, newer ones kept."""
    import os
    import shlex
    import subprocess
    import sys

    unit = (Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "optout-backup.service").read_text()
    env = {**os.environ, "BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_KEEP_DAYS": "14"}
    old = tmp_path / "backups" / "optout-20200101T000000Z.backup"
    recent = tmp_path / "backups" / "optout-20991231T000000Z.backup"
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
        line = next(x for x in unit.splitlines() if x.startswith(key + "="))[len(key) + 1:]
        line = line.replace("%%", "%").replace("/opt/optout/venv/bin/optout", str(Path(sys.executable).with_name("optout")))
        for name in ("BACKUP_DIR", "BACKUP_KEEP_DAYS"):
            line = line.replace("${" + name + "}", env[name])
        done = subprocess.run(shlex.split(line), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (key, done.stderr)
        if key == "ExecStartPre":
            for path in (old, recent):
                path.write_bytes(b"")
            os.utime(old, (0, 0))
    made = [p for p in (tmp_path / "backups").iterdir() if p not in (old, recent)]
    assert len(made) == 1 and not old.exists() and recent.exists()
    assert made[0].stat().st_mode & 0o077 == 0
    from optout.store import backup

    assert backup.verify(str(made[0]))["rows"]["account"] == 1
