"""The composition root: where SparkQ's adapters are chosen and plugged into the domain."""

from __future__ import annotations

from .wiring import open_queue

__all__ = ["open_queue"]
