"""Waiting for work: claim as soon as a task is queued, without a busy loop.

`sparkq claim --wait` and `POST /api/streams/{ref}/claim?wait=N` share this loop: try to claim;
when there is nothing, wait until the database changes (or a recheck interval passes), then
try again, until the time is up. What "the database changes" means is a `Changes` object:
`DataVersionChanges` watches the change feed of a connection of its own (the CLI, `sparkq mcp`),
the server's `EventHub` already watches it once for every client (HTTP).

A change feed (`ChangeSignal`) counts the commits it has seen (`data_version`) and may offer a
socket that a commit makes readable (`wake_fd`): PostgreSQL's LISTEN connection, on which a
NOTIFY arrives at the commit of any machine; a waiter blocks on it and wakes at once. SQLite has
none (`PRAGMA data_version` is a counter to read), so there the counter is polled every
`POLL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from sparkq_domain import Claimed, Queue

T = TypeVar("T")

#: how often `DataVersionChanges` reads `PRAGMA data_version` (a cheap read of a counter) where no socket wakes it
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


class ChangeSignal(Protocol):
    """What a change feed offers the waiting loops (both databases' `ChangeFeed`s)."""

    def data_version(self) -> int:
        """Moves whenever another connection committed a change since the last look."""
        ...

    def wake_fd(self) -> int | None:
        """A socket that becomes readable when `data_version` may have moved; None: poll it instead."""
        ...


class DataVersionChanges:
    """Sees commits by any other connection through a change counter.

    With `wake_fd` (PostgreSQL's LISTEN socket) it blocks on that socket until something arrives;
    without one (or while it returns None: a lost connection) it reads the counter every `poll` seconds.
    """

    def __init__(
        self,
        data_version: Callable[[], int],
        *,
        wake_fd: Callable[[], int | None] | None = None,
        poll: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version = data_version
        self._wake_fd = wake_fd
        self._poll = POLL_SECONDS if poll is None else poll
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def of(cls, feed: ChangeSignal, *, poll: float | None = None) -> DataVersionChanges:
        """Over `feed`: woken by its socket where it has one, polling its counter where not."""
        return cls(feed.data_version, wake_fd=feed.wake_fd, poll=poll)

    def mark(self) -> int:
        return self._version()

    def wait(self, mark: int, seconds: float) -> None:
        deadline = self._clock() + seconds
        # reading the counter drains the socket (a NOTIFY, or a message that is none), so the next
        # block on it sleeps until something new arrives
        while self._version() == mark:
            left = deadline - self._clock()
            if left <= 0:
                return
            fd = None if self._wake_fd is None else self._wake_fd()
            if fd is None:
                self._sleep(min(self._poll, left))
            else:
                wait_readable(fd, left)


def wait_readable(fd: int, seconds: float) -> None:
    """Block until the socket `fd` has something to read (or was closed), or `seconds` pass."""
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return  # closed meanwhile: the caller's next look at the counter says what happened
        selector.select(seconds)


def claim_waiting(
    claim: Callable[[], T | None],
    changes: Changes,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    recheck: float | None = None,
) -> T | None:
    """`claim()` until it returns something or `timeout` seconds pass (None: wait forever).

    Between attempts it waits for `changes`, at most `recheck` seconds (default `RECHECK_SECONDS`).
    """
    deadline = None if timeout is None else clock() + timeout
    while True:
        mark = changes.mark()  # before the claim: a task queued during it is not missed
        result = claim()
        if result is not None:
            return result
        seconds = _next_wait(deadline, clock, recheck)
        if seconds is None:
            return None
        changes.wait(mark, seconds)


async def claim_waiting_async(
    claim: Callable[[], Awaitable[T | None]],
    changes: AsyncChanges,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    recheck: float | None = None,
    gone: asyncio.Future[Any] | None = None,
) -> T | None:
    """`claim_waiting` for the event loop: `claim` runs the blocking claim in a thread.

    `gone` is done once the caller has gone away (an HTTP client that disconnected): the wait ends
    with None at once, and no task is claimed for nobody. A claim under way is not interrupted:
    it would be taken all the same, and its answer lost.
    """
    deadline = None if timeout is None else clock() + timeout
    while gone is None or not gone.done():
        mark = changes.mark()
        result = await claim()
        if result is not None:
            return result
        seconds = _next_wait(deadline, clock, recheck)
        if seconds is None:
            return None
        if gone is None:
            await changes.wait(mark, seconds)
        else:
            await _unless_gone(changes.wait(mark, seconds), gone)
    return None


async def _unless_gone(waiting: Awaitable[None], gone: asyncio.Future[Any]) -> None:
    """Await `waiting`, or stop it when `gone` is done first."""
    task = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()  # not awaited: awaiting it could take (and hide) a cancellation of our own
    if task.done() and not task.cancelled():
        task.result()  # the wait's own error, if it had one


def _next_wait(deadline: float | None, clock: Callable[[], float], recheck: float | None) -> float | None:
    most = RECHECK_SECONDS if recheck is None else recheck  # read now: a test may set it
    if deadline is None:
        return most
    left = deadline - clock()
    return None if left <= 0 else min(left, most)


def claimer(queue: Queue, stream: str) -> Callable[[], Claimed | None]:
    """`queue.claim(stream)` for the waiting loops (a stream that has ended raises `StreamEnded`, ending the wait)."""

    def claim() -> Claimed | None:
        return queue.claim(stream)

    return claim
