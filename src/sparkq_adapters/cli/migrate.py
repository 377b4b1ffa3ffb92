"""`sparkq migrate --to URL|PATH`: copy the configured database into an empty one (SQLite or PostgreSQL)."""

from __future__ import annotations

import sys
from typing import Annotated, get_args

from cyclopts import Parameter

from .. import config, transfer
from ..process import lock_holder
from . import output
from .common import UsageError
from .injected import Ctx


def migrate(
    *,
    to: Annotated[
        str,
        Parameter(
            help="The target: a PostgreSQL URL (postgresql://USER@HOST:PORT/DB) or a path for a new SQLite file."
        ),
    ],
    schema: Annotated[
        str | None,
        Parameter(help="The PostgreSQL schema of the target's tables (default: database.schema, `sparkq`)."),
    ] = None,
    ctx: Ctx,
) -> int:
    """Copy this project's database into an empty database: SQLite to PostgreSQL, or back.

    Copies the project, sessions, streams and every task with its whole history
    (results, errors, output, attempts, lineage, failure facts), keeping each
    stream's FIFO order; tasks queued afterwards come after the copied ones. The
    target must be empty: a PostgreSQL database (create it with `createdb NAME`; the
    tables are made in the schema database.schema, or --schema) or a path where no
    SparkQ data is yet (a new SQLite file). Any pair works, SQLite to SQLite too (a
    compact copy, a backup). The source is read in one snapshot and the target written
    in one transaction: at the end the rows per table and the tasks per status are
    compared, and on any failure the target keeps nothing. The change feed (the web
    UI's live events) is not copied: the target starts a fresh one. The configuration
    is not changed: point database.url (or database.path) at the target afterwards.
    A server or workers still running on the source may change it after the
    snapshot: stop them first (`sparkq stop`) for a final move. Passwords in URLs are
    never printed; give them through $PGPASSWORD or ~/.pgpass rather than the URL.

        Examples:
          sparkq migrate --to postgresql://me@db.internal:5432/sparkq
          sparkq migrate --to postgresql://me@db.internal/sparkq --schema team_a
          sparkq migrate --to ./back.db      # with database.url set: back to SQLite
          sparkq migrate --to /backups/sparkq-copy.db
    """
    if not to.strip():
        raise UsageError("--to needs a PostgreSQL URL or a file path, e.g. --to postgresql://USER@HOST/DB")
    if schema is not None:
        rule: config.Rule = get_args(config.SchemaName)[1]  # database.schema's rule: the name goes into SQL
        if not rule.holds(schema):
            raise UsageError(f"Invalid --schema {schema!r}: use {rule.expected}")
    settings = ctx.settings()
    ends = ctx.transfer_ends(to, schema)
    server = lock_holder(settings.lock_path)
    if server is not None:
        output.emit_error(
            f"Warning: a SparkQ server runs on {ends.source_name} (PID {server}); the copy is of this moment, "
            "and what it or its workers change afterwards is not copied. For a final move, `sparkq stop` first"
        )
    with output.progress_bar("Copying rows", "rows") as progress, ends.source as source, ends.target as target:
        counts = transfer.copy(source, target, progress)
    print(f"Copied {counts.describe()} from {ends.source_name} into {ends.target_name}")
    print(f"Verified: the same rows per table, and tasks per status ({counts.statuses()})")
    print(ends.next_step)
    sys.stdout.flush()
    return 0
