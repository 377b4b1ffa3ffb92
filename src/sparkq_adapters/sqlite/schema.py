"""The SQLite schema as forward migrations, applied in order; `PRAGMA user_version` is the last applied."""

from __future__ import annotations

# Version 1 is the canonical schema of SPEC §2, unchanged, so other tools can read it.
V1_CANONICAL = """
CREATE TABLE IF NOT EXISTS projects(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, repo_path TEXT, prd_path TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
    description TEXT, status TEXT NOT NULL DEFAULT 'active', started_at TEXT NOT NULL, ended_at TEXT,
    created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS streams(
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), name TEXT NOT NULL UNIQUE,
    instructions TEXT, status TEXT NOT NULL DEFAULT 'active', created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS tasks(
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL REFERENCES streams(id), tool_name TEXT NOT NULL,
    task_class TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    timeout INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT,
    stdout TEXT, stderr TEXT, created_at TEXT, updated_at TEXT, started_at TEXT, finished_at TEXT);
CREATE INDEX IF NOT EXISTS idx_tasks_stream_status ON tasks(stream_id, status);
CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS idx_tasks_started_at ON tasks(started_at);
CREATE INDEX IF NOT EXISTS idx_tasks_created_at ON tasks(created_at);
CREATE INDEX IF NOT EXISTS idx_streams_session ON streams(session_id);
CREATE INDEX IF NOT EXISTS idx_streams_status ON streams(status);
CREATE INDEX IF NOT EXISTS idx_sessions_project ON sessions(project_id);
CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);
"""

# Version 2: an explicit enqueue sequence. FIFO must not rest on timestamps (they tie) nor on the
# implicit rowid (VACUUM may renumber it). The indexes are tuned to end in seq, so "next queued of a
# stream" and "newest first" are single index seeks whatever the backlog.
V2_FIFO_SEQUENCE = """
ALTER TABLE tasks ADD COLUMN seq INTEGER;
UPDATE tasks SET seq = (
    SELECT n FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS n FROM tasks) AS ordered
    WHERE ordered.id = tasks.id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tasks_seq ON tasks(seq);
DROP INDEX IF EXISTS idx_tasks_stream_status;
CREATE INDEX IF NOT EXISTS idx_tasks_stream_status_seq ON tasks(stream_id, status, seq);
DROP INDEX IF EXISTS idx_tasks_status;
CREATE INDEX IF NOT EXISTS idx_tasks_status_seq ON tasks(status, seq);
"""

MIGRATIONS: tuple[str, ...] = (V1_CANONICAL, V2_FIFO_SEQUENCE)
LATEST_VERSION = len(MIGRATIONS)
