"""PostgreSQL persistence (the `sparkq[postgres]` extra): the store, its repository, schema and change feed."""

from __future__ import annotations

from .store import PostgresStore

__all__ = ["PostgresStore"]
