"""The waiting loop shared by `claim --wait` and the HTTP long-poll, on a fake clock."""

from __future__ import annotations

import asyncio

from sparkq_adapters.waiting import RECHECK_SECONDS, DataVersionChanges, claim_waiting, claim_waiting_async


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_claim_waiting_returns_at_once_when_a_task_is_there() -> None:
    t = FakeTime()
    changes = DataVersionChanges(lambda: 1, sleep=t.sleep, clock=t.clock)
    assert claim_waiting(lambda: "task", changes, 10, clock=t.clock) == "task"
    assert t.sleeps == []


def test_claim_waiting_claims_again_once_the_data_version_moves() -> None:
    t = FakeTime()
    attempts: list[float] = []

    def version() -> int:
        return 1 if t.now < 3 else 2  # another process commits at t=3

    def claim() -> str | None:
        attempts.append(t.now)
        return "task" if t.now >= 3 else None

    changes = DataVersionChanges(version, poll=0.1, sleep=t.sleep, clock=t.clock)
    assert claim_waiting(claim, changes, 30, clock=t.clock) == "task"
    assert len(attempts) == 2  # no claim per poll: only when something changed
    assert 3 <= t.now < 3.2
    assert max(t.sleeps) <= 0.1


def test_claim_waiting_gives_up_silently_when_the_time_is_up() -> None:
    t = FakeTime()
    changes = DataVersionChanges(lambda: 7, poll=0.2, sleep=t.sleep, clock=t.clock)
    assert claim_waiting(lambda: None, changes, 12, clock=t.clock) is None
    assert 12 <= t.now < 12.3


def test_claim_waiting_without_timeout_rechecks_now_and_then() -> None:
    t = FakeTime()

    def claim() -> str | None:
        return "late" if t.now > 3 * RECHECK_SECONDS else None

    changes = DataVersionChanges(lambda: 1, sleep=t.sleep, clock=t.clock)
    assert claim_waiting(claim, changes, None, clock=t.clock) == "late"


def test_claim_waiting_async_waits_for_a_change() -> None:
    class Hub:
        def __init__(self) -> None:
            self.count = 0
            self.event = asyncio.Event()

        def mark(self) -> int:
            return self.count

        async def wait(self, mark: int, seconds: float) -> None:
            if self.count == mark:
                try:
                    await asyncio.wait_for(self.event.wait(), seconds)
                except TimeoutError:
                    pass

    async def scenario() -> tuple[str | None, str | None]:
        hub = Hub()
        box: list[str] = []

        async def claim() -> str | None:
            return box[0] if box else None

        async def enqueue_later() -> None:
            await asyncio.sleep(0.05)
            box.append("task")
            hub.count += 1
            hub.event.set()

        later = asyncio.create_task(enqueue_later())
        got = await claim_waiting_async(claim, hub, 10)
        await later
        timed_out = await claim_waiting_async(lambda: asyncio.sleep(0, None), Hub(), 0.05)
        return got, timed_out

    assert asyncio.run(scenario()) == ("task", None)


class StillHub:
    """A hub where nothing is ever committed: its waits last until they are cancelled, which it counts."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.cancelled = 0

    def mark(self) -> int:
        return 0

    async def wait(self, mark: int, seconds: float) -> None:
        self.waiting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def test_claim_waiting_async_stops_waiting_and_claims_no_more_once_its_caller_is_gone() -> None:
    async def scenario() -> tuple[str | None, int, int]:
        hub = StillHub()
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        claims = 0

        async def claim() -> str | None:
            nonlocal claims
            claims += 1
            return None

        async def leave_once_waiting() -> None:
            await hub.waiting.wait()
            gone.set_result(None)

        leaving = asyncio.create_task(leave_once_waiting())
        got = await asyncio.wait_for(claim_waiting_async(claim, hub, 3600, gone=gone), 60)
        await leaving
        await asyncio.sleep(0)  # the cancelled wait runs its handler
        return got, claims, hub.cancelled

    # one claim found nothing; the caller left during the wait: the wait was stopped, no claim followed
    assert asyncio.run(scenario()) == (None, 1, 1)


def test_claim_waiting_async_for_a_caller_already_gone_claims_nothing() -> None:
    async def scenario() -> tuple[str | None, int]:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gone.set_result(None)
        claims = 0

        async def claim() -> str | None:
            nonlocal claims
            claims += 1
            return "task"

        return await claim_waiting_async(claim, StillHub(), 10, gone=gone), claims

    assert asyncio.run(scenario()) == (None, 0)
