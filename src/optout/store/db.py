"""Engines, schema checks and migrations, for SQLite (embedded) and PostgreSQL (shared).

Two ways in: ``engine()`` (SQLAlchemy, for everything that writes) and ``reader()`` (a bare
DB-API connection, for the hot read paths: ``optout check`` must start and answer in a fraction
of a second, and importing SQLAlchemy alone costs about a quarter of one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from optout.errors import OptoutError, first_line

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from optout.config import Settings
    from optout.store.reader import Reader

# The newest migration; a test checks it against the migrations folder.
SCHEMA_REVISION = "0007"
MIGRATIONS = Path(__file__).with_name("migrations")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for a plain ``postgresql://`` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_path(url: str) -> Path:
    return Path(url.split(":///", 1)[1])


def redact(url: str) -> str:
    """The URL with any password hidden, for error messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def engine(settings: Settings) -> Engine:
    """A writing engine for the configured database, its schema created (SQLite) or checked:
    what a command that writes wants. The other kinds have a name each, below."""
    return _engine(settings, check_schema=True, write=True, durable=True)


def writer(settings: Settings) -> Engine:
    """A writing engine whose schema the caller has checked already (the listener's worker,
    the HTTP side's writes, ``optout db upgrade``)."""
    return _engine(settings, check_schema=False, write=True, durable=True)


def group_writer(settings: Settings) -> Engine:
    """The listener's worker's writing engine: on PostgreSQL no ping at checkout, which was an
    eighth of the worker's time; the worker tries a group again on a fresh connection when the
    one it took had died (``listener/worker.py``)."""
    return _engine(settings, check_schema=False, write=True, durable=True, ping=False)


def bulk_writer(settings: Settings) -> Engine:
    """A writing engine for re-runnable bulk work (``optout import``): on SQLite a commit
    survives a crash of the process but not of the machine, which saves an fsync per commit."""
    return _engine(settings, check_schema=True, write=True, durable=False)


def read_only(settings: Settings, *, check_schema: bool = True) -> Engine:
    """An engine that only reads: on SQLite its reads never wait behind a writer."""
    return _engine(settings, check_schema=check_schema, write=False, durable=True)


def lookup_pool(settings: Settings, *, size: int) -> Engine:
    """The HTTP side's readers: ``size`` connections kept open (a busier pool waits for one
    rather than opening and closing more); on PostgreSQL every statement its own snapshot
    (autocommit) and no ping at checkout, which saves two of a lookup's four round trips (the
    caller drops the pool on an outage instead: ``http.store.Store``)."""
    return _engine(settings, check_schema=False, write=False, durable=True, pool=size, lookups=True)


def _engine(settings: Settings, *, check_schema: bool, write: bool, durable: bool, pool: int = 5,
            lookups: bool = False, ping: bool = True) -> Engine:
    """An engine for the configured database, its schema created (SQLite) or checked.

    On SQLite a ``write`` engine takes the write lock when a transaction begins; a read-only
    one (``write=False``) does not, so its reads never wait behind a writer. ``durable=False``
    (for re-runnable bulk work only) lets a commit survive a crash of the process but not of the
    machine, which saves an fsync per commit. ``pool``: connections kept open, and the most
    there will be (a busier pool waits for one rather than opening and closing more).
    ``lookups`` (the HTTP side's readers, PostgreSQL): every statement its own snapshot
    (autocommit) and no ping at checkout, which saves two of a lookup's four round trips; the
    caller drops the pool on a database error instead (``http.app.Store``). ``ping=False``: no
    ping at checkout on PostgreSQL either; the caller copes with a connection found dead.
    """
    from sqlalchemy import create_engine, event

    url = settings.url
    if is_sqlite(url):
        path = sqlite_path(url)
        if not write and check_schema and not path.exists():
            raise no_database(path)
        _make_parent(path)
        # a reader opens the file read-only: if it is gone, that is an error, not a new empty list
        eng = create_engine(url if write else f"sqlite:///file:{path}?mode=ro&uri=true",
                            connect_args={"timeout": settings.db_timeout}, pool_size=pool, max_overflow=0)
        event.listen(eng, "connect", _sqlite_on_connect)
        event.listen(eng, "connect", lambda conn, record: record.info.update(file=_identity(path)))
        event.listen(eng, "checkout", lambda conn, record, proxy: _same_file(path, record))
        if not write:
            event.listen(eng, "connect", _sqlite_read_only)
        if not durable:
            event.listen(eng, "connect", _sqlite_bulk)
        if write:
            # BEGIN IMMEDIATE: take the write lock up front, so two writers queue on the busy
            # timeout instead of one failing at once when it upgrades a read lock.
            event.listen(eng, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    else:
        timeout = max(1, int(settings.db_timeout))
        eng = create_engine(
            sqlalchemy_url(url),
            pool_pre_ping=ping and not lookups, pool_size=pool, max_overflow=0,
            **({"isolation_level": "AUTOCOMMIT"} if lookups else {}),
            # lock_timeout: a write stuck behind a lock fails soon, so SMTP can answer 451
            connect_args={"connect_timeout": timeout,
                          "options": f"-c lock_timeout={int(settings.db_timeout * 1000)}"},
        )
    if check_schema:
        try:
            ensure_schema(eng, settings)
        except BaseException:
            eng.dispose()
            raise
    return eng


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptoutError(f"cannot create data directory {path.parent}: {exc.strerror}") from None


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a 250 promises the message survives power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _same_file(path: Path, record: Any) -> None:
    """A pooled connection still reads the file at ``path``? An open SQLite connection keeps
    reading a file that was moved away or replaced (a restore from backup): it is dropped
    instead, and the pool opens the file that is there now, or fails if none is."""
    from sqlalchemy.exc import DisconnectionError

    if record.info.get("file") != _identity(path) or record.info.get("file") is None:
        raise DisconnectionError(f"{path} was moved or replaced")


def moved(path: Path, conn: Any) -> bool:
    """Has a pooled SQLite connection's file at ``path`` been moved or replaced since it was opened?"""
    return conn.info.get("file") is None or conn.info.get("file") != _identity(path)


def _sqlite_read_only(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA query_only=ON")  # a read path that tried to write would fail, not lock


def _sqlite_bulk(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA cache_size=-65536")  # 64 MB: index pages stay cached between batches
    # Checkpoint every 64 MB of WAL instead of every 4 MB: a bulk load dirties the same index
    # pages batch after batch, and each checkpoint would write them back again.
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=16384")


def current_revision(eng: Engine) -> str | None:
    """The schema revision stored in the database, or None for an empty one."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError

    try:
        with eng.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as exc:
        raise cannot_connect(eng.url.render_as_string(hide_password=True), exc) from None


def ensure_schema(eng: Engine, settings: Settings) -> None:
    """Create a missing SQLite schema; on PostgreSQL, ask for ``optout db upgrade`` instead."""
    revision = current_revision(eng)
    if revision == SCHEMA_REVISION:
        return
    if revision is None and is_sqlite(settings.url):
        writer = _engine(settings, check_schema=False, write=True, durable=True)  # ``eng`` may be a read-only one
        try:
            upgrade(writer)
        finally:
            writer.dispose()
        return
    raise OptoutError(
        f"database schema is at {revision or 'nothing'}, this optout needs {SCHEMA_REVISION}: "
        "run `optout db upgrade`"
    )


def upgrade(eng: Engine) -> None:
    """Run the Alembic migrations shipped inside the package up to head."""
    migrate(eng, "head")


def migrate(eng: Engine, revision: str) -> None:
    """Bring the schema to ``revision`` (up or down): a restore loads a backup at its own schema."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    current = current_revision(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        if revision != "head" and current is not None and current > revision:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)


def no_database(path: Path) -> OptoutError:
    """A command that only reads must not make an empty list where it expected one: `check` on
    it would answer "not listed" for everyone (a cron job started in the wrong folder, say)."""
    return OptoutError(f"no database at {path.resolve()}; set OPTOUT_DATA_DIR (or OPTOUT_DATABASE_URL), "
                       "or run optout db upgrade to make a new one")


def cannot_connect(url: str, exc: Exception) -> OptoutError:
    return OptoutError(f"cannot use database {redact(url)}: {first_line(exc, 300)}")


# Every execution of a prepared statement planned for the tables as they are now. Otherwise
# PostgreSQL may settle on a generic plan after five runs and keep it for the connection's life
# unless an ANALYZE invalidates it (none comes where autovacuum is off or has not run yet): the
# lookup's generic plan made on an empty list is a sequential scan, and a long `optout check -`
# kept reading the whole list with it as the list grew (tests/store/test_plans.py).
PLAN_EACH_TIME = "-c plan_cache_mode=force_custom_plan"


def reader(settings: Settings) -> Reader:
    """A read-only DB-API connection and its dialect, schema checked."""
    from optout.store.reader import Reader

    url = settings.url
    if is_sqlite(url):
        return Reader(_sqlite_reader(settings), "sqlite")
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(settings.db_timeout)),
                               options=PLAN_EACH_TIME)
    except psycopg.Error as exc:
        raise cannot_connect(url, exc) from None
    _check_revision(conn)
    return Reader(conn, "postgresql")


def _sqlite_reader(settings: Settings) -> Any:
    import sqlite3

    path = sqlite_path(settings.url)
    if not path.exists():
        raise no_database(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=settings.db_timeout)
        _check_revision(conn)
    except sqlite3.DatabaseError as exc:
        raise cannot_connect(settings.url, exc) from None
    return conn


def _check_revision(conn: Any) -> None:
    """Raise (closing ``conn``) unless the schema is the one this optout needs."""
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT version_num FROM alembic_version")
        row = cursor.fetchone()
    except Exception:  # missing table: reported as a schema problem below
        row = None
        if hasattr(conn, "rollback"):
            conn.rollback()
    if not row or row[0] != SCHEMA_REVISION:
        conn.close()
        raise OptoutError(
            f"database schema is at {row[0] if row else 'nothing'}, this optout needs "
            f"{SCHEMA_REVISION}: run `optout db upgrade`"
        )
