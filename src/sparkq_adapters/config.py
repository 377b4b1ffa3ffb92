"""`sparkq.yml`: finding it, reading it, checking it, and the built-in defaults of SPEC §6.

The file's shape is the attrs classes below; the values that have a range are constrained types
(`Port`, `Seconds`, `SynchronousMode`, ...), so one cattrs pass reads and checks the whole file
and every problem is named by its key (`server.port: expected a port number from 1 to 65535`).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import attrs

from sparkq_domain import DEFAULT_CLASS_TIMEOUTS, DEFAULT_TOOLS, Registry, TaskClass, ToolSpec
from sparkq_domain.errors import InvalidInput, SparkQError
from sparkq_domain.model import MAX_TIMEOUT_SECONDS, validate_name, validate_timeout

if TYPE_CHECKING:
    import cattrs

    from .scripts import ScriptIndex

CONFIG_NAME = "sparkq.yml"
CONFIG_ENV = "SPARKQ_CONFIG"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: the script folders of SPEC §6 and sparkq.yml.example; one that does not exist is skipped with a warning
DEFAULT_SCRIPT_DIRS = ("scripts", "tools")


class ConfigError(SparkQError):
    """The configuration file is missing or wrong."""


# -- constrained types -----------------------------------------------------------------------------
# A value with a range is `Annotated[<base type>, Rule(...)]`: the type checker sees the base type,
# and the config's converter checks the base type strictly, then the rule. The rules are also what
# `sparkq setup` and `sparkq run --port` check their answers and flags against.


@attrs.frozen
class Rule:
    """What a config value must be, in words, and the check."""

    expected: str
    ok: Callable[[Any], bool]
    #: how a refused value is shown in the error (a URL without its password)
    shown: Callable[[Any], Any] | None = None

    def holds(self, value: Any) -> bool:
        return self.ok(value)


def _is_timeout(seconds: int) -> bool:
    try:
        validate_timeout(seconds)  # the domain's one timeout rule
    except InvalidInput:
        return False
    return True


def _is_tool_name(name: str) -> bool:
    try:
        validate_name("tool", name)  # the domain's one name rule
    except InvalidInput:
        return False
    return True


PORT = Rule("a port number from 1 to 65535", lambda n: 1 <= n <= 65535)
SECONDS = Rule(f"a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}", _is_timeout)
TOOL_NAME = Rule("a tool name of letters, digits, '.', '_' or '-' (starting with a letter or digit)", _is_tool_name)

Port = Annotated[int, PORT]
#: a task timeout: whole seconds, 1 to 30 days
Seconds = Annotated[int, SECONDS]
ToolName = Annotated[str, TOOL_NAME]
LoopbackHost = Annotated[str, Rule(f"a loopback address ({', '.join(LOOPBACK_HOSTS)})", LOOPBACK_HOSTS.__contains__)]
JournalMode = Annotated[str, Rule("wal", lambda m: m == "wal")]
FilePath = Annotated[str, Rule("a file path", lambda p: bool(p.strip()))]
FolderPath = Annotated[str, Rule("a folder path", lambda p: bool(p.strip()))]
BodyLimit = Annotated[int, Rule("at least 1024", lambda n: n >= 1024)]
Count = Annotated[int, Rule("0 or more", lambda n: n >= 0)]
Interval = Annotated[float, Rule("more than 0", lambda n: n > 0)]
DatabaseUrl = Annotated[
    str,
    Rule(
        "a PostgreSQL URL such as postgresql://user@host:5432/dbname",
        lambda u: u.startswith(("postgresql://", "postgres://")),
        shown=lambda u: redact_url(u),
    ),
]
#: connections a process keeps to PostgreSQL at most (a CLI command uses one; the server one per busy request)
PoolSize = Annotated[int, Rule("a whole number of connections from 1 to 100", lambda n: 1 <= n <= 100)]
SchemaName = Annotated[
    str,
    Rule(
        "a schema name of lowercase letters, digits and '_', starting with a letter (at most 50 characters)",
        lambda n: re.fullmatch(r"[a-z][a-z0-9_]{0,49}", n) is not None,
    ),
]


class SynchronousMode(StrEnum):
    """SQLite's `synchronous`: `normal` survives process crashes; `full`/`extra` also power loss."""

    NORMAL = "normal"
    FULL = "full"
    EXTRA = "extra"


#: the one list of synchronous modes a config may name (`off` is refused: a power loss could corrupt the file)
SYNCHRONOUS_MODES = tuple(m.value for m in SynchronousMode)

#: field metadata: `to_yaml` writes the key only when it differs from its default, as the example does
_IF_CHANGED = "sparkq_written_if_changed"
_WRITTEN_IF_CHANGED = {_IF_CHANGED: True}


# -- the shape of the file -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProjectConfig:
    name: str | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)
    repo_path: str | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)
    prd_path: str | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)


@attrs.frozen(kw_only=True)
class ServerConfig:
    port: Port = 8420
    host: LoopbackHost = attrs.field(default="127.0.0.1", metadata=_WRITTEN_IF_CHANGED)
    #: request bodies above this are refused with 413
    max_body_bytes: BodyLimit = attrs.field(default=8 * 1024 * 1024, metadata=_WRITTEN_IF_CHANGED)


@attrs.frozen(kw_only=True)
class DatabaseConfig:
    #: relative to the folder of the config file (or the current folder without one)
    path: FilePath = "sparkq.db"
    mode: JournalMode = "wal"
    synchronous: SynchronousMode = attrs.field(
        default=SynchronousMode.NORMAL, converter=SynchronousMode, metadata=_WRITTEN_IF_CHANGED
    )
    busy_timeout_ms: Count = attrs.field(default=5000, metadata=_WRITTEN_IF_CHANGED)
    #: a PostgreSQL database instead of the SQLite file (`$SPARKQ_DATABASE_URL` wins over it)
    url: DatabaseUrl | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)
    #: the PostgreSQL schema that holds SparkQ's tables
    schema: SchemaName = attrs.field(default="sparkq", metadata=_WRITTEN_IF_CHANGED)
    #: the most connections to PostgreSQL a process keeps open at once
    pool_size: PoolSize = attrs.field(default=8, metadata=_WRITTEN_IF_CHANGED)


@attrs.frozen(kw_only=True)
class PurgeConfig:
    older_than_days: Count = 3


@attrs.frozen(kw_only=True)
class WatcherConfig:
    idle_poll_seconds: Interval = 60
    busy_poll_seconds: Interval = 120
    tmp_dir: FolderPath = "/tmp"


@attrs.frozen(kw_only=True)
class TaskClassConfig:
    timeout: Seconds


@attrs.frozen(kw_only=True)
class ToolConfig:
    description: str = ""
    task_class: TaskClass = TaskClass.MEDIUM_SCRIPT
    timeout: Seconds | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)
    payload_template: dict[str, Any] | None = attrs.field(default=None, metadata=_WRITTEN_IF_CHANGED)


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
    script_dirs: list[FolderPath] = attrs.Factory(lambda: list(DEFAULT_SCRIPT_DIRS))
    task_classes: dict[TaskClass, TaskClassConfig] = attrs.Factory(_default_classes)
    tools: dict[ToolName, ToolConfig] = attrs.Factory(_default_tools)


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
    def database_url(self) -> str | None:
        """The PostgreSQL URL to use: `$SPARKQ_DATABASE_URL`, else `database.url`; None: the SQLite file."""
        return os.environ.get(DATABASE_URL_ENV) or self.file.database.url

    @property
    def database_name(self) -> str:
        """The database as messages and `sparkq status` show it: the file, or the URL without its password."""
        url = self.database_url
        return str(self.db_path) if url is None else redact_url(url)

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
DATABASE_URL_ENV = "SPARKQ_DATABASE_URL"


def redact_url(url: str) -> str:
    """`url` without its password (`postgresql://me:***@host/db`): the one form status, errors and logs show.

    A password in the query (`?password=...`) is hidden too; text that is not a URL is shown as `***`.
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "***"
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def postgres_name(url: str, schema: str) -> str:
    """A PostgreSQL database and the schema of SparkQ's tables, as messages show them (no password)."""
    return f"{redact_url(url)} (schema {schema})"


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


def config_path_for(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """Where the config file is, or goes: `--config`, else `$SPARKQ_CONFIG`, else `./sparkq.yml`.

    The one rule of every command: `sparkq setup` writes there, the others read there.
    """
    chosen = explicit or os.environ.get(CONFIG_ENV)
    path = Path(chosen).expanduser() if chosen else (cwd or Path.cwd()) / CONFIG_NAME
    return path.absolute()


def find_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config file to read (`config_path_for`); None when `./sparkq.yml` does not exist.

    A file named by `--config` or `$SPARKQ_CONFIG` must exist.
    """
    path = config_path_for(explicit, cwd)
    if path.is_file():
        return path.resolve()
    if explicit or os.environ.get(CONFIG_ENV):
        raise ConfigError(f"Config file {path} not found; check --config / ${CONFIG_ENV}, or run `sparkq setup`")
    return None


def reload(
    explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None, *, where: str = ""
) -> tuple[Settings, ScriptIndex]:
    """Read the config file again, which must exist now, and rebuild its script index.

    What `sparkq reload` and the server's `POST /api/reload` both do; `where` says in the
    not-found error whose folder was looked in (", where the server was started").
    """
    from .scripts import build_index_for

    path = find_config(explicit, cwd)
    if path is None:
        folder = config_path_for(None, cwd).parent
        raise ConfigError(f"{CONFIG_NAME} not found in {folder}{where}; write it with `sparkq setup`")
    settings = load_file(path)
    return settings, build_index_for(settings)


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
    url = settings.file.database.url
    if url is None or redact_url(url) == url:
        _write_cache(key, settings)  # a password stays in sparkq.yml alone, never copied into the cache
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
        file = _converter().structure(data, ConfigFile)
    except Exception as exc:  # cattrs raises an exception group describing every problem
        raise ConfigError(f"{path}: " + "; ".join(_problems(exc, "", ConfigFile))) from None
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


def _synchronous(value: Any, _: type) -> SynchronousMode:
    try:
        return SynchronousMode(_str(value, str).lower())
    except ValueError:
        raise _Expected(" or ".join(SYNCHRONOUS_MODES), value) from None


def _json_object(value: Any, _: type) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _Expected('a mapping (a JSON object), e.g. {script: "scripts/build.sh"}', value)
    return dict(value)


def _rule_of(type_: Any) -> Rule | None:
    if get_origin(type_) is not Annotated:
        return None
    return next((m for m in type_.__metadata__ if isinstance(m, Rule)), None)


def _constrained(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """The hook of `Annotated[base, rule]`: the strict hook of the base type, then the rule."""
    base = get_args(type_)[0]
    structure_base = conv.get_structure_hook(base)
    rule = _rule_of(type_)
    assert rule is not None

    def structure(value: Any, _: Any) -> Any:
        checked = structure_base(value, base)
        if not rule.holds(checked):
            raise _Expected(rule.expected, checked if rule.shown is None else rule.shown(checked))
        return checked

    return structure


def _list_of(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """A list must be a YAML list (cattrs would take the letters of a string)."""
    from cattrs.cols import list_structure_factory

    items = list_structure_factory(type_, conv)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise _Expected("a list of folder names, e.g. [scripts, tools]", value)
        return items(value, type_)

    return structure


_FAILED = object()


def _mapping_of(conv: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """A mapping must be a YAML mapping; its keys are checked even where a value is wrong."""
    from cattrs.errors import IterableValidationError, IterableValidationNote

    key_type, value_type = get_args(type_)
    structure_key, structure_value = conv.get_structure_hook(key_type), conv.get_structure_hook(value_type)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise _Expected("a mapping (key: value)", value)
        result: dict[Any, Any] = {}
        errors: list[Exception] = []

        def attempt(hook: Callable[[Any, Any], Any], data: Any, target: Any, where: str, key: Any) -> Any:
            try:
                return hook(data, target)
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"Structuring mapping {where} @ key {key!r}", key, target))
                errors.append(exc)
                return _FAILED

        for key, item in value.items():
            # both are checked, so a wrong name is reported with a wrong value under it
            new_key = attempt(structure_key, key, key_type, "key", key)
            new_value = attempt(structure_value, item, value_type, "value", key)
            if new_key is not _FAILED and new_value is not _FAILED:
                result[new_key] = new_value
        if errors:
            raise IterableValidationError(f"While structuring {type_!r}", errors, type_)
        return result

    return structure


def _number(value: float) -> float | int:
    """60.0 is written as 60, as a person writes it."""
    return int(value) if float(value).is_integer() else value


def _omitting_defaults(conv: cattrs.Converter, cls: type) -> Callable[[Any], dict[str, Any]]:
    from cattrs.gen import make_dict_unstructure_fn, override

    omitted: dict[str, Any] = {
        a.name: override(omit_if_default=True) for a in attrs.fields(cls) if a.metadata.get(_IF_CHANGED)
    }
    return make_dict_unstructure_fn(cls, conv, **omitted)


@functools.cache
def _converter() -> cattrs.Converter:
    """The config's own cattrs converter: strict scalars, constrained types, unknown keys refused."""
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(TaskClass, _task_class)
    conv.register_structure_hook(SynchronousMode, _synchronous)
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)
    conv.register_structure_hook_factory(lambda t: _rule_of(t) is not None, functools.partial(_constrained, conv))
    conv.register_structure_hook_factory(
        lambda t: getattr(t, "__origin__", None) is list, functools.partial(_list_of, conv)
    )
    conv.register_structure_hook_factory(
        lambda t: getattr(t, "__origin__", None) is dict and t != dict[str, Any], functools.partial(_mapping_of, conv)
    )
    conv.register_unstructure_hook(float, _number)
    # plain text for YAML: cattrs passes a StrEnum through, which yaml.safe_dump cannot write
    conv.register_unstructure_hook(TaskClass, lambda c: c.value)
    conv.register_unstructure_hook(SynchronousMode, lambda m: m.value)
    conv.register_unstructure_hook_factory(attrs.has, functools.partial(_omitting_defaults, conv))
    return conv


def _problems(exc: BaseException, key: str, type_: Any) -> Iterator[str]:
    """Walk cattrs' exception group: one `key.path: expected ..., got ...` phrase per problem."""
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        ForbiddenExtraKeysError,
        IterableValidationError,
        IterableValidationNote,
    )

    if isinstance(exc, ForbiddenExtraKeysError):
        known = ", ".join(a.name for a in attrs.fields(exc.cl))
        for name in sorted(map(str, exc.extra_fields)):
            yield f"{_key(key, name)}: unknown key; expected one of: {known}"
        return
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            notes = getattr(sub, "__notes__", [])
            note = next((n for n in notes if isinstance(n, AttributeValidationNote | IterableValidationNote)), None)
            if isinstance(note, AttributeValidationNote):
                yield from _problems(sub, _key(key, note.name), note.type)
            elif isinstance(note, IterableValidationNote):
                yield from _problems(sub, _key(key, note.index), note.type)
            else:
                yield from _problems(sub, key, type_)
        return
    if isinstance(exc, _Expected):
        message = exc.describe()
    elif isinstance(exc, KeyError):
        message = "a required key is missing"
    elif attrs.has(type_):
        message = f"expected a mapping with the keys {', '.join(a.name for a in attrs.fields(type_))}"
    elif isinstance(exc, AttributeError):  # `.items()` on something that is not a mapping
        message = "expected a mapping (key: value)"
    else:
        message = f"invalid value ({exc})"
    yield f"{key}: {message}" if key else message


def _key(parent: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name


def to_yaml(file: ConfigFile) -> str:
    """Render a config in the shape of sparkq.yml.example: one commented section per key.

    Keys that hold their default and that the example leaves out (server.host,
    database.synchronous, ...) are written only when they differ from the default.
    """
    import yaml

    def dump(data: dict[str, Any]) -> str:
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)

    data: dict[str, Any] = _converter().unstructure(file)
    sections: list[tuple[str, dict[str, Any]]] = [
        (
            "# SparkQ configuration. Every key is optional; see sparkq.yml.example for all of them.\n"
            "# Relative paths are relative to the folder of this file.\n",
            {"project": data["project"]} if data["project"] else {},
        ),
        ("# The server (sparkq run) listens on 127.0.0.1 only.\n", {"server": data["server"]}),
        (
            "# One SQLite file in WAL mode; sparkq.lock (the server's PID) goes beside it.\n",
            {"database": data["database"]},
        ),
        ("# Finished tasks older than this are deleted when the server starts.\n", {"purge": data["purge"]}),
        (
            "# Watchers (sparkq watch STREAM): poll intervals while the worker is idle / busy, and the\n"
            "# folder of their files <tmp_dir>/sparkq-<stream>.lock, -pipe, -done and .database; two\n"
            "# projects with a stream of the same name need different folders (e.g. .sparkq-tmp).\n",
            {"watcher": data["watcher"]},
        ),
        (
            "# Folders scanned for scripts with `# name:`, `# description:`, `# inputs:`, `# outputs:`\n"
            "# and `# tags:` header lines (sparkq scripts).\n",
            {"script_dirs": data["script_dirs"]},
        ),
        ("# Default timeout in seconds of each task class.\n", {"task_classes": data["task_classes"]}),
        (
            "# The tools a task can be queued for. A tool's timeout overrides its class default (an\n"
            "# enqueue --timeout overrides both); payload_template pre-fills the UI's enqueue form.\n",
            {"tools": data["tools"]},
        ),
    ]
    return "\n".join(comment + (dump(section) if section else "") for comment, section in sections)
