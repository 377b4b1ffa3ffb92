"""Waiting for work: claim as soon as a task is queued, without a busy loop.

`sparkq claim --wait` and `POST /api/streams/{ref}/claim?wait=N` share this loop: try to claim;
when there is nothing, sleep until the database changes (or a recheck interval passes), then
try again, until the time is up. What "the database changes" means is a `Changes` object:
`DataVersionChanges` polls `PRAGMA data_version` of a connection of its own (the CLI), the
server's `EventHub` already tails it once for every client (HTTP).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from sparkq_domain import Claimed, Queue

T = TypeVar("T")

#: how often `DataVersionChanges` reads `PRAGMA data_version` (a cheap read of a counter)
POLL_SECONDS = 0.1
#: claim again at least this often even when no change was seen (a safety net, not the mechanism)
RECHECK_SECONDS = 5.0
#: the longest `?wait=` the HTTP API accepts
MAX_HTTP_WAIT_SECONDS = 60.0


class Changes(Protocol):
    def mark(self) -> int:
        """A token for "now"; `wait(mark, …)` returns early once something changed after it."""
        ...

    def wait(self, mark: int, seconds: float) -> None: ...


class AsyncChanges(Protocol):
    def mark(self) -> int: ...

    async def wait(self, mark: int, seconds: float) -> None: ...


class DataVersionChanges:
    """Sees commits by any other connection by polling `PRAGMA data_version` every `poll` seconds."""

    def __init__(
        self,
        data_version: Callable[[], int],
        *,
        poll: float = POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version = data_version
        self._poll = poll
        self._sleep = sleep
        self._clock = clock

    def mark(self) -> int:
        return self._version()

    def wait(self, mark: int, seconds: float) -> None:
        deadline = self._clock() + seconds
        while self._version() == mark:
            left = deadline - self._clock()
            if left <= 0:
                return
            self._sleep(min(self._poll, left))


def claim_waiting(
    claim: Callable[[], T | None],
    changes: Changes,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """`claim()` until it returns something or `timeout` seconds pass (None: wait forever)."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        mark = changes.mark()  # before the claim: a task queued during it is not missed
        result = claim()
        if result is not None:
            return result
        seconds = _next_wait(deadline, clock)
        if seconds is None:
            return None
        changes.wait(mark, seconds)


async def claim_waiting_async(
    claim: Callable[[], Awaitable[T | None]],
    changes: AsyncChanges,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """`claim_waiting` for the event loop: `claim` runs the blocking claim in a thread."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        mark = changes.mark()
        result = await claim()
        if result is not None:
            return result
        seconds = _next_wait(deadline, clock)
        if seconds is None:
            return None
        await changes.wait(mark, seconds)


def _next_wait(deadline: float | None, clock: Callable[[], float]) -> float | None:
    if deadline is None:
        return RECHECK_SECONDS
    left = deadline - clock()
    return None if left <= 0 else min(left, RECHECK_SECONDS)


def claimer(queue: Queue, stream: str) -> Callable[[], Claimed | None]:
    """`queue.claim(stream)` for the waiting loops (a stream that has ended raises `StreamEnded`, ending the wait)."""

    def claim() -> Claimed | None:
        return queue.claim(stream)

    return claim
