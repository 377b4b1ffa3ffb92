"""The test doubles of the clock and id ports: the public ones of `sparkq_adapters.testing`."""

from __future__ import annotations

from sparkq_adapters.testing import EPOCH, FakeClock, SequentialIds

__all__ = ["EPOCH", "FakeClock", "SequentialIds"]
