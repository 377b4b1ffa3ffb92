"""`sparkq setup`: ask a few questions (or take flags), write sparkq.yml, create the database."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import attrs
from cyclopts import Parameter

from sparkq_domain import TaskClass
from sparkq_domain.errors import Conflict, InvalidInput, SparkQError
from sparkq_domain.model import MAX_TIMEOUT_SECONDS

from . import common
from .injected import Ctx

if TYPE_CHECKING:
    from ..config import ConfigFile

T = TypeVar("T")

#: the flag that sets each class's timeout, in the order the questions are asked
TIMEOUT_FLAGS = {
    TaskClass.FAST_SCRIPT: "--fast-timeout",
    TaskClass.MEDIUM_SCRIPT: "--medium-timeout",
    TaskClass.LLM_LITE: "--lite-timeout",
    TaskClass.LLM_HEAVY: "--heavy-timeout",
}
MAX_NAME_LENGTH = 200


class SetupCancelled(SparkQError):
    """Setup cancelled; nothing was written."""


def setup(
    *,
    defaults: Annotated[
        bool, Parameter(help="Ask nothing: use the built-in defaults, changed by the flags below.", show_default=False)
    ] = False,
    force: Annotated[
        bool, Parameter(help="Overwrite an existing sparkq.yml without asking.", show_default=False)
    ] = False,
    project_name: Annotated[str | None, Parameter(help="Project name (default: the folder's name).")] = None,
    repo_path: Annotated[
        str | None, Parameter(help="The repository the work happens in (default: the current folder).")
    ] = None,
    prd_path: Annotated[
        str | None, Parameter(help="The product requirements document, relative to the repository.")
    ] = None,
    script_dir: Annotated[
        list[str] | None,
        Parameter(
            help="A folder of scripts to index, relative to sparkq.yml; repeat for more (default: scripts, tools)."
        ),
    ] = None,
    port: Annotated[int | None, Parameter(help="Port of the server and web UI on 127.0.0.1 (default 8420).")] = None,
    fast_timeout: Annotated[int | None, Parameter(help="Timeout of FAST_SCRIPT tasks in seconds (30).")] = None,
    medium_timeout: Annotated[int | None, Parameter(help="Timeout of MEDIUM_SCRIPT tasks in seconds (300).")] = None,
    lite_timeout: Annotated[int | None, Parameter(help="Timeout of LLM_LITE tasks in seconds (300).")] = None,
    heavy_timeout: Annotated[int | None, Parameter(help="Timeout of LLM_HEAVY tasks in seconds (900).")] = None,
    ctx: Ctx,
) -> int:
    """Set SparkQ up for this project: write sparkq.yml and create the database.

    On a terminal it asks for the project name, the repository, the PRD, the script
    folders, the four task-class timeouts and the server port; Enter keeps the value
    in [brackets], and a wrong answer is explained and asked again. Flags given
    alongside pre-fill those answers.

    With --defaults it asks nothing and writes the defaults, changed by the flags.
    Without a terminal (a script, CI, an agent) --defaults is required: setup never
    waits for input that cannot come.

    The file goes to --config PATH, else $SPARKQ_CONFIG, else ./sparkq.yml. An existing
    file is overwritten only after a yes (on a terminal) or with --force. The database
    (sparkq.db beside the file) and its project row are created, or updated.

        Examples:
          sparkq setup
          sparkq setup --defaults
          sparkq setup --defaults --project-name shop --script-dir scripts --port 8421
          sparkq setup --defaults --force --heavy-timeout 1800
    """
    from .. import config

    target = config.config_path_for(ctx.config_path)
    flags = _Flags(
        project_name=project_name,
        repo_path=repo_path,
        prd_path=prd_path,
        script_dirs=script_dir,
        port=port,
        timeouts={
            TaskClass.FAST_SCRIPT: fast_timeout,
            TaskClass.MEDIUM_SCRIPT: medium_timeout,
            TaskClass.LLM_LITE: lite_timeout,
            TaskClass.LLM_HEAVY: heavy_timeout,
        },
    )
    interactive = not defaults
    if interactive and not _is_terminal():
        raise common.UsageError(
            "sparkq setup asks questions, but standard input is not a terminal.\n"
            "Run `sparkq setup --defaults` to write the config without questions; flags such as "
            "--project-name, --script-dir and --port change the defaults (see `sparkq setup --help`)"
        )
    if not target.parent.is_dir():
        raise InvalidInput(f"Cannot write {target}: the folder {target.parent} does not exist")

    base = config.ConfigFile()
    if target.exists():
        if not interactive and not force:
            raise Conflict(f"{target} already exists; add --force to overwrite it")
        if interactive and not force and not _confirm(f"{target} already exists. Overwrite it?"):
            print(f"Nothing written; {target} is unchanged.")
            return 0
        if interactive:
            base = _existing(target)

    if interactive:
        print(f"Setting up SparkQ in {target.parent} (Enter keeps the value in [brackets]).")
        file = _ask_all(base, flags, target.parent)
    else:
        file = _from_flags(base, flags, target.parent)

    _write(target, config.to_yaml(file))
    project = file.project
    settings = ctx.settings()
    if settings.source != target.resolve():
        raise SparkQError(f"Wrote {target}, but SparkQ reads {settings.source_name}; pass --config {target}")
    queue = ctx.queue()
    queue.update_project(settings.project_name, project.repo_path, project.prd_path)
    _print_next(target, settings.database_name, settings.project_name, file)
    return 0


@attrs.frozen(kw_only=True)
class _Flags:
    project_name: str | None
    repo_path: str | None
    prd_path: str | None
    script_dirs: list[str] | None
    port: int | None
    timeouts: dict[TaskClass, int | None]


# -- where and what --------------------------------------------------------------------------------


def _is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def _existing(target: Path) -> ConfigFile:
    """The current config, so its answers become the defaults; the built-in ones if it is broken."""
    from .. import config

    try:
        return config.load_file(target).file
    except SparkQError as exc:
        print(f"Note: the existing file cannot be used as a starting point ({exc.message}); starting from defaults.")
        return config.ConfigFile()


def _class_timeouts(file: ConfigFile) -> dict[TaskClass, int]:
    from sparkq_domain import DEFAULT_CLASS_TIMEOUTS

    timeouts = dict(DEFAULT_CLASS_TIMEOUTS)
    timeouts.update({cls: c.timeout for cls, c in file.task_classes.items()})
    return timeouts


def _build(
    base: ConfigFile,
    *,
    name: str,
    repo: str,
    prd: str | None,
    script_dirs: list[str],
    port: int,
    timeouts: dict[TaskClass, int],
) -> ConfigFile:
    from .. import config

    classes = dict(base.task_classes)
    classes.update({cls: config.TaskClassConfig(timeout=t) for cls, t in timeouts.items()})
    return attrs.evolve(
        base,
        project=config.ProjectConfig(name=name, repo_path=repo, prd_path=prd),
        server=attrs.evolve(base.server, port=port),
        script_dirs=script_dirs,
        task_classes=classes,
    )


# -- checking one answer (shared by the questions and the flags) ------------------------------------


def check_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise InvalidInput("The project name cannot be empty")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput(f"Use up to {MAX_NAME_LENGTH} printable characters for the project name")
    return name


def check_repo(text: str) -> str:
    path = Path(text.strip() or ".").expanduser().resolve()
    if not path.is_dir():
        raise InvalidInput(f"{path} is not an existing folder; give the folder of the repository")
    return str(path)


def check_prd(text: str, repo: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    path = Path(repo) / Path(value).expanduser()
    if not path.is_file():
        raise InvalidInput(f"No file at {path}; give the PRD's path relative to {repo}, or leave it empty")
    return value


def check_script_dir(text: str, base_dir: Path) -> str:
    value = text.strip()
    path = base_dir / Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} is a file, not a folder; give a folder of scripts")
    return value


def check_port(value: str | int) -> int:
    from ..config import PORT

    port = _whole_number(value, "a port number such as 8420")
    if not PORT.holds(port):
        raise InvalidInput(f"{port} is not a port number; use one from 1 to 65535, e.g. 8420")
    return port


def check_timeout(value: str | int) -> int:
    from ..config import SECONDS

    seconds = _whole_number(value, "a number of seconds such as 300")
    if not SECONDS.holds(seconds):
        raise InvalidInput(f"Use a timeout from 1 to {MAX_TIMEOUT_SECONDS} seconds, not {seconds}")
    return seconds


def _whole_number(value: str | int, what: str) -> int:
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.isdigit():
        raise InvalidInput(f"{text!r} is not a whole number; give {what}")
    return int(text)


# -- the two ways in -------------------------------------------------------------------------------


def _from_flags(base: ConfigFile, flags: _Flags, base_dir: Path) -> ConfigFile:
    def flag(name: str, check: Callable[[], T]) -> T:
        try:
            return check()
        except InvalidInput as exc:
            raise common.UsageError(f"{name}: {exc.message}") from None

    repo = flag("--repo-path", lambda: check_repo(flags.repo_path or str(Path.cwd())))
    timeouts = _class_timeouts(base)
    for cls, option in TIMEOUT_FLAGS.items():
        given = flags.timeouts[cls]
        if given is not None:
            timeouts[cls] = flag(option, partial(check_timeout, given))
    return _build(
        base,
        name=flag("--project-name", lambda: check_name(flags.project_name or _folder_name(base_dir))),
        repo=repo,
        prd=flag("--prd-path", lambda: check_prd(flags.prd_path or "", repo)),
        script_dirs=[
            flag("--script-dir", partial(check_script_dir, d, base_dir))
            for d in (base.script_dirs if flags.script_dirs is None else flags.script_dirs)
        ],
        port=flag("--port", lambda: check_port(flags.port if flags.port is not None else base.server.port)),
        timeouts=timeouts,
    )


def _ask_all(base: ConfigFile, flags: _Flags, base_dir: Path) -> ConfigFile:
    name = _ask("Project name", flags.project_name or base.project.name or _folder_name(base_dir), check_name)
    repo = _ask("Repository path", flags.repo_path or base.project.repo_path or str(Path.cwd()), check_repo)
    prd_default = flags.prd_path or base.project.prd_path or ""
    prd = _ask(
        "PRD path, relative to the repository (optional" + ("; - for none)" if prd_default else ")"),
        prd_default,
        lambda text: None if text.strip() == "-" else check_prd(text, repo),
    )
    script_dirs = _ask_script_dirs(flags.script_dirs or list(base.script_dirs), base_dir)
    timeouts = _class_timeouts(base)
    for cls in TIMEOUT_FLAGS:
        default = flags.timeouts[cls] or timeouts[cls]
        timeouts[cls] = _ask(f"Timeout of {cls.value} tasks, in seconds", str(default), check_timeout)
    port = _ask("Server port", str(flags.port or base.server.port), check_port)
    return _build(base, name=name, repo=repo, prd=prd, script_dirs=script_dirs, port=port, timeouts=timeouts)


def _ask_script_dirs(current: list[str], base_dir: Path) -> list[str]:
    print(f"Script folders to index, relative to {base_dir}; one per question, an empty answer ends the list.")
    if current:
        print(f"  Currently: {', '.join(current)}. Enter at the first question keeps them; '-' clears them.")
    chosen: list[str] = []
    while True:
        answer = _ask_raw(f"Script folder {len(chosen) + 1} (empty to finish)")
        if not answer.strip():
            if not chosen and current:
                return list(current)
            return chosen
        if answer.strip() == "-" and not chosen:
            current = []
            print("  Cleared; add folders, or press Enter for none.")
            continue
        try:
            folder = check_script_dir(answer, base_dir)
        except InvalidInput as exc:
            print(f"  {exc.message}")
            continue
        if folder in chosen:
            print(f"  {folder} is already in the list.")
            continue
        if not (base_dir / Path(folder).expanduser()).is_dir():
            print(f"  Note: {folder} does not exist yet; its scripts are indexed once it does.")
        chosen.append(folder)


def _ask(question: str, default: str, check: Callable[[str], T]) -> T:
    """Ask until `check` accepts the answer (or the default, on Enter)."""
    while True:
        answer = _ask_raw(f"{question} [{default}]" if default else question)
        try:
            return check(answer.strip() or default)
        except InvalidInput as exc:
            print(f"  {exc.message}")


def _ask_raw(question: str) -> str:
    try:
        return input(f"{question}: ")
    except EOFError:
        print()
        raise SetupCancelled("Setup cancelled (end of input); nothing was written") from None


def _confirm(question: str) -> bool:
    while True:
        answer = _ask_raw(f"{question} [y/N]").strip().lower()
        if answer in ("", "n", "no"):
            return False
        if answer in ("y", "yes"):
            return True
        print("  Answer y or n.")


def _folder_name(base_dir: Path) -> str:
    return base_dir.resolve().name or "sparkq"


# -- writing and telling ---------------------------------------------------------------------------


def _write(target: Path, text: str) -> None:
    """Write the file whole or not at all: a crash never leaves half a config behind."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise SparkQError(f"Cannot write {target}: {exc.strerror or exc}") from None


def _print_next(target: Path, database: str, project_name: str, file: ConfigFile) -> None:
    config_flag = ""
    if target != Path.cwd() / "sparkq.yml":
        config_flag = f" --config {target}"
    lines = [
        f"Wrote {target}",
        f"Database ready: {database} (project {project_name})",
    ]
    if file.script_dirs:
        lines.append(f"Script folders: {', '.join(file.script_dirs)} (see them with: sparkq{config_flag} scripts)")
    lines += [
        "",
        "Next:",
        f"  sparkq{config_flag} session create my-session",
        f'  sparkq{config_flag} stream create my-stream --session my-session -i "goal; done when ..."',
        f'  sparkq{config_flag} enqueue run-bash \'{{"script": "scripts/test.sh"}}\' --stream my-stream',
        f"  sparkq{config_flag} run    # the server and web UI at http://127.0.0.1:{file.server.port}/",
    ]
    print("\n".join(lines))
