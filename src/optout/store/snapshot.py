"""Taking a backup of the configured database and restoring one into it (``store/backup.py``
holds the file's format). Both engines each way: a backup taken on SQLite restores into
PostgreSQL, which is how a deployment that outgrew the embedded database moves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from optout.errors import OptoutError
from optout.store import backup, db, sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from optout.config import Settings

Advance = Callable[[int], None]


def take(settings: Settings, out: IO[bytes], *, advance: Advance) -> dict[str, int]:
    """Write a consistent snapshot of everything to ``out``; the rows of each table. One read
    transaction, which writers never wait for (SQLite's WAL, PostgreSQL's MVCC)."""
    from sqlmodel import SQLModel

    import optout.store.models  # noqa: F401  # the tables, registered on SQLModel's metadata

    shown = backup.tables(SQLModel.metadata)
    reader = db.reader(settings)  # its schema checked: this optout's
    conn: Any = reader.conn  # sqlite3's or psycopg's connection: both take execute()
    try:
        conn.execute(sql.SNAPSHOT_BEGIN[reader.dialect])
        for statement in sql.SNAPSHOT_SETTINGS[reader.dialect]:
            conn.execute(statement)
        rows = backup.sqlite_rows if reader.dialect == "sqlite" else backup.postgresql_rows
        writer = backup.Writer(out)
        writer.header(schema=db.SCHEMA_REVISION, engine=reader.dialect, shown=shown)
        for table in shown:
            writer.table(table, rows(conn, table), advance)
        conn.execute("COMMIT")
        writer.close()
    finally:
        conn.close()
    return writer.rows


def restore(settings: Settings, path: str, *, advance: Advance) -> dict[str, Any]:
    """Restore the backup at ``path`` into the configured database, which must be new or empty.
    The checksum is checked first; a backup from an older schema is loaded at its own schema and
    migrated; one from a newer schema is refused. All of it in one transaction, or none."""
    if not os.path.isfile(path):  # read twice, the checksum first: a pipe cannot be
        raise OptoutError(f"{path} is not a file: restore reads a backup file (write `optout backup -` to one first)")
    head = backup.verify(path)
    if head["schema"] > db.SCHEMA_REVISION:
        raise OptoutError(f"{path} is a backup of schema {head['schema']}; this optout knows schemas up to "
                          f"{db.SCHEMA_REVISION}: restore it with a newer optout")
    eng = db.writer(settings)
    try:
        _require_empty(eng, settings)
        db.migrate(eng, head["schema"])
        if eng.dialect.name == "sqlite":
            _load_sqlite(eng, path, head["engine"], advance)
        else:
            _load_postgresql(eng, path, advance)
        db.upgrade(eng)
    finally:
        eng.dispose()
    return head


def _require_empty(eng: Engine, settings: Settings) -> None:
    """Refuse a database that holds anything (a schema of empty tables is fine)."""
    from sqlalchemy import inspect, text

    revision = db.current_revision(eng)
    if revision is not None and revision > db.SCHEMA_REVISION:
        raise OptoutError(f"{db.redact(settings.url)} has schema {revision}, newer than this optout's")
    with eng.connect() as conn:
        for name in inspect(conn).get_table_names():
            if name != "alembic_version" and conn.execute(text(sql.ANY_ROW.format(table=name))).first():
                raise OptoutError(f"{db.redact(settings.url)} is not empty (table {name} has rows): "
                                  "restore needs a new or empty database")


def _load_sqlite(eng: Engine, path: str, origin: str, advance: Advance) -> None:
    """One transaction; the tables' plain indexes are dropped first and built again at the end,
    which sorts once instead of inserting into them row by row."""
    raw = eng.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA cache_size=-32768")  # 32 MB, for the unique indexes and the sorts that build the others
        # A rollback journal while loading: the database is new, so its pages need no journal,
        # where WAL would write each of them twice (to the log, then to the file)
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("BEGIN IMMEDIATE")
        try:
            indexes = [row[0] for row in cursor.execute(sql.SQLITE_PLAIN_INDEXES).fetchall()]
            for statement in indexes:
                cursor.execute(sql.drop_index(statement))
            for table, blocks in backup.sections(path):
                statement = backup.sqlite_insert(table)
                for block in blocks:
                    rows = backup.sqlite_values(table, block, origin=origin)
                    cursor.executemany(statement, rows)
                    advance(len(rows))
            for statement in indexes:
                cursor.execute(statement)
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA journal_mode=WAL")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
    finally:
        raw.close()


def _load_postgresql(eng: Engine, path: str, advance: Advance) -> None:
    """One transaction; unique constraints (but primary keys) and plain indexes are dropped
    first and made again at the end, which sorts once instead of inserting row by row."""
    raw = eng.raw_connection()
    try:
        conn: Any = raw.driver_connection  # psycopg's own connection, for COPY
        with conn.transaction(), conn.cursor() as cursor:
            rebuild = cursor.execute(sql.PG_REBUILT_AFTER_RESTORE).fetchall()
            for _table, _name, drop, _create in rebuild:
                cursor.execute(drop)
            for table, blocks in backup.sections(path):
                with cursor.copy(sql.copy_in(table.name, table.columns)) as copy:
                    for block in blocks:
                        copy.write(block)
                        advance(block.count(b"\n"))
                if "id" in table.columns:
                    cursor.execute(sql.SEQUENCE_AFTER_RESTORE.format(table=table.name))
            for _table, _name, _drop, create in rebuild:
                cursor.execute(create)
        with conn.cursor() as cursor:
            cursor.execute(sql.ANALYZE_ALL)
        raw.commit()
    finally:
        raw.close()
