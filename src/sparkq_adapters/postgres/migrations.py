"""Bring a PostgreSQL schema to this SparkQ's version: the migrations it lacks, in one transaction.

Processes that start at once take turns on a transaction-scoped advisory lock named after the
schema, so each migration runs once; a schema of another program, or of a newer SparkQ, is refused
unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sparkq_domain.errors import StorageCorrupt, StorageError

from . import errors
from .schema import LATEST_VERSION, MIGRATIONS

if TYPE_CHECKING:
    import psycopg

#: the version table, in the schema; one row, the last migration applied
VERSION_TABLE = "schema_version"
SELECT_VERSION = "SELECT MAX(version) FROM schema_version"
SCHEMA_EXISTS = "SELECT to_regclass(%s) IS NOT NULL, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)"
SCHEMA_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename LIMIT 5"
#: the advisory lock's key: one per schema name (hashtext is stable across servers of one major version)
LOCK = "SELECT pg_advisory_xact_lock(hashtext('sparkq migrate ' || %s))"


def migrate(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Create the schema `schema` on `conn` (autocommit) if needed and apply the migrations it lacks."""
    import psycopg

    try:
        if _version(conn, schema) == LATEST_VERSION:
            return  # the usual case: one query, no lock
        conn.execute("BEGIN")
        try:
            conn.execute(LOCK, (schema,))
            version = _version(conn, schema)  # another process may have migrated while we waited
            if version is None:
                _refuse_foreign(conn, schema, where)
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                conn.execute(f"CREATE TABLE {VERSION_TABLE}(version INTEGER NOT NULL)")
                version = 0
            _refuse_newer(version, schema, where)
            for script in MIGRATIONS[version:]:
                conn.execute(script)
            conn.execute(f"DELETE FROM {VERSION_TABLE}")
            conn.execute(f"INSERT INTO {VERSION_TABLE}(version) VALUES (%s)", (LATEST_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            if not conn.closed:
                conn.execute("ROLLBACK")
            raise
    except psycopg.Error as exc:
        error = errors.translate(exc, where)
        raise (error or StorageError(str(exc))) from exc


def _version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """The schema's version; None when it has no version table (a new schema, or another program's)."""
    row = conn.execute(SCHEMA_EXISTS, (f'"{schema}".{VERSION_TABLE}', schema)).fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute(SELECT_VERSION).fetchone()
    version = 0 if found is None or found[0] is None else int(found[0])
    _refuse_newer(version, schema, where="")
    return version


def _refuse_newer(version: int, schema: str, where: str) -> None:
    if version > LATEST_VERSION:
        raise StorageError(
            f"The schema {schema} of {where or 'the database'} was written by a newer SparkQ (schema version "
            f"{version}, this one knows {LATEST_VERSION}); upgrade SparkQ to use it"
        )


def _refuse_foreign(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """A schema of that name holding tables but no version table is another program's: left alone."""
    tables = [row[0] for row in conn.execute(SCHEMA_TABLES, (schema,))]
    if tables:
        raise StorageCorrupt(
            f"The schema {schema} of {where} holds tables of another program ({', '.join(tables)}). SparkQ "
            "will not change it: set database.schema in sparkq.yml to another name"
        )
