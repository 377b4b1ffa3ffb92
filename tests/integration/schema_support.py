"""Helpers for the schema-migration tests: a file at an earlier version, and reading a file back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sparkq_adapters.sqlite.schema import MIGRATIONS, statements

#: the time every row of a hand-made older file was created and updated at
TS = "2026-02-03T04:05:06.000000Z"
#: the one stream most older files hold: `lane`, active
LANE = (("str_000000000001", "lane", "active"),)


def add_project_and_session(conn: sqlite3.Connection) -> None:
    """Insert project `old` and its active session `legacy`, the owners of an older file's streams."""
    conn.execute("INSERT INTO projects VALUES ('prj_000000000001', 'old', NULL, NULL, ?, ?)", (TS, TS))
    conn.execute(
        "INSERT INTO sessions(id, project_id, name, status, started_at, created_at, updated_at) "
        "VALUES ('ses_000000000001', 'prj_000000000001', 'legacy', 'active', ?, ?, ?)",
        (TS, TS, TS),
    )


def file_at_version(db: Path, version: int, streams: tuple[tuple[str, str, str], ...] = LANE) -> sqlite3.Connection:
    """Make `db` a file of schema `version` with a project, a session and `streams`; return its open connection."""
    # autocommit: each caller adds its own tasks, then closes the connection
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:version]:
        for statement in statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    add_project_and_session(conn)
    for stream_id, name, status in streams:
        conn.execute(
            "INSERT INTO streams(id, session_id, name, status, created_at, updated_at) "
            "VALUES (?, 'ses_000000000001', ?, ?, ?, ?)",
            (stream_id, name, status, TS, TS),
        )
    return conn


def rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run `sql` on `db` in a connection of its own and return every row."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def task_columns(db: Path) -> str:
    """Return the columns `tasks` has in `db`, comma-separated, for a SELECT that reads the same after a migration."""
    return ", ".join(str(row[1]) for row in rows(db, "PRAGMA table_info(tasks)"))
