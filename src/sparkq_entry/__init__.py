"""The composition root: where SparkQ's adapters are chosen and plugged into the domain.

`open_queue` (the library's way in) is loaded on first use, so that importing `sparkq_entry.cli`
(the console script's first line) costs nothing: the CLI's own imports then run inside its
handling of Ctrl-C, which answers exit 130 without a traceback however early it comes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .wiring import open_queue

__all__ = ["open_queue"]


def __getattr__(name: str) -> Any:
    if name == "open_queue":
        from .wiring import open_queue

        return open_queue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
