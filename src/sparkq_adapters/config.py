"""`sparkq.yml`: finding it, reading it, checking it, and the built-in defaults of SPEC §6."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import attrs

from sparkq_domain import DEFAULT_CLASS_TIMEOUTS, DEFAULT_TOOLS, Registry, TaskClass, ToolSpec
from sparkq_domain.errors import SparkQError
from sparkq_domain.model import MAX_TIMEOUT_SECONDS

CONFIG_NAME = "sparkq.yml"
CONFIG_ENV = "SPARKQ_CONFIG"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SYNCHRONOUS_MODES = ("normal", "full", "extra")
_TOOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: the script folders of SPEC §6 and sparkq.yml.example; one that does not exist is skipped with a warning
DEFAULT_SCRIPT_DIRS = ("scripts", "tools")


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
    script_dirs: list[str] = attrs.Factory(lambda: list(DEFAULT_SCRIPT_DIRS))
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
        return lock_path_for(self.db_path)

    @property
    def watcher_dir(self) -> Path:
        """The watchers' folder (lockfiles, FIFOs, done-flags); relative to the config's folder."""
        return self.base_dir / Path(self.file.watcher.tmp_dir).expanduser()

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


LOCK_NAME = "sparkq.lock"


def lock_path_for(db_path: Path) -> Path:
    """The server's lockfile: `sparkq.lock` beside the database's real file.

    Symlinks are resolved, so every path that reaches one database (a symlinked file or folder)
    finds the same lock. A second name made by a hard link is refused when the database opens.
    """
    return db_path.resolve().with_name(LOCK_NAME)


def salvage_db_path(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The database a config file that does not load still names (else the default beside it).

    For `sparkq stop` and `sparkq status`, which must still find a running server after
    sparkq.yml was broken: only `database.path` is read, from YAML or, when the YAML itself is
    invalid, from a `database:` section's `path:` line. None when the config file is missing.
    """
    try:
        path = find_config(explicit, cwd)
    except ConfigError:
        return None
    if path is None:
        return defaults(cwd).db_path
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return path.parent / (_database_path_in(text) or DatabaseConfig().path)


def _database_path_in(text: str) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return _database_path_by_lines(text)
    database = data.get("database") if isinstance(data, dict) else None
    named = database.get("path") if isinstance(database, dict) else None
    return named if isinstance(named, str) and named.strip() else None


def _database_path_by_lines(text: str) -> str | None:
    flow = re.search(r"^database:[ \t]*\{([^}]*)\}", text, re.M)
    if flow:
        found = re.search(r"(?:^|,)\s*path:\s*([^,]+)", flow.group(1))
    else:
        block = re.search(r"^database:[ \t]*(?:#.*)?\n((?:[ \t]+.*(?:\n|$)|[ \t]*(?:\n|$))*)", text, re.M)
        found = re.search(r"^[ \t]+path:[ \t]*(.+?)[ \t]*$", block.group(1), re.M) if block else None
    if not found:
        return None
    value = re.sub(r"\s+#.*$", "", found.group(1)).strip().strip("'\"")
    return value or None


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
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path.name} not found ({path})") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
    key = _cache_key(path, stat)
    cached = _read_cache(key)
    if cached is not None:
        return cached
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path.name} not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    settings = parse(text, path)
    _write_cache(key, settings)
    return settings


# -- the settings cache ----------------------------------------------------------------------------
# Reading YAML and checking it through cattrs costs ~45 ms, on every call of every command, while
# sparkq.yml rarely changes. So the checked Settings are kept in the user's cache folder, keyed by
# the file's identity (path, inode, size, mtime) and by this module's own file (a changed SparkQ
# invalidates it). Cache files are private (0600) and only trusted when owned by this user and not
# writable by others; any problem with the cache just means reading sparkq.yml again.

CACHE_ENV = "SPARKQ_CACHE_DIR"


def cache_dir() -> Path:
    """`$SPARKQ_CACHE_DIR`, else `$XDG_CACHE_HOME/sparkq`, else `~/.cache/sparkq`."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sparkq"


def _cache_key(path: Path, stat: os.stat_result) -> str:
    try:
        code = os.stat(__file__).st_mtime_ns
    except OSError:
        code = 0
    return f"{path.resolve()}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|{code}|{sys.version_info[:2]}"


def _cache_file(key: str) -> Path:
    import zlib

    return cache_dir() / f"settings-{zlib.crc32(key.encode()):08x}.pickle"


def _read_cache(key: str) -> Settings | None:
    import pickle

    try:
        with open(_cache_file(key), "rb") as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
            stored_key, settings = pickle.load(f)
    except Exception:  # missing, unreadable, truncated or from another version: read sparkq.yml
        return None
    return settings if stored_key == key and isinstance(settings, Settings) else None


def _write_cache(key: str, settings: Settings) -> None:
    import pickle
    import tempfile

    target = _cache_file(key)
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".settings-")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((key, settings), f)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # a read-only home, a full disk: work without the cache
        return


def parse(text: str, path: Path) -> Settings:
    """Parse and check the text of a config file; every error names the file and the key."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Invalid YAML in {path.name}{where}: {problem} ({path})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (project:, server:, tools:, ...), got {_kind(data)}")
    try:
        file = _strict_converter().structure(data, ConfigFile)
    except Exception as exc:  # cattrs raises an exception group describing every problem
        raise ConfigError(f"{path}: " + "; ".join(_describe(exc))) from None
    _check(file, path)
    return Settings(file=file, source=path, base_dir=path.parent)


# -- strict structuring ----------------------------------------------------------------------------
# cattrs' default hooks convert leniently (`int(80.5)` is 80, `list("scripts")` is seven letters,
# `True` is port 1). A config that says something else than it means should fail loudly instead.


class _Expected(ValueError):
    def __init__(self, expected: str, got: Any) -> None:
        super().__init__(expected, got)
        self.expected = expected
        self.got = got

    def describe(self) -> str:
        return f"expected {self.expected}, got {_kind(self.got)}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Expected("a whole number", value)
    return value


def _float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Expected("a number", value)
    return float(value)


def _str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _Expected("text (put it in quotes)", value)
    return value


def _task_class(value: Any, _: type) -> TaskClass:
    try:
        return TaskClass(value)
    except ValueError:
        raise _Expected("a task class: " + ", ".join(c.value for c in TaskClass), value) from None


def _str_list(value: Any, _: type) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Expected("a list of folder names, e.g. [scripts, tools]", value)
    return list(value)


def _json_object(value: Any, _: type) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _Expected('a mapping (a JSON object), e.g. {script: "scripts/build.sh"}', value)
    return dict(value)


_strict_converters: set[int] = set()
_UNKNOWN = "\x00unknown\x00"


def _strict_converter() -> Any:
    """The one cattrs converter of `serialization`, with strict hooks for the config's scalar types."""
    from .serialization import converter

    conv = converter()
    if id(conv) not in _strict_converters:
        conv.register_structure_hook(int, _int)
        conv.register_structure_hook(float, _float)
        conv.register_structure_hook(str, _str)
        conv.register_structure_hook(TaskClass, _task_class)
        conv.register_structure_hook_func(lambda t: t == list[str], _str_list)
        conv.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)
        _strict_converters.add(id(conv))
    return conv


def _describe(exc: BaseException) -> list[str]:
    """Turn cattrs' exception group into `key: expected ..., got ...` phrases."""
    import cattrs
    from cattrs.errors import ForbiddenExtraKeysError

    def fmt(error: BaseException, type_: type | None) -> str:
        if isinstance(error, _Expected):
            return error.describe()
        if isinstance(error, ForbiddenExtraKeysError):
            known = ", ".join(a.name for a in attrs.fields(error.cl))
            # the key is only known here; `_UNKNOWN` lines get their full key below
            return _UNKNOWN.join(["", known, *sorted(map(str, error.extra_fields))])
        if isinstance(error, KeyError):
            return "a required key is missing"
        if type_ is not None and attrs.has(type_):
            known = ", ".join(a.name for a in attrs.fields(type_))
            return f"expected a mapping with the keys {known}"
        if isinstance(error, AttributeError):  # `.items()` on something that is not a mapping
            return "expected a mapping (key: value)"
        return f"invalid value ({error})"

    lines = []
    for line in cattrs.transform_error(exc, path="$", format_exception=fmt):
        message, _, where = line.rpartition(" @ ")
        key = where.removeprefix("$").replace("['", ".").replace("']", "").lstrip(".")
        if message.startswith(_UNKNOWN):
            _, known, *unknown = message.split(_UNKNOWN)
            for name in unknown:
                lines.append(f"{key + '.' if key else ''}{name}: unknown key; expected one of: {known}")
        else:
            lines.append(f"{key}: {message}" if key else message)
    return lines


def _check(file: ConfigFile, path: Path) -> None:
    problems = []

    def need(ok: bool, key: str, expected: str, got: Any) -> None:
        if not ok:
            problems.append(f"{key}: expected {expected}, got {got!r}")

    need(1 <= file.server.port <= 65535, "server.port", "a port number from 1 to 65535", file.server.port)
    loopback = f"a loopback address ({', '.join(LOOPBACK_HOSTS)})"
    need(file.server.host in LOOPBACK_HOSTS, "server.host", loopback, file.server.host)
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
    need(bool(file.watcher.tmp_dir.strip()), "watcher.tmp_dir", "a folder path", file.watcher.tmp_dir)
    for i, folder in enumerate(file.script_dirs):
        need(bool(folder.strip()), f"script_dirs[{i}]", "a folder path", folder)
    seconds = f"a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"
    for cls, c in file.task_classes.items():
        need(1 <= c.timeout <= MAX_TIMEOUT_SECONDS, f"task_classes.{cls.value}.timeout", seconds, c.timeout)
    for name, tool in file.tools.items():
        need(
            _TOOL_NAME.fullmatch(name) is not None,
            f"tools.{name}",
            "a tool name of letters, digits, '.', '_' or '-' (starting with a letter or digit)",
            name,
        )
        if tool.timeout is not None:
            need(1 <= tool.timeout <= MAX_TIMEOUT_SECONDS, f"tools.{name}.timeout", seconds, tool.timeout)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def to_yaml(file: ConfigFile) -> str:
    """Render a config in the shape of sparkq.yml.example: one commented section per key.

    Keys that hold their default and that the example leaves out (server.host,
    database.synchronous, ...) are written only when they differ from the default.
    """
    import yaml

    def dump(data: dict[str, Any]) -> str:
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)

    def number(value: float) -> float | int:
        return int(value) if float(value).is_integer() else value

    server_defaults, db_defaults = ServerConfig(), DatabaseConfig()
    project = {k: v for k, v in attrs.asdict(file.project).items() if v is not None}
    server: dict[str, Any] = {"port": file.server.port}
    for key in ("host", "max_body_bytes"):
        if getattr(file.server, key) != getattr(server_defaults, key):
            server[key] = getattr(file.server, key)
    database: dict[str, Any] = {"path": file.database.path, "mode": file.database.mode}
    for key in ("synchronous", "busy_timeout_ms"):
        if getattr(file.database, key) != getattr(db_defaults, key):
            database[key] = getattr(file.database, key)
    watcher = {
        "idle_poll_seconds": number(file.watcher.idle_poll_seconds),
        "busy_poll_seconds": number(file.watcher.busy_poll_seconds),
        "tmp_dir": file.watcher.tmp_dir,
    }
    classes = {cls.value: {"timeout": c.timeout} for cls, c in file.task_classes.items()}
    tools: dict[str, Any] = {}
    for name, tool in file.tools.items():
        entry: dict[str, Any] = {"description": tool.description, "task_class": tool.task_class.value}
        if tool.timeout is not None:
            entry["timeout"] = tool.timeout
        if tool.payload_template is not None:
            entry["payload_template"] = tool.payload_template
        tools[name] = entry

    sections: list[tuple[str, dict[str, Any]]] = [
        (
            "# SparkQ configuration. Every key is optional; see sparkq.yml.example for all of them.\n"
            "# Relative paths are relative to the folder of this file.\n",
            {"project": project} if project else {},
        ),
        ("# The server (sparkq run) listens on 127.0.0.1 only.\n", {"server": server}),
        ("# One SQLite file in WAL mode; sparkq.lock (the server's PID) goes beside it.\n", {"database": database}),
        ("# Finished tasks older than this are deleted when the server starts.\n", {"purge": attrs.asdict(file.purge)}),
        (
            "# Watchers (sparkq watch STREAM): poll intervals while the worker is idle / busy, and the\n"
            "# folder of their files <tmp_dir>/sparkq-<stream>.lock, -pipe, -done and .database; two\n"
            "# projects with a stream of the same name need different folders (e.g. .sparkq-tmp).\n",
            {"watcher": watcher},
        ),
        (
            "# Folders scanned for scripts with `# name:`, `# description:`, `# inputs:`, `# outputs:`\n"
            "# and `# tags:` header lines (sparkq scripts).\n",
            {"script_dirs": list(file.script_dirs)},
        ),
        ("# Default timeout in seconds of each task class.\n", {"task_classes": classes}),
        (
            "# The tools a task can be queued for. A tool's timeout overrides its class default (an\n"
            "# enqueue --timeout overrides both); payload_template pre-fills the UI's enqueue form.\n",
            {"tools": tools},
        ),
    ]
    return "\n".join(comment + (dump(data) if data else "") for comment, data in sections)
