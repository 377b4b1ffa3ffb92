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
    ("args", "config"),
    [
        (["--config", "/p/sparkq.yml", "peek", "--stream", "auth"], "/p/sparkq.yml"),
        (["--config=p.yml", "claim", "--stream=auth"], "p.yml"),
        (["peek", "--stream", "auth", "--config", "p.yml"], "p.yml"),
        (["claim", "--stream", "auth", "--config=p.yml"], "p.yml"),
        (["peek", "--stream", "auth"], None),
    ],
)
def test_one_global_config_before_or_after_keeps_the_fast_path(args: list[str], config: str | None) -> None:
    fast = worker.fast_path(args)
    assert fast is not None and fast[0] == config


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "peek", "--stream", "auth"],
        ["--config", "", "peek", "--stream", "auth"],
        ["--config=", "peek", "--stream", "auth"],
        ["--config", "-x", "peek", "--stream", "auth"],
        ["peek", "--config", "p.yml", "--stream", "auth"],
        ["--config", "a.yml", "peek", "--stream", "auth", "--config", "b.yml"],
        ["peek", "--stream", "--config", "p.yml"],
        ["claim", "--stream", "auth", "--wait"],
        ["claim", "--stream", "auth", "--wait", "5"],
    ],
)
def test_config_elsewhere_or_anything_more_goes_through_cyclopts(args: list[str]) -> None:
    assert worker.fast_path(args) is None
