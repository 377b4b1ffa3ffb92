"""The errors SparkQ raises; adapters map them to HTTP statuses and exit codes."""

from __future__ import annotations


class SparkQError(Exception):
    """Base of every SparkQ error; the message is written for the user."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class NotFound(SparkQError):
    """The named session, stream, tool or task does not exist."""


class Duplicate(SparkQError):
    """That name is already taken."""


class Conflict(SparkQError):
    """The operation does not fit the current state."""


class StreamEnded(Conflict):
    """The stream has ended (or its session has): it takes no tasks and gives none."""

    def __init__(self, stream: str, consequence: str) -> None:
        self.stream = stream
        super().__init__(f"Stream {stream!r} has ended (or its session has) and {consequence}")


class InvalidTransition(Conflict):
    """The task's current status does not allow this operation."""

    def __init__(self, task_id: str, action: str, status: str, detail: str | None = None) -> None:
        self.task_id = task_id
        self.action = action
        self.status = status
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"Cannot {action} task {task_id}: it is {status}{suffix}")


class InvalidInput(SparkQError):
    """The input is malformed or out of range."""


class TooLarge(InvalidInput):
    """The input is larger than SparkQ accepts."""


class StorageError(SparkQError):
    """The database could not be used."""


class StorageBusy(StorageError):
    """The database is locked by another process; try again in a moment."""


class StorageFull(StorageError):
    """The disk holding the database is full; free some space and try again."""


class StorageCorrupt(StorageError):
    """The database file is damaged or is not a SparkQ database."""
