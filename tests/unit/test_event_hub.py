"""The event hub reads the change feed's events only while someone listens; a later subscriber still gets its own.

Under load the feed grows by thousands of events a second; reading and mapping them in a thread
for nobody took the event loop's GIL from the requests that made them (bench/http_api.py's p99).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sparkq_adapters.http.events import EventHub


class Feed:
    """A change feed in memory: every look at `data_version` sees one more commit."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.reads = 0  # calls of `after`
        self.looks = 0  # calls of `data_version`
        self.looked = asyncio.Event()

    def add(self, kind: str) -> None:
        seq = len(self.events) + 1
        self.events.append({"seq": seq, "kind": kind, "id": f"tsk_{seq}", "stream_id": "str_1", "status": "queued"})

    def data_version(self) -> int:
        self.looks += 1
        self.looked.set()
        return self.looks

    def last_seq(self) -> int:
        return len(self.events)

    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        self.reads += 1
        return [e for e in self.events if e["seq"] > seq][:limit]

    def prune(self) -> int:
        return 0

    def wake_fd(self) -> None:
        return None  # no socket: the hub polls, as on SQLite

    async def polls(self, n: int) -> None:
        """Until the hub has looked at the feed `n` more times."""
        target = self.looks + n
        while self.looks < target:
            self.looked.clear()
            await self.looked.wait()


def test_without_subscribers_the_hub_reads_no_events_and_a_later_subscriber_gets_the_new_ones() -> None:
    async def main() -> None:
        feed = Feed()
        hub = EventHub(feed, poll_seconds=0)
        running = asyncio.create_task(hub.run())
        try:
            for n in range(500):
                feed.add("task.enqueued")
                if n % 100 == 0:
                    await feed.polls(2)
            await feed.polls(2)
            assert feed.reads == 0  # nobody listened: nothing was read
            stream = hub.subscribe(None)
            opening = await anext(stream)
            assert opening.comment == "sparkq events"
            feed.add("task.claimed")
            message = await anext(stream)
            assert (message.event, message.id) == ("task.claimed", 501)
            assert feed.reads > 0
            # and one that resumes from an earlier event gets what it missed from the feed
            resumed = hub.subscribe(498)
            await anext(resumed)
            assert [(await anext(resumed)).id for _ in range(3)] == [499, 500, 501]
            for generator in (stream, resumed):
                await generator.aclose()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    asyncio.run(main())


class ReadableFeed(Feed):
    """A feed whose wake-up socket always has bytes waiting (a NOTIFY nobody drained), as PostgreSQL's may."""

    def __init__(self) -> None:
        super().__init__()
        import socket

        self.ends = socket.socketpair()
        self.ends[1].send(b"x")

    def wake_fd(self) -> int:  # type: ignore[override]
        return self.ends[0].fileno()

    def close(self) -> None:
        for end in self.ends:
            end.close()


def test_a_hub_waiting_on_a_readable_socket_always_stops_when_cancelled() -> None:
    # Python 3.11's asyncio.wait_for returns the result when its task is cancelled just as the awaited future
    # completes: the hub's pause on a readable socket then swallowed the shutdown's cancel, the hub ran on,
    # and the shutdown waited for it forever. A cancel at every step of the pause must end it.
    async def main() -> None:
        feed = ReadableFeed()
        try:
            hub = EventHub(feed, poll_seconds=5)
            for steps in range(12):
                pausing = asyncio.create_task(hub._pause())
                for _ in range(steps):
                    await asyncio.sleep(0)
                if pausing.cancel():  # False once the pause is over: nothing to cancel
                    await asyncio.wait({pausing}, timeout=5)
                    assert pausing.cancelled(), f"the cancel after {steps} steps was swallowed"
                await asyncio.wait({pausing}, timeout=5)
                assert pausing.done()
            running = asyncio.create_task(hub.run())
            await feed.polls(3)
            running.cancel()
            await asyncio.wait({running}, timeout=5)
            assert running.cancelled(), "the hub ran on after a cancel"
        finally:
            feed.close()

    asyncio.run(main())
