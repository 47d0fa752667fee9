"""Shared fixtures: a real database (SQLite file, and PostgreSQL when OPTOUT_TEST_DATABASE_URL is
set), settings pointed at it through the environment, and the CLI run through Typer's runner."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

# The 503 real bounces stay outside the repository, with their origin and licence; CI clones
# main with the steering repository's shared/ beside it.
CORPUS = Path(os.environ.get("OPTOUT_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
BOUNCES = CORPUS / "bounces"
PG_URL = os.environ.get("OPTOUT_TEST_DATABASE_URL")
CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, how: str) -> NoReturn:
    """Skip a test that needs something this machine lacks; under CI=true fail it instead, so CI
    proves every test."""
    message = f"needs {what}: {how}"
    if CI:
        pytest.fail(f"{message} (CI=true, so a missing tool is a failure)")
    pytest.skip(message)


def require_tool(command: str, package: str) -> str:
    """The path of ``command``; skips (fails under CI) naming the Debian package to install."""
    found = shutil.which(command)
    if found is None:
        unavailable(command, f"install it with `apt-get install {package}`")
    return found


def bounce_files() -> list[Path]:
    """The real bounces of ../shared/corpus/bounces (skips, or fails under CI, when absent)."""
    files = sorted(BOUNCES.glob("*.eml"))
    if not files:
        unavailable(f"the real bounces in {BOUNCES}",
                    "put the steering repository's shared/ beside this clone, or set OPTOUT_CORPUS")
    return files


@pytest.fixture(scope="session")
def notices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the sample messages (tests/samples.py) as .eml files, with expected.json."""
    import samples

    return samples.write(tmp_path_factory.mktemp("notices"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own OPTOUT_* settings."""
    for key in list(os.environ):
        if key.startswith("OPTOUT_") and key != "OPTOUT_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("OPTOUT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTOUT_INGEST_DOMAIN", "ingest.example.net")


def _admin_url() -> str:
    assert PG_URL
    return PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, empty database of each kind; the URL is also put in OPTOUT_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'optout.db'}"
        monkeypatch.setenv("OPTOUT_DATABASE_URL", url)
        (tmp_path / "data").mkdir(exist_ok=True)
        _upgrade()  # made, as `optout db upgrade` or the first `optout serve` would: commands that only read refuse none
        yield url
        return
    with _postgres_database("optout_t") as url:
        monkeypatch.setenv("OPTOUT_DATABASE_URL", url)
        _upgrade()
        yield url


@pytest.fixture
def spare_postgres() -> Iterator[str]:
    """The URL of a second, empty PostgreSQL database (no schema), dropped afterwards: a target
    to restore or move into."""
    with _postgres_database("optout_s") as url:
        yield url


@contextmanager
def _postgres_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on the test server (skipped, or failed under CI, without one),
    dropped afterwards; its URL."""
    if not PG_URL:
        unavailable("PostgreSQL", "`apt-get install postgresql`, then set "
                    "OPTOUT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_admin_url().rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _upgrade() -> None:
    from optout.config import load_settings
    from optout.store import db

    eng = db.writer(load_settings())
    db.upgrade(eng)
    eng.dispose()


@pytest.fixture
def settings(database_url: str):  # noqa: ANN201
    from optout.config import load_settings

    return load_settings()


@pytest.fixture
def engine(settings):  # noqa: ANN001, ANN201
    from optout.store import db

    eng = db.engine(settings)
    yield eng
    eng.dispose()


class Cli:
    """Runs ``optout`` in-process through Typer's runner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # noqa: A002, ANN204
        from optout.cli import app

        return self.runner.invoke(app, list(args), input=input)

    def check_json(self, *queries: str, input: str | None = None) -> tuple[int, list[dict]]:  # noqa: A002
        """``optout check --json``: its exit code (0 some listed, 1 none) and one record per query."""
        import json

        result = self("check", "--json", *queries, input=input)
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]

    def checks(self, *queries: str, input: str | None = None) -> list[dict]:  # noqa: A002
        """The records of ``optout check --json`` for ``queries``."""
        return self.check_json(*queries, input=input)[1]


@pytest.fixture
def cli(database_url: str) -> Cli:
    """The CLI on a fresh database of each kind."""
    return Cli()


@pytest.fixture
def bare_cli() -> Cli:
    """The CLI with whatever OPTOUT_* the test sets itself."""
    return Cli()


@pytest.fixture
def account(cli: Cli) -> dict:
    """A registered seller account."""
    import json

    result = cli("accounts", "add", "acme", "--name", "Acme Ltd", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def listener(account, request):  # noqa: ANN001, ANN201
    """A listener on the test database, with the test's settings overrides."""
    marker = request.node.get_closest_marker("listener")
    from smtp_server import InProcess

    server = InProcess.start(**(marker.kwargs if marker else {}))
    yield server
    server.stop()


@pytest.fixture
def serve(cli, account, tmp_path, request):  # noqa: ANN001, ANN201
    """`optout serve` (SMTP and HTTP) on the test database, the account `acme` registered;
    settings from the test's ``serve`` marker."""
    from web import start_serve, stop_serve

    marker = request.node.get_closest_marker("serve")
    server, proc = start_serve(tmp_path, **(marker.kwargs if marker else {}))
    yield server
    stop_serve(proc)


@pytest.fixture
def web(cli, serve):  # noqa: ANN001, ANN201
    """The HTTP side with two entries seeded (web.LISTED); a client and a read key of `acme`."""
    from web import LISTED, mint

    for value in LISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")
    with serve.client() as client:
        yield client, key


@pytest.fixture
def site(cli, serve, monkeypatch):  # noqa: ANN001, ANN201
    """The seller pages of `optout serve`; `optout accounts link` prints links to it."""
    from browser import Site

    monkeypatch.setenv("OPTOUT_PUBLIC_URL", serve.base)
    return Site(serve, cli)


@pytest.fixture(scope="session")
def chromium():  # noqa: ANN201
    """Debian's Chromium, headless, driven by Playwright (one for the whole run)."""
    path = require_tool("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):  # noqa: ANN001, ANN201
    """A fresh browser profile (no cookies) with one tab; more with ``browser.context.new_page()``."""
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
