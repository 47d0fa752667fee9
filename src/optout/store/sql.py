"""The SQL written by hand, by name, and the one placeholder rule.

Every statement here is written with ``?`` marks and runs unchanged on SQLite and PostgreSQL
but for the marks: ``marks()`` turns them into psycopg's ``%s`` (and escapes a literal ``%``);
the lookups name each database's own function for unpacking a JSON array.
Statements take the driver's own connection or SQLAlchemy's ``exec_driver_sql``, because on the
hot paths (group commit, ``optout check``) SQLAlchemy's statement building costs more than the
database's answer. Batch sizes of multi-row writes come from each driver's limit on bound
parameters; lookups take their values as one JSON array.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

# Bound parameters one statement may carry: SQLite's SQLITE_MAX_VARIABLE_NUMBER (32,766 since
# 3.32) and PostgreSQL's protocol limit (65,535), each with headroom.
MAX_PARAMETERS = {"sqlite": 32_000, "postgresql": 65_000}


def rows_per_statement(dialect: str, columns: int) -> int:
    """How many rows of ``columns`` values fit in one statement, at most 1,000 (larger gains nothing)."""
    return max(1, min(1000, MAX_PARAMETERS.get(dialect, 999) // columns))


@lru_cache(maxsize=256)
def marks(sql: str, dialect: str) -> str:
    """``sql`` as the driver wants it: ``?`` for SQLite, ``%s`` for psycopg."""
    if dialect == "sqlite":
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


# --- the list ------------------------------------------------------------------------------------

ENTRY_FIELDS = ("kind, value, buyer_email, order_ids, marketplace, status, first_seen, last_seen, "
                "report_count, verified, removed_at, removed_reason")

# Lookups take their values as one parameter, a JSON array of strings, which the database
# unpacks into a table ``j(value)``: SQLite's json_each, PostgreSQL's json_array_elements_text.
# With an IN list of 2,000 ``?`` marks SQLite parsed the marks and built an index of the
# values for every statement: a sixth of a bulk check's instructions, where this costs a
# fifth of that. Callers give ``json_values(values)``.
_VALUES = {"sqlite": "json_each(?) AS j", "postgresql": "json_array_elements_text(?::json) AS j(value)"}


def _fields(alias: str, fields: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in fields.split(","))


@lru_cache(maxsize=8)
def entries_by_value(dialect: str) -> str:
    """The entries whose value is in the array, ENTRY_FIELDS each (via the unique index on value)."""
    return f"SELECT {_fields('e', ENTRY_FIELDS)} FROM {_VALUES[dialect]} JOIN entry e ON e.value = j.value"


@lru_cache(maxsize=8)
def states_by_value(dialect: str) -> str:
    """(value, status, last_seen) of the entries whose value is in the array."""
    return f"SELECT e.value, e.status, e.last_seen FROM {_VALUES[dialect]} JOIN entry e ON e.value = j.value"


@lru_cache(maxsize=8)
def reporting_accounts(dialect: str) -> str:
    """(order_id, buyer_email, slug) of the live reports naming one of the order IDs in the first
    array or one of the addresses in the second."""
    arm = ("SELECT r.order_id, r.buyer_email, a.slug FROM {values} JOIN report r ON r.{column} = j.value "
           "JOIN account a ON a.id = r.account_id WHERE r.withdrawn_at IS NULL")
    return " UNION ALL ".join(arm.format(values=_VALUES[dialect], column=column)
                              for column in ("order_id", "buyer_email"))


def json_values(values: list[str]) -> str:
    """The one parameter of a lookup above."""
    return json.dumps(values, ensure_ascii=False)


# A new report for a known identifier: relist it, count the report, widen first/last seen, keep
# what was known of the buyer, and add the order ID to an address entry's list once.
ENTRY_UPSERT = """ON CONFLICT (value) DO UPDATE SET
    status = 'listed', removed_at = NULL, removed_reason = NULL,
    report_count = entry.report_count + excluded.report_count,
    first_seen = CASE WHEN excluded.first_seen < entry.first_seen THEN excluded.first_seen ELSE entry.first_seen END,
    last_seen = CASE WHEN excluded.last_seen > entry.last_seen THEN excluded.last_seen ELSE entry.last_seen END,
    verified = (entry.verified OR excluded.verified),
    buyer_email = COALESCE(entry.buyer_email, excluded.buyer_email),
    marketplace = COALESCE(entry.marketplace, excluded.marketplace),
    order_ids = CASE
        WHEN excluded.order_ids IS NULL THEN entry.order_ids
        WHEN entry.order_ids IS NULL THEN excluded.order_ids
        WHEN ' ' || entry.order_ids || ' ' LIKE '% ' || excluded.order_ids || ' %' THEN entry.order_ids
        ELSE entry.order_ids || ' ' || excluded.order_ids END,
    updated_at = excluded.updated_at"""

# An identifier already listed by other evidence gains an import's support (and a count); one an
# earlier import supports already is left as it is, so importing again changes nothing.
IMPORT_UPSERT = """ON CONFLICT (value) DO UPDATE SET
    imported_by = excluded.imported_by, status = 'listed', removed_at = NULL, removed_reason = NULL,
    report_count = entry.report_count + 1,
    last_seen = CASE WHEN excluded.last_seen > entry.last_seen THEN excluded.last_seen ELSE entry.last_seen END,
    marketplace = COALESCE(entry.marketplace, excluded.marketplace),
    updated_at = excluded.updated_at
WHERE entry.imported_by IS NULL"""

# The changes feed, in (time, id) order after a cursor and up to a horizon: what was written
# (by updated_at), and, with expiry on, what expired (by last_seen; expiry = last_seen + days).
CHANGED_AFTER = (f"SELECT {ENTRY_FIELDS}, updated_at, id FROM entry WHERE updated_at >= ? "
                 "AND (updated_at > ? OR id > ?) AND updated_at <= ? ORDER BY updated_at, id LIMIT ?")
EXPIRED_AFTER = (f"SELECT {ENTRY_FIELDS}, last_seen, id FROM entry WHERE last_seen >= ? "
                 "AND (last_seen > ? OR id > ?) AND last_seen <= ? AND status = 'listed' "
                 "ORDER BY last_seen, id LIMIT ?")

REPORT_ONCE = "ON CONFLICT (dedup_key) DO NOTHING"
MESSAGE_ONCE = "ON CONFLICT (account_id, sha256) DO NOTHING"
MESSAGE_RESENT = ("UPDATE message SET resent_count = resent_count + 1, last_resent_at = ? "
                  "WHERE account_id = ? AND sha256 = ?")
CONFIRMATION_ONCE = "ON CONFLICT (account_id, code) DO NOTHING"
ACCOUNT_DAY_ADD = ("ON CONFLICT (account_id, day) DO UPDATE SET "
                   "new_entries = accountday.new_entries + excluded.new_entries")
LISTED_TODAY = "SELECT new_entries FROM accountday WHERE account_id = ? AND day = ?"
# PostgreSQL, after a bulk import: statistics for the list as it now is, which also makes every
# connection drop the plans it cached for a smaller one
ANALYZE_ENTRY = "ANALYZE entry"
ENTRY_STATUSES = "SELECT value, status FROM entry"  # + WHERE value IN …, see bulk.send_in
# PostgreSQL: the same as one probe of the unique index per value asked (status NULL where none
# is listed). Without statistics (a young list, autovacuum not yet run or off) the planner takes
# `entry` for a tenth of its size and reads all of it for `value = ANY(…)` until it holds about
# 9,000 entries: 1 ms a group commit at 6,000; this form has one plan, whatever the list's size.
ENTRY_STATUSES_EACH = ("SELECT asked.value, (SELECT status FROM entry WHERE entry.value = asked.value) "
                       "FROM unnest(?::text[]) AS asked(value)")
# an event for each entry whose value is in a list (+ WHERE value IN …)
EVENTS_FOR = "INSERT INTO event (entry_id, action, actor, reason, at) SELECT id, ?, ?, ?, ? FROM entry"

REFUSALS_ADD = ("ON CONFLICT (day, client) DO UPDATE SET refused = refusal.refused + excluded.refused, "
                "blocked = refusal.blocked + excluded.blocked")

MESSAGE_VERDICT = ("UPDATE message SET kind = ?, outcome = ?, reason = ?, order_id = ?, dkim = ?, "
                   "dkim_domain = ?, route = ?, marketplace = ?, wording = ?, wording_group = ? WHERE id = ?")
WORDING_GROUPS_WAITING = ("SELECT count(DISTINCT wording_group) FROM message WHERE outcome = 'quarantined' "
                          "AND wording_group IS NOT NULL")
REVIEW_COUNTS = ("SELECT outcome, count(*) FROM message WHERE outcome IN ('quarantined', 'unverified', 'held') "
                 "GROUP BY outcome")
EXPORT_RUN = "INSERT INTO exportrun (at, format, rows, sha256, path) VALUES (?, ?, ?, ?, ?)"
SCHEMA_REVISION = "SELECT version_num FROM alembic_version"
# a seller's key lives only as long as its account: a disabled or revoked account's keys answer nothing
KEY_BY_DIGEST = ("SELECT k.id, k.scope, k.account_id, a.slug FROM apikey k LEFT JOIN account a ON a.id = k.account_id "
                 "WHERE k.digest = ? AND k.revoked_at IS NULL AND (k.account_id IS NULL OR a.enabled)")


def run(cursor: Any, dialect: str, sql: str, params: Any = ()) -> Any:
    """Execute ``sql`` (written with ``?``) on a DB-API cursor; the cursor."""
    cursor.execute(marks(sql, dialect), params)
    return cursor


# --- backup and restore (store/snapshot.py) -------------------------------------------------------

# One snapshot for the whole backup: SQLite's WAL reader sees the database as of its first read;
# PostgreSQL's REPEATABLE READ as of its first statement. Neither makes a writer wait.
SNAPSHOT_BEGIN = {"sqlite": "BEGIN", "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}
# COPY's text as the backup format expects it, whatever the server's defaults
SNAPSHOT_SETTINGS = {"sqlite": (), "postgresql": ("SET LOCAL bytea_output = 'hex'", "SET LOCAL DateStyle = 'ISO, YMD'",
                                                  "SET LOCAL extra_float_digits = 3")}
ANY_ROW = 'SELECT 1 FROM "{table}" LIMIT 1'
# after COPY wrote the IDs, the next ID a table hands out comes after them
SEQUENCE_AFTER_RESTORE = ("SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                          'COALESCE(MAX(id), 0) + 1, false) FROM "{table}"')
ANALYZE_ALL = "ANALYZE"
# What a restore into PostgreSQL drops and makes again after loading: each unique constraint but
# the primary keys, and each index no constraint owns; (table, name, drop, create) each.
PG_REBUILT_AFTER_RESTORE = """
SELECT c.conrelid::regclass::text, c.conname,
       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c WHERE c.contype = 'u' AND c.connamespace = current_schema()::regnamespace
UNION ALL
SELECT i.tablename, i.indexname, format('DROP INDEX %I', i.indexname), i.indexdef
  FROM pg_indexes i WHERE i.schemaname = current_schema()
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
                   AND c.connamespace = current_schema()::regnamespace)
"""
# the indexes a restore into SQLite drops and builds again: those a CREATE INDEX made (a UNIQUE
# constraint's own index has no SQL, and stays)
SQLITE_PLAIN_INDEXES = "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"


def drop_index(create: str) -> str:
    """``DROP INDEX name`` for a ``CREATE [UNIQUE] INDEX name ON …`` statement."""
    name = create.split(" ON ", 1)[0].split()[-1]
    return f"DROP INDEX {name}"


def copy_in(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'COPY "{table}" ({names}) FROM STDIN'
