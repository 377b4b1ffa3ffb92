"""SQLite persistence: the WAL store and its repository."""

from __future__ import annotations

from .store import SqliteStore

__all__ = ["SqliteStore"]
