"""One repository contract, run against every store, so the in-memory fake cannot drift from SQLite."""

from __future__ import annotations
