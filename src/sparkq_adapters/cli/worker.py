"""`peek` and `claim`, the commands agents call in tight loops, free of Cyclopts.

Importing Cyclopts (with attrs) costs about 80 ms of the 110 ms a loop call may take, so the
console script recognises the plain forms `sparkq peek --stream S` and `sparkq claim
--stream S` (or `--stream=S`), each optionally with one global `--config PATH` (or
`--config=PATH`) before or after it, before importing it, and runs these functions directly
on the `Context` the same bootstrap builds. The Cyclopts commands in `tasks.py` call the very
same functions, so both paths print the same. Any other form (help, a missing or extra
option) goes through Cyclopts as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..serialization import claimed_to_dict, task_to_dict
from . import output

if TYPE_CHECKING:
    from .common import Context

#: set to 0 to send every command through Cyclopts (for debugging and for the tests that
#: check that both paths agree)
FAST_PATH_ENV = "SPARKQ_CLI_FAST_PATH"


def print_peek(ctx: Context, stream: str) -> None:
    task = ctx.queue().peek(stream)
    if task is not None:
        output.print_json(task_to_dict(task))


def print_claim(ctx: Context, stream: str) -> None:
    claimed = ctx.queue().claim(stream)
    if claimed is not None:
        output.print_json(claimed_to_dict(claimed.task, claimed.stream))


FAST_COMMANDS: dict[str, Callable[[Context, str], None]] = {"peek": print_peek, "claim": print_claim}


def print_claim_waiting(ctx: Context, stream: str, seconds: float | None) -> None:
    """Block until a task is queued in `stream` (at most `seconds`; None = forever), claim and print it."""
    from ..waiting import DataVersionChanges, claim_waiting, claimer

    queue = ctx.queue()
    claimed = claim_waiting(claimer(queue, stream), DataVersionChanges.of(ctx.change_feed()), seconds)
    if claimed is not None:
        output.print_json(claimed_to_dict(claimed.task, claimed.stream))


def fast_path(args: list[str]) -> tuple[str | None, Callable[[Context], None]] | None:
    """(the `--config` path, the call) for a plain `peek`/`claim --stream S`, or None to go through Cyclopts."""
    if os.environ.get(FAST_PATH_ENV) == "0":
        return None
    config, args = _config_pair(args)
    if not args or args[0] not in FAST_COMMANDS:
        return None
    if len(args) == 3 and args[1] == "--stream":
        stream = args[2]
    elif len(args) == 2 and args[1].startswith("--stream="):
        stream = args[1].removeprefix("--stream=")
    else:
        return None
    if not stream or stream.startswith("-"):
        return None  # let Cyclopts explain what is wrong
    command = FAST_COMMANDS[args[0]]
    return config, lambda ctx: command(ctx, stream)


def _config_pair(args: list[str]) -> tuple[str | None, list[str]]:
    """The path of one `--config PATH` (or `--config=PATH`) first or last in `args`, and the rest."""
    for words, rest in ((args[:2], args[2:]), (args[-2:], args[:-2]), (args[:1], args[1:]), (args[-1:], args[:-1])):
        path = _config_path(words)
        if path:
            return path, rest
    return None, args


def _config_path(words: list[str]) -> str | None:
    if len(words) == 2 and words[0] == "--config" and not words[1].startswith("-"):
        return words[1]
    if len(words) == 1 and words[0].startswith("--config="):
        return words[0].removeprefix("--config=")
    return None
