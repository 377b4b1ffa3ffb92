"""Which command lines take the Cyclopts-free path for `peek` and `claim`."""

from __future__ import annotations

import pytest

from sparkq_adapters.cli import worker


@pytest.mark.parametrize(
    "args",
    [["peek", "--stream", "auth"], ["claim", "--stream", "auth"], ["peek", "--stream=auth"], ["claim", "--stream=a.b"]],
)
def test_plain_peek_and_claim_take_the_fast_path(args: list[str]) -> None:
    assert worker.fast_path(args) is not None


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["claim"],
        ["peek", "--stream"],
        ["peek", "--stream="],
        ["peek", "--stream", "--help"],
        ["peek", "--stream", "auth", "--help"],
        ["claim", "--stream", "auth", "--wait"],
        ["peek", "--help"],
        ["enqueue", "--stream", "auth"],
        ["complete", "--stream", "auth"],
        ["--stream", "auth", "peek"],
    ],
)
def test_every_other_form_goes_through_cyclopts(args: list[str]) -> None:
    assert worker.fast_path(args) is None


def test_the_fast_path_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(worker.FAST_PATH_ENV, "0")
    assert worker.fast_path(["peek", "--stream", "auth"]) is None


@pytest.mark.parametrize(
    ("args", "spelled"),
    [
        (["claim", "--stream", "a", "--wait"], ["claim", "--stream", "a", "--wait=forever"]),
        (["claim", "--wait", "--stream", "a"], ["claim", "--wait=forever", "--stream", "a"]),
        (["claim", "--wait", "-h"], ["claim", "--wait=forever", "-h"]),
        (["claim", "--stream", "a", "--wait", "--"], ["claim", "--stream", "a", "--wait=forever", "--"]),
    ],
)
def test_a_bare_wait_is_spelled_out_as_forever(args: list[str], spelled: list[str]) -> None:
    assert worker.bare_wait(args) == spelled


@pytest.mark.parametrize(
    "args",
    [
        ["claim", "--stream", "a", "--wait", "30"],
        ["claim", "--stream", "a", "--wait", "-5"],  # a value, refused by name later
        ["claim", "--stream", "a", "--wait", "abc"],  # a value too: `parse_wait` says what --wait takes
        ["claim", "--stream", "a", "--wait=abc"],
        ["peek", "--stream", "a", "--wait"],
    ],
)
def test_wait_with_a_value_and_other_commands_pass_unchanged(args: list[str]) -> None:
    assert worker.bare_wait(args) == args
