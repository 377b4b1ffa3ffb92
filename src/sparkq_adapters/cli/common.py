"""What every command shares: the run's `Context`, and reading `@path` / `-` arguments.

The composition root (`sparkq_entry.wiring.cli_context`) builds the `Context`, handing in the
factories that build a `Queue` (and the server) from settings, so this adapter never names
concrete adapters. The meta app passes it to each command as its `ctx` parameter.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkq_domain.errors import InvalidInput, SparkQError, TooLarge

if TYPE_CHECKING:
    from sparkq_domain import Queue

    from ..config import Settings
    from ..transfer import Ends
    from ..waiting import ChangeSignal

#: text read from a file or stdin is capped so a wrong path (say, /dev/zero) cannot exhaust memory
MAX_INPUT_BYTES = 64 * 1024 * 1024


class UsageError(SparkQError):
    """The command was called wrongly; the message says how to call it (exit code 2)."""


class Context:
    """One run's configuration and queue, each loaded on first use.

    Building it reads nothing: `--help`, `setup` and `stop` with a broken sparkq.yml never
    open the database, and `status`/`stop` still reach the server (see `server_lock`).
    """

    def __init__(
        self,
        config_path: str | None,
        *,
        open_queue: Callable[[Settings], Queue],
        change_feed: Callable[[Settings], ChangeSignal],
        server_app: Callable[[Settings, int], Any],
        transfer_ends: Callable[[Settings, str, str | None], Ends],
    ) -> None:
        #: the global `--config PATH`, or None to look for $SPARKQ_CONFIG, then ./sparkq.yml
        self.config_path = config_path
        self._open_queue = open_queue
        self._change_feed = change_feed
        self._server_app = server_app
        self._transfer_ends = transfer_ends
        self._settings: Settings | None = None
        self._queue: Queue | None = None

    def settings(self) -> Settings:
        """The loaded configuration (sparkq.yml, or the built-in defaults)."""
        if self._settings is None:
            from .. import config

            self._settings = config.load(self.config_path)
        return self._settings

    def server_lock(self) -> tuple[Path, SparkQError | None]:
        """The server's lockfile, found even when sparkq.yml does not load; with the error then ignored.

        `sparkq stop` and `sparkq status` must still reach a running server after its config was
        broken: the lockfile is then looked for beside the database the file still names.
        """
        from .. import config

        try:
            return self.settings().lock_path, None
        except config.ConfigError as exc:
            db = config.salvage_db_path(self.config_path)
            if db is None:
                raise config.ConfigError(
                    f"{exc.message}\nA running server can still be stopped with: kill $(cat /path/to/sparkq.lock) "
                    "(the lockfile beside its database)"
                ) from None
            return config.lock_path_for(db), exc

    def queue(self) -> Queue:
        """The queue on the configured database, opened (and created) on first use."""
        if self._queue is None:
            self._queue = self._open_queue(self.settings())
        return self._queue

    def change_feed(self) -> ChangeSignal:
        """A fresh change feed of the database, on a connection of its own, for waiting loops.

        Its counter moves at another connection's commit (`PRAGMA data_version`, PostgreSQL's NOTIFY);
        on PostgreSQL its socket wakes a waiter at once (`wake_fd`).
        """
        return self._change_feed(self.settings())

    def data_version(self) -> Callable[[], int]:
        """A fresh reader of the database's change counter, for loops that poll it."""
        return self.change_feed().data_version

    def server_app(self, settings: Settings, port: int) -> Any:
        """The server's ASGI app for (settings, port): only `sparkq run` builds it."""
        return self._server_app(settings, port)

    def transfer_ends(self, to: str, schema: str | None) -> Ends:
        """The configured database and the URL or path `to`, as the two ends of `sparkq migrate`."""
        return self._transfer_ends(self.settings(), to, schema)


def read_source(value: str, what: str) -> str:
    """Return `value`, or the text of the file `@path`, or standard input for `-`."""
    if value == "-":
        return _read_stdin(what)
    if value.startswith("@"):
        return read_file(value[1:], what)
    return _check_argument(value, what)


def _check_argument(value: str, what: str) -> str:
    """`value` if it is UTF-8 text (Python keeps undecodable argv bytes as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        byte = f"the byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
        raise InvalidInput(
            f"The {what} given on the command line is not UTF-8 text ({byte} at character {exc.start}); "
            "set a UTF-8 locale, or put the text in a UTF-8 file and pass @path"
        ) from None
    return value


def read_file(path: str, what: str) -> str:
    """The text of the file at `path` (`-` = standard input), with errors that name it."""
    if path == "-":
        return _read_stdin(what)
    if not path:
        raise InvalidInput(f"No file name after '@' for the {what}; write @path/to/file")
    target = Path(path).expanduser()
    try:
        with open(target, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"Cannot read the {what} from {path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"Cannot read the {what} from {path}: it is a folder, not a file") from None
    except PermissionError:
        raise InvalidInput(f"Cannot read the {what} from {path}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read the {what} from {path}: {exc.strerror}") from None
    return _decode(data, what, path)


def _read_stdin(what: str) -> str:
    if sys.stdin is None or sys.stdin.closed:
        raise InvalidInput(f"The {what} was to come from standard input ('-'), but there is none")
    if sys.stdin.isatty():
        print(f"Reading the {what} from standard input; end with Ctrl-D", file=sys.stderr)
    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    return _decode(data, what, "standard input")


def _decode(data: bytes, what: str, where: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise TooLarge(
            f"The {what} from {where} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB, the most SparkQ "
            f"reads from a file or standard input; {_fit_hint(what, where)}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The {what} from {where} is not UTF-8 text (bad byte at offset {exc.start})") from None


def _fit_hint(what: str, where: str) -> str:
    from sparkq_domain import limits

    if what in ("payload", "result"):
        most = limits.MAX_PAYLOAD_BYTES if what == "payload" else limits.MAX_RESULT_BYTES
        return f"a {what} may be at most {limits.human_size(most)} of JSON anyway"
    kept = limits.MAX_ERROR_BYTES if what == "error message" else limits.MAX_OUTPUT_BYTES
    source = "FILE" if where == "standard input" else where
    return f"SparkQ keeps only {limits.human_size(kept)} of the {what} anyway: pass its end (`tail -c {kept} {source}`)"


def read_json_object(value: str, what: str, example: str) -> dict[str, Any]:
    """Parse a JSON-object argument given inline, as `@path`, or as `-` (stdin)."""
    from ..serialization import parse_json_object

    return parse_json_object(read_source(value, what), what, example)


def read_text(value: str | None, file: str | None, what: str, flag: str) -> str | None:
    """A text option that may instead come from `--<flag>-file PATH` (or `@path` / `-`)."""
    if value is not None and file is not None:
        raise UsageError(f"Give either --{flag} or --{flag}-file, not both")
    if file is not None:
        return read_file(file, what)
    return None if value is None else read_source(value, what)
