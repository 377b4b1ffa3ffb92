"""Copy one SparkQ database into an empty one (`sparkq migrate`), whichever engine each side runs on.

The copy reads the source in one snapshot and writes the target in one transaction: either every row
arrives and the counts agree, or the target keeps nothing. Rows are copied as the columns hold them
(text, integers, NULLs), so nothing is re-encoded on the way; a task's `seq` (its place in its
stream's FIFO) goes with it. Sessions and streams are copied in their source order (rowid on SQLite,
`seq` on PostgreSQL), so the target lists them as the source did.

The change feed (`events`) is not history: it is not copied, and the target starts a fresh one.
Each engine supplies its two ends (`sqlite.transfer`, `postgres.transfer`); this module only knows
the tables, the order, and what has to agree at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs

from sparkq_domain.errors import Conflict, SparkQError, StorageError

#: the tables of SPEC §2, parents first (the order rows are inserted in)
TABLES = ("projects", "sessions", "streams", "tasks")
#: rows read and written per round trip
BATCH_ROWS = 5000
#: a column that only orders rows on one engine (PostgreSQL's `seq` of sessions and streams; SQLite
#: has its rowid for that): not copied, the target numbers the rows in the order they arrive
ORDER_ONLY = {"sessions": "seq", "streams": "seq"}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

Rows = Sequence[Sequence[Any]]
Progress = Callable[[int, int], None]


class TargetNotEmpty(Conflict):
    """The target database already holds SparkQ data."""


@attrs.frozen(kw_only=True)
class Counts:
    """Rows per table, and tasks per status: what the source held and the target must hold after the copy."""

    rows: Mapping[str, int]
    tasks: Mapping[str, int]

    def describe(self) -> str:
        """`1 project, 2 sessions, 3 streams, 40 tasks`."""
        return ", ".join(_plural(self.rows.get(table, 0), table) for table in TABLES)

    def statuses(self) -> str:
        """`queued 3, running 1, succeeded 36` (the statuses that occur, alphabetically)."""
        return ", ".join(f"{status} {n}" for status, n in sorted(self.tasks.items()) if n) or "none"


class End(Protocol):
    """What both ends answer, inside the transaction their context manager holds open."""

    where: str

    def columns(self, table: str) -> list[str]:
        """The table's columns, in table order."""
        ...

    def counts(self) -> Counts:
        """Rows per table of `TABLES` and tasks per status."""
        ...


class Source(End, Protocol):
    def rows(self, table: str, columns: Sequence[str], batch: int) -> Iterator[Rows]:
        """The table's rows (those columns), in source order, `batch` at a time."""
        ...


class Target(End, Protocol):
    def drop_projects(self) -> None:
        """Delete the project rows (a target that holds nothing else was only opened, never used)."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None:
        """Insert rows of those columns into the table."""
        ...

    def finish(self) -> None:
        """Make the copied rows ready for use: sequences past the copied ones, a fresh change feed."""
        ...


@attrs.frozen(kw_only=True)
class Ends:
    """The two databases of one copy; entering each opens its connection and transaction."""

    source: AbstractContextManager[Source]
    target: AbstractContextManager[Target]
    #: how messages name them (a file's path, a URL without its password)
    source_name: str
    target_name: str
    #: how to use the copy (the configuration is left as it is)
    next_step: str


def copy(source: Source, target: Target, progress: Progress | None = None) -> Counts:
    """Copy every row of `source` into the empty `target` and check the counts; returns them.

    Raises `TargetNotEmpty` when the target holds sessions, streams or tasks (a project row alone is
    what opening a database makes, and is replaced by the source's), and `StorageError` when the
    counts differ at the end; the caller's transaction on the target then rolls back.
    """
    found = target.counts()
    used = {table: n for table, n in found.rows.items() if n and table != "projects"}
    if used:
        raise TargetNotEmpty(
            f"The target {target.where} is not empty: it holds "
            f"{', '.join(_plural(n, table) for table, n in used.items())}. "
            "Migrate into a new database (PostgreSQL: `createdb NAME`, or another database.schema via --schema; "
            "SQLite: a path that does not exist yet)"
        )
    expected = source.counts()
    total = sum(expected.rows.values())
    if found.rows.get("projects"):
        target.drop_projects()
    done = 0
    if progress is not None:
        progress(done, total)
    for table in TABLES:
        columns = shared_columns(table, source.columns(table), target.columns(table), target.where)
        for batch in source.rows(table, columns, BATCH_ROWS):
            try:
                target.insert(table, columns, batch)
            except SparkQError as exc:
                # a row the target refuses (a value or a reference the source let through): name the step
                raise StorageError(
                    f"Copying the {table} of {source.where} into {target.where} failed, and the target keeps "
                    f"nothing: {exc.message}"
                ) from exc
            done += len(batch)
            if progress is not None:
                progress(done, total)
    target.finish()
    copied = target.counts()
    if copied != expected:
        raise StorageError(
            f"The copy in {target.where} does not match the source: it has {copied.describe()} "
            f"(tasks {copied.statuses()}) where the source has {expected.describe()} "
            f"(tasks {expected.statuses()}); nothing was kept. Was something writing to the target?"
        )
    return expected


def counted(query: Callable[[str], Iterable[Sequence[Any]]]) -> Counts:
    """`Counts` of a database, through `query` (an end's way to run SQL and iterate its rows)."""
    rows = {table: int(next(iter(query(f"SELECT COUNT(*) FROM {table}")))[0]) for table in TABLES}
    tasks = {str(status): int(n) for status, n in query("SELECT status, COUNT(*) FROM tasks GROUP BY status")}
    return Counts(rows=rows, tasks=tasks)


def shared_columns(table: str, source: Sequence[str], target: Sequence[str], target_name: str) -> list[str]:
    """The source's columns of `table` to copy; an error when the target lacks one of them."""
    order_only = ORDER_ONLY.get(table)
    kept = [c for c in source if c != order_only]
    missing = [c for c in kept if c not in target]
    if missing:
        raise StorageError(
            f"The target {target_name} has no column {', '.join(missing)} in {table}: its schema is older or "
            "another program's; migrate into a new database"
        )
    for column in kept:
        if not _IDENTIFIER.fullmatch(column):  # the names go into SQL text
            raise StorageError(f"The source has a column named {column!r} in {table}, which SparkQ did not make")
    return kept


def _plural(n: int, table: str) -> str:
    return f"{n} {table if n != 1 else table[:-1]}"
