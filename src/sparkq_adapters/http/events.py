"""Live events: one poller tails the change feed and fans events out to SSE subscribers.

Between looks the poller waits on the feed's socket where it has one (PostgreSQL's LISTEN
connection, readable at a NOTIFY: a commit on any machine is seen at once), the poll interval
being only the longest wait; on SQLite it sleeps the poll interval.

`GET /api/events` streams Server-Sent Events: `id` is the event's sequence number, `event`
its kind (one of `EventKind`, e.g. `task.claimed`; the OpenAPI document lists them) and `data` a
JSON object `{seq, kind, id, stream_id, status, at}`.
A client that reconnects with `Last-Event-ID` (or `?after=SEQ`) gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from sparkq_domain.errors import SparkQError
from sparkq_domain.limits import MAX_JSON_INTEGER, quoted

from ..event_kinds import EventKind
from .contract import reads

log = logging.getLogger("sparkq.server")

#: how often the poller looks for commits by any process (events arrive within this, plus a read);
#: on PostgreSQL the longest it waits for a NOTIFY before looking anyway
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 1000


class Feed(Protocol):
    def data_version(self) -> int: ...
    def last_seq(self) -> int: ...
    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]: ...
    def prune(self) -> int: ...
    def wake_fd(self) -> int | None: ...


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=256)
        #: set when it fell too far behind: its stream ends and the client resumes by Last-Event-ID
        self.dropped = False


class EventHub:
    """Tails the feed once for all subscribers; each subscriber gets its own bounded queue."""

    def __init__(self, feed: Feed, *, poll_seconds: float | None = None) -> None:
        self._feed = feed
        self._poll = POLL_SECONDS if poll_seconds is None else poll_seconds
        self._subscribers: set[_Subscriber] = set()
        self._last = 0
        self._lock = asyncio.Lock()
        #: counts the commits seen; `wait` sleeps until it moves (the long-poll claim uses it)
        self._changes = 0
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Poll until cancelled; a failing poll is logged and retried."""
        self._last = await asyncio.to_thread(self._feed.last_seq)
        version = -1
        problem = None  # a storage problem (the database is down) is logged once, not every poll while it lasts
        while True:
            try:
                current = await asyncio.to_thread(self._feed.data_version)
                if current != version:
                    version = current
                    self._notify()
                    await self._publish()
                if problem is not None:
                    log.warning("event feed back: live events and long polls go on")
                problem = None
            except SparkQError as exc:
                if exc.message != problem:
                    log.warning("event feed poll failed, retrying every %gs: %s", self._poll, exc.message)
                problem = exc.message
            except Exception:
                log.exception("event feed poll failed; retrying")
            await self._pause()

    async def _pause(self) -> None:
        """Until the feed's socket is readable (a NOTIFY, or the connection ending), or the poll interval passes.

        Without a socket (SQLite; PostgreSQL while the connection is lost) it sleeps the interval.
        """
        fd = self._feed.wake_fd()
        if fd is None:
            await asyncio.sleep(self._poll)
            return
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        try:
            loop.add_reader(fd, ready)
        except (OSError, ValueError, RuntimeError):  # no longer a socket, or one the loop will not watch
            await asyncio.sleep(self._poll)
            return
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when the task is cancelled just as
        # the future completes (a readable socket often is), and the hub then ran on past its shutdown, forever
        try:
            async with asyncio.timeout(self._poll):
                await readable
        except TimeoutError:
            pass
        finally:
            # watched only while waiting: the socket stays readable until the next look drains it
            loop.remove_reader(fd)

    def mark(self) -> int:
        """A token for "now": `wait(mark, …)` returns once a commit is seen after it."""
        return self._changes

    async def wait(self, mark: int, seconds: float) -> None:
        """Sleep until a commit by any process is seen after `mark`, or `seconds` pass."""
        if self._changes != mark:
            return
        changed = self._changed
        try:
            async with asyncio.timeout(seconds):  # not wait_for: see _pause
                await changed.wait()
        except TimeoutError:
            pass

    def _notify(self) -> None:
        self._changes += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _publish(self) -> None:
        async with self._lock:
            if not self._subscribers:
                # nobody listens: only where the feed ends matters (a subscriber starts there), not what
                # it holds; reading and mapping every event in a thread took the loop's GIL under load
                self._last = await asyncio.to_thread(self._feed.last_seq)
                return
            while True:
                batch = await asyncio.to_thread(self._feed.after, self._last)
                if not batch:
                    return
                self._last = batch[-1]["seq"]
                for sub in list(self._subscribers):
                    if sub.queue.full():
                        sub.dropped = True
                        self._subscribers.discard(sub)
                    else:
                        sub.queue.put_nowait(batch)

    async def newest(self) -> int:
        """The sequence number of the newest event in the feed (0 when there is none)."""
        return await asyncio.to_thread(self._feed.last_seq)

    async def subscribe(self, after: int | None) -> AsyncIterator[ServerSentEventMessage]:
        sub = _Subscriber()
        async with self._lock:
            self._subscribers.add(sub)
            start = self._last
        try:
            yield ServerSentEventMessage(data=None, comment="sparkq events", retry=RETRY_MS)
            if after is not None and after < start:
                # replay what the client missed (bounded by pruning), then go live
                seq = after
                while seq < start:
                    missed = [e for e in await asyncio.to_thread(self._feed.after, seq) if e["seq"] <= start]
                    if not missed:
                        break
                    for event in missed:
                        yield _message(event)
                    seq = missed[-1]["seq"]
            while not (sub.dropped and sub.queue.empty()):
                try:
                    async with asyncio.timeout(HEARTBEAT_SECONDS):  # not wait_for: see _pause
                        batch = await sub.queue.get()
                except TimeoutError:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
                    continue
                for event in batch:
                    if after is None or event["seq"] > after:
                        yield _message(event)
        finally:
            self._subscribers.discard(sub)


def _message(event: dict[str, Any]) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=json.dumps(event), event=event["kind"], id=event["seq"])


#: the route's description in the OpenAPI document, with the kinds an event may have
DESCRIPTION = (
    "Server-Sent Events, one per change by any process; resume with Last-Event-ID or `after`. "
    f"Each event's `event` is its kind, one of: {', '.join(kind.value for kind in EventKind)}; "
    "its `data` is a JSON object {seq, kind, id, stream_id, status, at}. A sequence number past the newest "
    "event is refused (400): it comes from another or a re-created database."
)


@get("/api/events", tags=["events"], media_type="text/event-stream", responses=reads(400), description=DESCRIPTION)
async def events(
    request: Request[Any, Any, Any],
    hub: NamedDependency[EventHub],
    after: int | None = Parameter(
        default=None,
        ge=0,
        le=MAX_JSON_INTEGER,
        description="Replay the events after this sequence number (0 to 2^53 - 1, at most the newest event's)",
        schema_extra={"minimum": 0},  # Litestar leaves out a falsy bound of an optional parameter
    ),
) -> ServerSentEvent:
    """Server-Sent Events, one per change by any process; resume with Last-Event-ID or `after`.

    A sequence number past the newest event is refused (400): it comes from another or a re-created
    database, and waiting for it would hide every event until the feed caught up.
    """
    last_id = request.headers.get("last-event-id")
    if after is None and last_id is not None:
        after = _event_number(last_id, "Last-Event-ID")
    if after is not None and after > (newest := await hub.newest()):
        raise ClientException(
            f"There is no event {after} yet: the newest is {newest} (a different or re-created database?); "
            "reconnect without after / Last-Event-ID to start from now"
        )
    return ServerSentEvent(hub.subscribe(after))


def _event_number(text: str, what: str) -> int:
    value = text.strip()
    digits = value.lstrip("0") or "0"
    # the length first: int() of thousands of digits is slow, and refused past 4300
    if not (value and digits.isascii() and digits.isdigit() and len(digits) <= 16 and int(digits) <= MAX_JSON_INTEGER):
        raise ClientException(f"{what} must be an event number from 0 to {MAX_JSON_INTEGER}, got {quoted(text)}")
    return int(digits)
