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
