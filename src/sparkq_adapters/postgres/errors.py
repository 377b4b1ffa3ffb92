"""psycopg's errors as SparkQ's storage errors: one line that says what to check, the URL without its password.

libpq reports a failed connection without an SQLSTATE, so those are told apart by libpq's own
message (stable wording across versions: `password authentication failed`, `does not exist`, ...);
errors of a running session by their SQLSTATE class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkq_domain.errors import InvalidInput, StorageBusy, StorageError, StorageFull

if TYPE_CHECKING:
    import psycopg

#: what to check about the URL, at the end of every connection message
_CHECK_URL = "check database.url in sparkq.yml or $SPARKQ_DATABASE_URL"


def connect_failure(exc: psycopg.Error, where: str) -> StorageError:
    """A connection that could not be opened: the server's answer or its absence, and the fix."""
    text = str(exc)
    if "password authentication failed" in text or "no password supplied" in text:
        return StorageError(
            f"PostgreSQL at {where} refused the password (authentication failed); check the user and its "
            f"password (in the URL, $PGPASSWORD or ~/.pgpass); {_CHECK_URL}"
        )
    if "does not exist" in text and "database" in text:
        return StorageError(
            f"The database of {where} does not exist on that PostgreSQL server; create it "
            f"(`createdb NAME`) or {_CHECK_URL}"
        )
    if "does not exist" in text and "role" in text:
        return StorageError(f"PostgreSQL at {where} has no such user (role); create it or {_CHECK_URL}")
    if any(state in text for state in _RESTARTING):
        return StorageError(
            f"PostgreSQL at {where} is shutting down or starting up (a restart?) and takes no connections now; "
            "try again once it is up (`pg_isready` tells)"
        )
    if "Connection refused" in text or "No such file or directory" in text:
        return StorageError(
            f"Cannot connect to PostgreSQL at {where}: nothing listens there (connection refused). Check that "
            f"the server runs and that the host and port are right; {_CHECK_URL}"
        )
    if "could not translate host name" in text:
        return StorageError(f"Cannot connect to PostgreSQL at {where}: unknown host name; {_CHECK_URL}")
    if "timeout expired" in text:
        return StorageError(
            f"Cannot connect to PostgreSQL at {where}: no answer in time. Check that the server runs and "
            f"can be reached from here; {_CHECK_URL}"
        )
    if "server closed the connection unexpectedly" in text:
        return StorageError(
            f"PostgreSQL at {where} closed the connection as it was being opened (restarting, or crashed?); "
            "check that the server runs, then try again"
        )
    return StorageError(f"Cannot connect to PostgreSQL at {where}: {_reason(text) or type(exc).__name__}; {_CHECK_URL}")


#: libpq's words for a server that is stopping or has not finished starting (or recovering from a crash)
_RESTARTING = (
    "system is shutting down",
    "system is starting up",
    "in recovery mode",
    "not yet accepting connections",
)


def _reason(text: str) -> str:
    """The line of libpq's message that says what went wrong: the server's FATAL line, else the first.

    libpq says `connection failed: connection to server at "HOST", port N failed: FATAL:  REASON`
    and may add DETAIL and HINT lines; the host and port are in the URL shown already.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = next((line for line in lines if "FATAL:" in line), lines[0])
    for prefix in ("FATAL:", "failed:"):
        if prefix in line:
            line = line.rsplit(prefix, 1)[1]
    return " ".join(line.split())


def lost(where: str) -> StorageError:
    """The server went away in the middle of an operation."""
    return StorageError(
        f"Lost the connection to PostgreSQL at {where} during the operation; it may or may not have been "
        "applied. Check that the server runs, then look (e.g. `sparkq task ID`) before trying again"
    )


def pool_exhausted(where: str, size: int, seconds: float) -> StorageError:
    """Every connection of this process's pool stayed in use for `seconds`."""
    return StorageBusy(
        f"All {size} connections of this process to PostgreSQL at {where} stayed busy for {seconds:g} s; "
        "try again in a moment"
    )


def translate(exc: BaseException, where: str) -> StorageError | InvalidInput | None:
    """A psycopg error (or text it could not send) raised inside a unit of work as a SparkQ error; None: not ours."""
    import psycopg

    if isinstance(exc, UnicodeEncodeError):
        return InvalidInput(
            "The text contains characters that are not valid Unicode (lone surrogates); send UTF-8 text"
        )
    if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
        return InvalidInput("PostgreSQL cannot store the NUL character (\\x00) in text; remove it and try again")
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    if state in ("40001", "40P01", "55P03"):
        return StorageBusy(
            f"PostgreSQL at {where} gave up this operation because of another that held the same rows "
            "(a serialization failure or a deadlock); nothing was written. Try again"
        )
    if state in ("53100",):
        return StorageFull(f"The disk of the PostgreSQL server at {where} is full; nothing was written")
    if isinstance(exc, psycopg.OperationalError) or state.startswith("08") or state.startswith("57P"):
        return lost(where)
    return StorageError(f"Database error on PostgreSQL at {where}: {str(exc).strip().splitlines()[0]}")
