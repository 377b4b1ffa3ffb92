"""Which database a configuration names, as one value two configurations can be compared by.

A SQLite database is its file (a `Path`; two paths of one file are told apart by `watcher.same_database`).
A PostgreSQL database is a text of the form `postgresql://USER@HOST:PORT/DBNAME?schema=SCHEMA`: the
URL without its password and options, with libpq's defaults filled in, and the schema that holds
SparkQ's tables. Watchers record it beside their files, and `sparkq migrate` refuses to copy a
database into itself by it. Two host names of one server (`localhost`, `127.0.0.1`) are two values:
told apart, never wrongly taken for one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlsplit

if TYPE_CHECKING:
    from .config import Settings

#: the schemes libpq accepts for a URL
SCHEMES = ("postgresql://", "postgres://")
DEFAULT_PORT = 5432


def is_postgres_url(text: str) -> bool:
    """Whether `text` is a PostgreSQL URL (else it is a path)."""
    return text.lower().startswith(SCHEMES)


def database_id(settings: Settings) -> Path | str:
    """The configured database: the SQLite file, or the PostgreSQL identity of `database.url` and `database.schema`."""
    url = settings.database_url
    if url is None:
        return settings.db_path
    return postgres_id(url, settings.file.database.schema)


def postgres_id(url: str, schema: str) -> str:
    """`postgresql://USER@HOST:PORT/DBNAME?schema=SCHEMA`, with libpq's defaults for what the URL leaves out."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = urlsplit("postgresql://"), None
    query = parse_qs(parts.query)
    user = unquote(parts.username or "") or _first(query, "user") or os.environ.get("PGUSER", "")
    host = (parts.hostname or _first(query, "host") or os.environ.get("PGHOST", "")).lower()
    if port is None:
        named = _first(query, "port") or os.environ.get("PGPORT", "")
        port = int(named) if named.isdigit() else DEFAULT_PORT
    dbname = unquote(parts.path.lstrip("/")) or _first(query, "dbname") or os.environ.get("PGDATABASE", "") or user
    return f"postgresql://{quote(user)}@{quote(host)}:{port}/{quote(dbname)}?schema={quote(schema)}"


def _first(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[0] if values else ""
