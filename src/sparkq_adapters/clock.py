"""The system clock, the random id factory, and the one timestamp format (ISO-8601 UTC with `Z`)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class RandomIds:
    """Ids such as `tsk_3f9a0c1b2d4e`: the prefix and 12 random hex digits."""

    def new_id(self, prefix: str) -> str:
        # os.urandom rather than secrets: same randomness, without importing hmac/hashlib on every CLI call
        return f"{prefix}_{os.urandom(6).hex()}"


def format_time(value: datetime) -> str:
    """Format as `2026-11-23T06:47:03.123456Z`: fixed width, so text order is time order."""
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    # isoformat ends in "+00:00" for UTC; it is faster than strftime on every write's hot path
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; one without a zone is taken as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_optional(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def parse_optional(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
