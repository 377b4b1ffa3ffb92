"""`sparkq.yml`: finding it, reading it, checking it, and the built-in defaults of SPEC §6."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from sparkq_domain import DEFAULT_CLASS_TIMEOUTS, DEFAULT_TOOLS, Registry, TaskClass, ToolSpec
from sparkq_domain.errors import SparkQError

CONFIG_NAME = "sparkq.yml"
CONFIG_ENV = "SPARKQ_CONFIG"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SYNCHRONOUS_MODES = ("normal", "full", "extra")


class ConfigError(SparkQError):
    """The configuration file is missing or wrong."""


@attrs.frozen(kw_only=True)
class ProjectConfig:
    name: str | None = None
    repo_path: str | None = None
    prd_path: str | None = None


@attrs.frozen(kw_only=True)
class ServerConfig:
    port: int = 8420
    host: str = "127.0.0.1"
    #: request bodies above this are refused with 413
    max_body_bytes: int = 8 * 1024 * 1024


@attrs.frozen(kw_only=True)
class DatabaseConfig:
    #: relative to the folder of the config file (or the current folder without one)
    path: str = "sparkq.db"
    mode: str = "wal"
    #: `normal` survives process crashes; `full` also survives power loss, at some speed
    synchronous: str = "normal"
    busy_timeout_ms: int = 5000


@attrs.frozen(kw_only=True)
class PurgeConfig:
    older_than_days: int = 3


@attrs.frozen(kw_only=True)
class WatcherConfig:
    idle_poll_seconds: float = 60
    busy_poll_seconds: float = 120
    tmp_dir: str = "/tmp"


@attrs.frozen(kw_only=True)
class TaskClassConfig:
    timeout: int


@attrs.frozen(kw_only=True)
class ToolConfig:
    description: str = ""
    task_class: TaskClass = TaskClass.MEDIUM_SCRIPT
    timeout: int | None = None
    payload_template: dict[str, Any] | None = None


def _default_classes() -> dict[TaskClass, TaskClassConfig]:
    return {cls: TaskClassConfig(timeout=t) for cls, t in DEFAULT_CLASS_TIMEOUTS.items()}


def _default_tools() -> dict[str, ToolConfig]:
    return {
        name: ToolConfig(description=t.description, task_class=t.task_class, timeout=t.timeout)
        for name, t in DEFAULT_TOOLS.items()
    }


@attrs.frozen(kw_only=True)
class ConfigFile:
    """The shape of `sparkq.yml`; every key optional."""

    project: ProjectConfig = attrs.Factory(ProjectConfig)
    server: ServerConfig = attrs.Factory(ServerConfig)
    database: DatabaseConfig = attrs.Factory(DatabaseConfig)
    purge: PurgeConfig = attrs.Factory(PurgeConfig)
    watcher: WatcherConfig = attrs.Factory(WatcherConfig)
    script_dirs: list[str] = attrs.Factory(list)
    task_classes: dict[TaskClass, TaskClassConfig] = attrs.Factory(_default_classes)
    tools: dict[str, ToolConfig] = attrs.Factory(_default_tools)


@attrs.frozen(kw_only=True)
class Settings:
    """The loaded configuration, with its paths made absolute."""

    file: ConfigFile
    #: the config file it came from; None on built-in defaults
    source: Path | None
    #: relative paths in the config are relative to this folder
    base_dir: Path

    @property
    def db_path(self) -> Path:
        return self.base_dir / self.file.database.path

    @property
    def lock_path(self) -> Path:
        return self.db_path.with_name("sparkq.lock")

    @property
    def script_dirs(self) -> list[Path]:
        return [self.base_dir / d for d in self.file.script_dirs]

    @property
    def project_name(self) -> str:
        return self.file.project.name or self.base_dir.name or "sparkq"

    @property
    def source_name(self) -> str:
        return str(self.source) if self.source is not None else "built-in defaults"

    def registry(self) -> Registry:
        classes = dict(DEFAULT_CLASS_TIMEOUTS)
        classes.update({cls: c.timeout for cls, c in self.file.task_classes.items()})
        tools = {
            name: ToolSpec(
                name=name,
                description=t.description,
                task_class=t.task_class,
                timeout=t.timeout,
                payload_template=t.payload_template,
            )
            for name, t in self.file.tools.items()
        }
        return Registry(class_timeouts=classes, tools=tools)


def defaults(base_dir: Path | None = None) -> Settings:
    return Settings(file=ConfigFile(), source=None, base_dir=(base_dir or Path.cwd()).resolve())


def find_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config to use: `--config`, else `$SPARKQ_CONFIG`, else `./sparkq.yml` if it exists."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"Config file {path} not found; check --config / ${CONFIG_ENV}, or run `sparkq setup`")
        return path.resolve()
    local = (cwd or Path.cwd()) / CONFIG_NAME
    return local.resolve() if local.is_file() else None


def load(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Settings:
    """Find and load the configuration; built-in defaults when there is no file."""
    path = find_config(explicit, cwd)
    if path is None:
        return defaults(cwd)
    return load_file(path)


def load_file(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path.name} not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path) -> Settings:
    """Parse and check the text of a config file; every error names the file and the key."""
    import yaml

    from .serialization import describe_errors, structure

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Invalid YAML in {path.name}{where}: {problem} ({path})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (project:, server:, ...), got {type(data).__name__}")
    try:
        file = structure(data, ConfigFile)
    except Exception as exc:  # cattrs raises an exception group describing every problem
        problems = "; ".join(describe_errors(exc))
        raise ConfigError(f"{path}: {problems}") from None
    _check(file, path)
    return Settings(file=file, source=path, base_dir=path.parent)


def _check(file: ConfigFile, path: Path) -> None:
    problems = []

    def need(ok: bool, key: str, expected: str, got: Any) -> None:
        if not ok:
            problems.append(f"{key}: expected {expected}, got {got!r}")

    need(1 <= file.server.port <= 65535, "server.port", "a port number from 1 to 65535", file.server.port)
    need(file.server.host in LOOPBACK_HOSTS, "server.host", f"a loopback address ({', '.join(LOOPBACK_HOSTS)})", file.server.host)
    need(file.server.max_body_bytes >= 1024, "server.max_body_bytes", "at least 1024", file.server.max_body_bytes)
    need(file.database.mode == "wal", "database.mode", "wal", file.database.mode)
    need(bool(file.database.path.strip()), "database.path", "a file path", file.database.path)
    need(
        file.database.synchronous.lower() in SYNCHRONOUS_MODES,
        "database.synchronous",
        " or ".join(SYNCHRONOUS_MODES),
        file.database.synchronous,
    )
    need(file.database.busy_timeout_ms >= 0, "database.busy_timeout_ms", "0 or more", file.database.busy_timeout_ms)
    need(file.purge.older_than_days >= 0, "purge.older_than_days", "0 or more", file.purge.older_than_days)
    need(file.watcher.idle_poll_seconds > 0, "watcher.idle_poll_seconds", "more than 0", file.watcher.idle_poll_seconds)
    need(file.watcher.busy_poll_seconds > 0, "watcher.busy_poll_seconds", "more than 0", file.watcher.busy_poll_seconds)
    for cls, c in file.task_classes.items():
        need(c.timeout > 0, f"task_classes.{cls.value}.timeout", "a positive number of seconds", c.timeout)
    for name, tool in file.tools.items():
        if tool.timeout is not None:
            need(tool.timeout > 0, f"tools.{name}.timeout", "a positive number of seconds", tool.timeout)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def to_yaml(file: ConfigFile) -> str:
    """Render a config in the shape of sparkq.yml.example."""
    import yaml

    from .serialization import unstructure

    data: Mapping[str, Any] = unstructure(file)
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)
