"""One composition root, in-process: the meta app takes `--config`, each command gets its `Context`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclopts import App, CycloptsError

from sparkq_adapters.cli.app import build_cli
from sparkq_adapters.cli.common import Context, UsageError
from sparkq_adapters.cli.tasks import parse_wait
from sparkq_entry.cli import main
from sparkq_entry.wiring import cli_context


@pytest.fixture
def projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two set-up projects, `a` and `b`, run from a third folder that has no sparkq.yml."""
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)
    # the default, set so that a developer's SPARKQ_CLI_FAST_PATH=0 does not hide the fast path
    monkeypatch.setenv("SPARKQ_CLI_FAST_PATH", "1")
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        configs.append(tmp_path / name / "sparkq.yml")
        assert main(["--config", str(configs[-1]), "setup", "--defaults"]) == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return configs[0], configs[1]


def sessions(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main([*args, "session", "list", "--json"]) == 0
    return [s["name"] for s in json.loads(capsys.readouterr().out)]


def test_config_before_or_after_the_command_chooses_the_database(
    projects: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = projects
    assert main(["--config", str(a), "session", "create", "first"]) == 0
    assert main(["session", "create", "second", "--config", str(a)]) == 0
    assert main(["session", "create", "third", f"--config={b}"]) == 0
    assert sessions(capsys, "--config", str(a)) == ["first", "second"]
    assert sessions(capsys, f"--config={b}") == ["third"]
    # given twice, the last one counts
    assert sessions(capsys, "--config", str(a), "--config", str(b)) == ["third"]
    assert not (a.parent.parent / "elsewhere" / "sparkq.db").exists()


def test_the_fast_path_reads_the_database_its_config_names(
    projects: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = projects
    for args in (["session", "create", "s"], ["stream", "create", "auth", "--session", "s"]):
        assert main(["--config", str(b), *args]) == 0
    capsys.readouterr()
    assert main(["--config", str(b), "enqueue", "run-bash", "{}", "--stream", "auth"]) == 0
    queued = capsys.readouterr().out.strip()
    assert main(["--config", str(a), "peek", "--stream", "auth"]) == 1  # no such stream in a
    assert "Stream 'auth' not found" in capsys.readouterr().err
    assert main(["peek", "--stream", "auth", "--config", str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == queued
    # a bare --wait claims the queued task at once (through Cyclopts: the fast path takes no --wait)
    assert main(["claim", "--stream", "auth", "--wait", f"--config={b}"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == queued


@pytest.mark.parametrize("args", [["--config"], ["tasks", "--config"], ["session", "list", "--json", "--config"]])
def test_config_without_a_path_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert capsys.readouterr().err == "Error: --config needs a path, e.g. --config ./sparkq.yml\n"


def test_help_and_a_broken_config_open_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)
    (tmp_path / "sparkq.yml").write_text("server: [\n")
    assert main(["--help"]) == 0
    assert main(["tasks", "--help"]) == 0
    assert main(["stop"]) == 1  # the config error, with how to stop a server by hand
    assert list(tmp_path.iterdir()) == [tmp_path / "sparkq.yml"]


def test_building_a_context_reads_nothing(tmp_path: Path) -> None:
    ctx = cli_context(str(tmp_path / "missing.yml"))
    assert isinstance(ctx, Context) and ctx.config_path == str(tmp_path / "missing.yml")
    assert list(tmp_path.iterdir()) == []


def test_importing_the_frontends_builds_nothing() -> None:
    import sparkq_adapters.cli.app
    import sparkq_adapters.cli.common
    import sparkq_entry.asgi
    import sparkq_entry.cli
    import sparkq_entry.wiring
    from sparkq_domain import Queue

    modules = (sparkq_adapters.cli.app, sparkq_adapters.cli.common, sparkq_entry.asgi, sparkq_entry.cli)
    built = [
        f"{module.__name__}.{name}"
        for module in (*modules, sparkq_entry.wiring)
        for name, value in vars(module).items()
        if isinstance(value, (App, Context, Queue))
    ]
    assert built == []


def test_each_build_is_a_fresh_app_whose_commands_get_the_context() -> None:
    seen: list[str | None] = []

    def open_context(config: str | None) -> Context:
        seen.append(config)
        return cli_context(config)

    first, second = build_cli(open_context), build_cli(open_context)
    assert first is not second
    _, bound, injected = first.parse_args(["tasks", "--json"])
    assert list(injected) == ["ctx"] and bound.kwargs == {"json": True}
    assert first.meta(["--help"], result_action="return_value") is None
    assert seen == []  # help builds no context


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        (["claim", "--stream", "a", "--wait"], None),
        (["claim", "--wait", "--stream", "a"], None),
        (["claim", "--stream", "a", "--wait", "--"], None),
        (["claim", "--stream", "a", "--wait", "30"], 30.0),
        (["claim", "--stream", "a", "--wait=2.5"], 2.5),
    ],
)
def test_wait_takes_an_optional_number_of_seconds(args: list[str], seconds: float | None) -> None:
    _, bound, _ = build_cli(cli_context).parse_args(args)
    assert bound.kwargs["stream"] == "a"
    assert parse_wait(bound.kwargs["wait"]) == seconds


@pytest.mark.parametrize("value", ["-5", "abc", "=abc"])
def test_a_wait_value_that_is_no_number_reaches_parse_wait(value: str) -> None:
    args = ["claim", "--stream", "a", f"--wait{value}" if value.startswith("=") else "--wait"]
    args += [] if value.startswith("=") else [value]
    _, bound, _ = build_cli(cli_context).parse_args(args)
    text = value.removeprefix("=")
    assert bound.kwargs["wait"] == [text]
    with pytest.raises(UsageError, match=f"Invalid --wait '{text}': give a number of seconds"):
        parse_wait(bound.kwargs["wait"])


def test_a_bare_wait_before_help_shows_the_help_and_peek_takes_no_wait() -> None:
    app = build_cli(cli_context)
    command, _, _ = app.parse_args(["claim", "--wait", "-h"])
    assert command == app.help_print
    with pytest.raises(CycloptsError, match="--wait"):
        app.parse_args(["peek", "--stream", "a", "--wait"], exit_on_error=False, print_error=False)
