"""The `sparkq` console script: wire the CLI to the real adapters, run it, map errors to exit codes.

Exit codes: 0 success, 1 refused operation / not found / storage problem, 2 usage error,
130 interrupted. Errors go to stderr as `Error: ...`, never as a traceback
(set SPARKQ_DEBUG=1 to see one for an unexpected failure).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkq_adapters.config import Settings


def _pop_config(argv: list[str]) -> tuple[str | None, list[str]]:
    """Take the global `--config PATH` (or `--config=PATH`) out of the arguments, wherever it is."""
    rest: list[str] = []
    config: str | None = None
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest.append(arg)
            rest.extend(it)
            break
        if arg == "--config":
            config = next(it, None)
            if config is None:
                raise ValueError("--config needs a path, e.g. --config ./sparkq.yml")
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return config, rest


def error(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config_path, args = _pop_config(args)
    except ValueError as exc:
        error(str(exc))
        return 2

    from sparkq_adapters.cli import common, worker

    from .wiring import data_version_from_settings, queue_from_settings

    common.configure(
        config_path=config_path,
        queue_factory=queue_from_settings,
        app_factory=_build_app,
        version_factory=data_version_from_settings,
    )
    args = worker.bare_wait(args)
    fast = worker.fast_path(args)
    return _guarded(fast if fast is not None else lambda: _run_cyclopts(args))


def _run_cyclopts(args: list[str]) -> int:
    from cyclopts import CycloptsError

    from sparkq_adapters.cli.app import app

    try:
        result = app(args, exit_on_error=False, print_error=False, result_action="return_value")
    except CycloptsError as exc:
        error(str(exc).strip())
        print("Run `sparkq --help` (or `sparkq COMMAND --help`) for usage.", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


def _guarded(run: Callable[[], int | None]) -> int:
    """Run a command, turning every failure into `Error: …` and an exit code."""
    from sparkq_adapters.cli.common import UsageError
    from sparkq_domain.errors import SparkQError

    try:
        return run() or 0
    except UsageError as exc:
        error(exc.message)
        return 2
    except SparkQError as exc:
        error(exc.message)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `sparkq tasks | head`); that is not our failure
        _silence_stdout()
        return 0
    except Exception as exc:  # the last line of defence: no traceback for the user
        if os.environ.get("SPARKQ_DEBUG"):
            raise
        error(f"unexpected {type(exc).__name__}: {exc}. Re-run with SPARKQ_DEBUG=1 for details and report it")
        return 1


def _build_app(settings: Settings, port: int) -> Any:
    # imported only by `sparkq run`: queue commands never load Litestar or uvicorn
    from .asgi import build_app

    return build_app(settings, port)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> None:
    """The console script: run, flush, and leave without interpreter finalization.

    Tearing down this module graph takes ~20 ms, paid by every agent's every call. Nothing is
    left for it to do: output is flushed here, and every database write was committed (or rolled
    back) by its unit of work before `main` returned.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass  # the reader went away, or the stream is closed: nothing more can be said
    os._exit(code)


if __name__ == "__main__":
    run()
