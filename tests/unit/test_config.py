"""sparkq.yml: defaults, the checks and their messages, where the file is found, timeout resolution."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparkq_adapters import config
from sparkq_adapters.config import ConfigError
from sparkq_domain import DEFAULT_TOOLS, InvalidInput, TaskClass
from sparkq_domain.model import MAX_TIMEOUT_SECONDS, validate_name

REPO = Path(__file__).resolve().parents[2]
FILE = Path("/home/me/app/sparkq.yml")


def parse(text: str) -> config.Settings:
    return config.parse(text, FILE)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.message


# -- defaults --------------------------------------------------------------------------------------


def test_no_config_file_gives_builtin_defaults_with_db_in_current_folder(tmp_path: Path) -> None:
    settings = config.load(cwd=tmp_path)
    assert settings.source is None
    assert settings.db_path == tmp_path.resolve() / "sparkq.db"
    assert settings.file.server.port == 8420
    assert settings.file.watcher.tmp_dir == "/tmp"
    assert settings.file.purge.older_than_days == 3
    assert set(settings.registry().tools) == set(DEFAULT_TOOLS)
    assert settings.project_name == tmp_path.name


def test_empty_file_means_all_defaults() -> None:
    settings = parse("")
    assert settings.file == config.ConfigFile()
    assert settings.source == FILE


def test_relative_paths_are_relative_to_the_config_file_folder() -> None:
    settings = parse("database: {path: data/q.db}\nscript_dirs: [scripts]\n")
    assert settings.db_path == FILE.parent / "data" / "q.db"
    assert settings.lock_path == FILE.parent / "data" / "sparkq.lock"
    assert settings.script_dirs == [FILE.parent / "scripts"]


def test_without_a_file_sparkq_runs_on_the_values_of_the_shipped_example_but_its_project() -> None:
    example = config.parse((REPO / "sparkq.yml.example").read_text(), FILE).file
    assert attrs.evolve(example, project=config.ProjectConfig()) == config.ConfigFile()
    assert config.defaults(FILE.parent).file.script_dirs == ["scripts", "tools"]


def test_the_shipped_example_is_a_valid_config_in_the_spec_shape() -> None:
    settings = config.parse((REPO / "sparkq.yml.example").read_text(), FILE)
    assert settings.file.project.name == "my-saas-app"
    assert settings.file.script_dirs == ["scripts", "tools"]
    assert list(settings.file.tools) == list(DEFAULT_TOOLS)
    assert settings.registry().resolve("run-migrations") == (TaskClass.MEDIUM_SCRIPT, 1800)


# -- finding the file ------------------------------------------------------------------------------


def test_explicit_path_wins_over_environment_and_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("explicit.yml", "env.yml", "sparkq.yml"):
        (tmp_path / name).write_text(f"project: {{name: {name.split('.')[0]}}}\n")
    monkeypatch.setenv(config.CONFIG_ENV, str(tmp_path / "env.yml"))
    assert config.load(tmp_path / "explicit.yml", cwd=tmp_path).file.project.name == "explicit"
    assert config.load(None, cwd=tmp_path).file.project.name == "env"
    monkeypatch.delenv(config.CONFIG_ENV)
    assert config.load(None, cwd=tmp_path).file.project.name == "sparkq"


def test_missing_explicit_config_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml not found"):
        config.load(tmp_path / "nope.yml", cwd=tmp_path)


# -- errors name the file, the key and what was expected ---------------------------------------------


def test_unknown_top_level_key_is_named_with_the_known_keys() -> None:
    message = error_of("projekt: {name: x}\n")
    assert message.startswith(f"{FILE}: projekt: unknown key")
    assert "project, server, database" in message


def test_unknown_nested_key_is_named_by_its_full_path() -> None:
    message = error_of("server: {prot: 8421}\n")
    assert message == f"{FILE}: server.prot: unknown key; expected one of: port, host, max_body_bytes"


def test_unknown_key_inside_a_tool_is_named() -> None:
    assert "tools.deploy.timeot: unknown key" in error_of("tools:\n  deploy: {description: d, timeot: 5}\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {port: abc}\n", "server.port: expected a whole number, got 'abc'"),
        ("server: {port: 80.5}\n", "server.port: expected a whole number, got 80.5"),
        ("server: {port: true}\n", "server.port: expected a whole number, got True"),
        ("task_classes: {LLM_LITE: {timeout: '30'}}\n", "task_classes.LLM_LITE.timeout: expected a whole number"),
        ("project: {name: 123}\n", "project.name: expected text (put it in quotes), got 123"),
        ("script_dirs: scripts\n", "script_dirs: expected a list of folder names"),
        ("watcher: {idle_poll_seconds: soon}\n", "watcher.idle_poll_seconds: expected a number, got 'soon'"),
        ("tools: {x: {task_class: BIG}}\n", "tools.x.task_class: expected a task class: FAST_SCRIPT"),
        ("task_classes: {HUGE: {timeout: 5}}\n", "task_classes.HUGE: expected a task class"),
        ("tools: {x: {payload_template: [1, 2]}}\n", "tools.x.payload_template: expected a mapping (a JSON object)"),
        ("tools: {x: }\n", "tools.x: expected a mapping with the keys description, task_class"),
        ("task_classes: {FAST_SCRIPT: {}}\n", "task_classes.FAST_SCRIPT.timeout: a required key is missing"),
    ],
)
def test_wrong_types_are_refused_with_key_and_expectation(text: str, expected: str) -> None:
    message = error_of(text)
    assert message.startswith(f"{FILE}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {port: 70000}\n", "server.port: expected a port number from 1 to 65535, got 70000"),
        ("server: {host: 0.0.0.0}\n", "server.host: expected a loopback address"),
        ("database: {mode: delete}\n", "database.mode: expected wal, got 'delete'"),
        ("task_classes: {FAST_SCRIPT: {timeout: 0}}\n", "task_classes.FAST_SCRIPT.timeout: expected a whole number"),
        ("tools: {x: {timeout: -5}}\n", "tools.x.timeout: expected a whole number of seconds"),
        ("tools: {'bad name': {}}\n", "tools.bad name: expected a tool name"),
        ("purge: {older_than_days: -1}\n", "purge.older_than_days: expected 0 or more, got -1"),
    ],
)
def test_out_of_range_values_are_refused_with_key_and_expectation(text: str, expected: str) -> None:
    message = error_of(text)
    assert message.startswith(f"{FILE}: ")
    assert expected in message


def test_every_problem_is_reported_at_once() -> None:
    message = error_of("server: {port: abc}\npurge: {older_than_days: x}\n")
    assert "server.port" in message
    assert "purge.older_than_days" in message


def test_invalid_yaml_names_the_file_line_and_column() -> None:
    message = error_of("server:\n  port: 8420\n bad: [\n")
    assert message.startswith("Invalid YAML in sparkq.yml at line 3, column 2: ")
    assert str(FILE) in message


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    assert error_of("- project\n- server\n") == (
        f"{FILE}: expected a mapping of settings (project:, server:, tools:, ...), got a list"
    )


def test_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "sparkq.yml").write_bytes(b"project: {name: \xff}\n")
    with pytest.raises(ConfigError, match="Cannot read"):
        config.load_file(tmp_path / "sparkq.yml")


# -- timeouts: enqueue override > tool > class --------------------------------------------------------


TIMEOUTS = """
task_classes: {FAST_SCRIPT: {timeout: 20}, LLM_HEAVY: {timeout: 1200}}
tools:
  quick: {description: q, task_class: FAST_SCRIPT}
  pinned: {description: p, task_class: FAST_SCRIPT, timeout: 45}
  heavy: {description: h, task_class: LLM_HEAVY}
  medium: {description: m}
"""


def test_timeout_comes_from_the_class_when_the_tool_has_none() -> None:
    registry = parse(TIMEOUTS).registry()
    assert registry.resolve("quick") == (TaskClass.FAST_SCRIPT, 20)
    assert registry.resolve("heavy") == (TaskClass.LLM_HEAVY, 1200)


def test_class_missing_from_config_keeps_its_builtin_timeout() -> None:
    assert parse(TIMEOUTS).registry().resolve("medium") == (TaskClass.MEDIUM_SCRIPT, 300)


def test_tool_timeout_overrides_the_class_timeout() -> None:
    assert parse(TIMEOUTS).registry().resolve("pinned") == (TaskClass.FAST_SCRIPT, 45)


def test_enqueue_override_beats_tool_and_class() -> None:
    registry = parse(TIMEOUTS).registry()
    assert registry.resolve("pinned", timeout=7) == (TaskClass.FAST_SCRIPT, 7)
    assert registry.resolve("quick", timeout=600) == (TaskClass.FAST_SCRIPT, 600)


def test_configured_tools_replace_the_builtin_ones() -> None:
    registry = parse(TIMEOUTS).registry()
    assert set(registry.tools) == {"quick", "pinned", "heavy", "medium"}
    with pytest.raises(InvalidInput, match="Known tools: heavy, medium, pinned, quick"):
        registry.resolve("run-bash")


def test_payload_template_reaches_the_registry() -> None:
    registry = parse("tools:\n  deploy: {description: d, payload_template: {env: staging}}\n").registry()
    assert registry.tool("deploy").payload_template == {"env": "staging"}


# -- writing ---------------------------------------------------------------------------------------


def test_to_yaml_round_trips_a_full_config() -> None:
    file = config.ConfigFile(
        project=config.ProjectConfig(name="shop", repo_path="/src/shop", prd_path="docs/PRD.md"),
        server=config.ServerConfig(port=9001, max_body_bytes=4096),
        database=config.DatabaseConfig(path="q.db", synchronous="full"),
        watcher=config.WatcherConfig(idle_poll_seconds=1.5, tmp_dir="/var/tmp"),
        script_dirs=["scripts", "tools/bin"],
        tools={
            **config._default_tools(),
            "deploy": config.ToolConfig(description="Deploy: it", timeout=60, payload_template={"env": "x", "n": [1]}),
        },
    )
    assert parse(config.to_yaml(file)).file == file


def test_to_yaml_of_defaults_has_the_example_sections_and_no_empty_values() -> None:
    text = config.to_yaml(config.ConfigFile())
    assert parse(text).file == config.ConfigFile()
    for section in ("server:", "database:", "purge:", "watcher:", "script_dirs:", "task_classes:", "tools:"):
        assert f"\n{section}" in text
    assert "null" not in text
    assert "host" not in text  # left out while it holds its default, as in the example


# -- one pass, constrained types -------------------------------------------------------------------


def test_a_wrong_type_and_a_value_out_of_range_are_reported_together() -> None:
    # the type check and the range check are one pass: a range problem is not hidden behind a type one
    message = error_of("server: {port: abc}\ntools: {'-x': {}}\ndatabase: {synchronous: fast}\n")
    assert "server.port: expected a whole number, got 'abc'" in message
    assert "tools.-x: expected a tool name" in message
    assert "database.synchronous: expected normal or full or extra, got 'fast'" in message


def test_a_wrong_tool_name_is_reported_with_a_wrong_value_under_it() -> None:
    message = error_of("tools: {'bad name': {timeout: 0}}\n")
    assert "tools.bad name: expected a tool name" in message
    assert "tools.bad name.timeout: expected a whole number of seconds from 1 to" in message


def test_a_list_entry_is_named_by_its_index() -> None:
    assert "script_dirs[1]: expected text (put it in quotes), got 5" in error_of("script_dirs: [scripts, 5]\n")


def test_the_synchronous_mode_is_read_as_its_type_in_any_case() -> None:
    database = parse("database: {synchronous: FULL}\n").file.database
    assert database.synchronous is config.SynchronousMode.FULL
    assert config.SYNCHRONOUS_MODES == ("normal", "full", "extra")


def test_the_rules_setup_and_run_check_against_are_the_config_types() -> None:
    assert config.PORT.holds(1) and config.PORT.holds(65535)
    assert not config.PORT.holds(0) and not config.PORT.holds(65536)
    assert config.SECONDS.holds(MAX_TIMEOUT_SECONDS) and not config.SECONDS.holds(MAX_TIMEOUT_SECONDS + 1)


@given(st.text(max_size=70))
def test_a_tool_name_is_valid_exactly_when_the_domain_takes_it_as_a_name(name: str) -> None:
    try:
        validate_name("tool", name)
        domain_ok = True
    except InvalidInput:
        domain_ok = False
    assert config.TOOL_NAME.holds(name) is domain_ok


def test_to_yaml_writes_only_the_keys_the_example_writes_and_changed_optional_ones() -> None:
    file = attrs.evolve(
        config.ConfigFile(),
        database=config.DatabaseConfig(synchronous=config.SynchronousMode.EXTRA),
        watcher=config.WatcherConfig(idle_poll_seconds=5.0),
    )
    text = config.to_yaml(file)
    assert "database: {path: sparkq.db, mode: wal, synchronous: extra}\n" in text
    assert "watcher: {idle_poll_seconds: 5, busy_poll_seconds: 120, tmp_dir: /tmp}\n" in text
    assert "  run-bash: {description: Execute a bash script, task_class: MEDIUM_SCRIPT}\n" in text
    assert parse(text).file == file
