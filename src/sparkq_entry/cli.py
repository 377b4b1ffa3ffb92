"""The `sparkq` console script: wire the CLI to the real adapters, run it, map errors to exit codes.

Exit codes: 0 success, 1 refused operation / not found / storage problem, 2 usage error,
130 interrupted. Errors go to stderr as `Error: ...`, never as a traceback
(set SPARKQ_DEBUG=1 to see one for an unexpected failure).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def error(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)

    from sparkq_adapters.cli import worker

    from .wiring import cli_context

    fast = worker.fast_path(args)
    if fast is not None:
        config_path, command = fast
        return _guarded(lambda: command(cli_context(config_path)))
    return _guarded(lambda: _run_cyclopts(args))


def _run_cyclopts(args: list[str]) -> int:
    from cyclopts import CycloptsError, MissingArgumentError

    from sparkq_adapters.cli.app import build_cli
    from sparkq_adapters.cli.common import UsageError

    from .wiring import cli_context

    try:
        result = build_cli(cli_context).meta(args, exit_on_error=False, print_error=False, result_action="return_value")
    except CycloptsError as exc:
        if isinstance(exc, MissingArgumentError) and exc.argument is not None and "--config" in exc.argument.names:
            raise UsageError("--config needs a path, e.g. --config ./sparkq.yml") from None
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


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> None:
    """The console script: run, flush, and leave without interpreter finalization.

    Ctrl-C is exit 130 without a traceback from here on: `sparkq_entry` imports nothing until
    `main` runs, so only the interpreter's own start-up comes before.

    Tearing down this module graph takes ~20 ms, paid by every agent's every call. Nothing is
    left for it to do: output is flushed here, and every database write was committed (or rolled
    back) by its unit of work before `main` returned.
    """
    try:
        code = main()
    except KeyboardInterrupt:  # during the imports, before `_guarded` took over
        print(file=sys.stderr)
        code = 130
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass  # the reader went away, or the stream is closed: nothing more can be said
    os._exit(code)


if __name__ == "__main__":
    run()
