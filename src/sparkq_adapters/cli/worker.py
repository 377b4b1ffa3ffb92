"""`peek` and `claim`, the commands agents call in tight loops, free of Cyclopts.

Importing Cyclopts (with attrs) costs about 80 ms of the 110 ms a loop call may take, so the
console script recognises the plain forms `sparkq peek --stream S` and `sparkq claim
--stream S` (or `--stream=S`) before importing it, and runs these functions directly. The
Cyclopts commands in `tasks.py` call the very same functions, so both paths print the same.
Any other form (help, a missing or extra option) goes through Cyclopts as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..serialization import claimed_to_dict, task_to_dict
from . import common, output

#: set to 0 to send every command through Cyclopts (for debugging and for the tests that
#: check that both paths agree)
FAST_PATH_ENV = "SPARKQ_CLI_FAST_PATH"


def print_peek(stream: str) -> None:
    task = common.queue().peek(stream)
    if task is not None:
        output.print_json(task_to_dict(task))


def print_claim(stream: str) -> None:
    claimed = common.queue().claim(stream)
    if claimed is not None:
        output.print_json(claimed_to_dict(claimed.task, claimed.stream))


FAST_COMMANDS: dict[str, Callable[[str], None]] = {"peek": print_peek, "claim": print_claim}


def fast_path(args: list[str]) -> Callable[[], None] | None:
    """The call to run for a plain `peek`/`claim --stream S`, or None to go through Cyclopts."""
    if os.environ.get(FAST_PATH_ENV) == "0" or not args or args[0] not in FAST_COMMANDS:
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
    return lambda: command(stream)
