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


#: what a bare `--wait` (no number after it) becomes, so that Cyclopts sees an option with a value
WAIT_FOREVER = "forever"


def bare_wait(args: list[str]) -> list[str]:
    """`claim ... --wait` without a value means "wait forever": spell that out for Cyclopts.

    `--wait` is bare when nothing follows it or the next word is another option (`--stream S`);
    any other next word is its value, so `--wait abc` reaches `parse_wait`, which says what
    `--wait` takes. Only `claim` is touched; `--wait 30`, `--wait=30` and every other command
    pass unchanged, and the result never matches the fast path (which takes only the plain forms).
    """
    if not args or args[0] != "claim" or "--wait" not in args:
        return args
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--wait" and (i + 1 == len(out) or _is_option(out[i + 1])):
            out[i] = f"--wait={WAIT_FOREVER}"
    return out


def _is_option(word: str) -> bool:
    """`--stream`, `-h` or `--`, but not a negative number (a value `parse_wait` refuses by name)."""
    return word.startswith("-") and not _is_number(word)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def print_claim_waiting(stream: str, seconds: float | None) -> None:
    """Block until a task is queued in `stream` (at most `seconds`; None = forever), claim and print it."""
    from ..waiting import DataVersionChanges, claim_waiting, claimer

    queue = common.queue()
    claimed = claim_waiting(claimer(queue, stream), DataVersionChanges(common.data_version()), seconds)
    if claimed is not None:
        output.print_json(claimed_to_dict(claimed.task, claimed.stream))


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
