"""The system clock, the random id factory, and the one timestamp format (ISO-8601 UTC with `Z`)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Ids such as `tsk_3f9a0c1b2d4e`: the prefix and 12 random hex digits."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(6)}"


def format_time(value: datetime) -> str:
    """Format as `2026-11-23T06:47:03.123456Z`: fixed width, so text order is time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; one without a zone is taken as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_optional(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def parse_optional(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
