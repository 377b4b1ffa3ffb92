"""`sparkq stream edit` and `sparkq session edit`, in-process (the console script's `main`) over a real SQLite file."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sparkq_entry.cli import main

from .cli_support import library_queue, make_stream, ok, ok_json, refused

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`sparkq ARGS` run by `main` in this process, in `workdir`, with `input` as its standard input."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)

    def run(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(input.encode())))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["sparkq", *args], code, out, err)

    return run


def test_the_next_claim_carries_the_edited_instructions_through_the_cli_and_the_library(
    cli: Run, workdir: Path
) -> None:
    queue = make_stream(workdir, instructions="Add login.")
    for n in range(3):
        queue.enqueue("auth", "run-bash", {"n": n})
    assert ok_json(cli("claim", "--stream", "auth"))["stream"]["instructions"] == "Add login."

    out = ok(cli("stream", "edit", "auth", "-i", "Add login.\nAnswer: use OAuth, not passwords."))
    assert out == (
        "Stream auth: instructions replaced (2 lines, 44 characters); the next task claimed from it carries them\n"
    )
    claimed = ok_json(cli("claim", "--stream", "auth"))
    assert claimed["payload"] == {"n": 1}
    assert claimed["stream"]["instructions"] == "Add login.\nAnswer: use OAuth, not passwords."
    by_library = library_queue(workdir).claim("auth")
    assert by_library is not None and by_library.stream.instructions == claimed["stream"]["instructions"]


def test_the_instructions_come_from_a_file_or_standard_input_like_other_text_options(cli: Run, workdir: Path) -> None:
    make_stream(workdir)
    (workdir / "auth.md").write_text("From the file.\n")
    ok(cli("stream", "edit", "auth", "--instructions-file", "auth.md"))
    assert library_queue(workdir).get_stream("auth").instructions == "From the file.\n"
    ok(cli("stream", "edit", "auth", "-i", "@auth.md"))
    assert library_queue(workdir).get_stream("auth").instructions == "From the file.\n"
    ok(cli("stream", "edit", "auth", "--instructions-file", "-", input="From a pipe.\n"))
    assert library_queue(workdir).get_stream("auth").instructions == "From a pipe.\n"
    ok(cli("stream", "edit", "auth", "-i", "-", input="- a list\n"))
    assert library_queue(workdir).get_stream("auth").instructions == "- a list\n"
    # a leading hyphen is text, not an option
    ok(cli("stream", "edit", "auth", "-i", "--no-shortcuts"))
    assert library_queue(workdir).get_stream("auth").instructions == "--no-shortcuts"


def test_stream_edit_json_prints_the_stream_and_an_empty_text_clears_the_instructions(cli: Run, workdir: Path) -> None:
    stream_id = make_stream(workdir, instructions="old").get_stream("auth").id
    stream = ok_json(cli("stream", "edit", "auth", "-i", "new", "--json"))
    assert (stream["id"], stream["name"], stream["status"]) == (stream_id, "auth", "active")
    assert stream["instructions"] == "new"
    assert ok(cli("stream", "edit", stream_id, "-i", "")) == "Stream auth: instructions cleared\n"
    assert library_queue(workdir).get_stream("auth").instructions is None
    assert ok(cli("stream", "edit", "auth", "-i", " \n")) == "Stream auth: instructions cleared\n"
    assert library_queue(workdir).get_stream("auth").instructions is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["stream", "edit", "auth"], 2, "Give the new stream instructions: --instructions TEXT, or"),
        (["stream", "edit", "auth", "-i", "x", "--instructions-file", "a.md"], 2, "not both"),
        (["stream", "edit", "auth", "--instructions-file", "nope.md"], 1, "Cannot read the stream instructions"),
        (["stream", "edit", "ghost", "-i", "x"], 1, "Stream 'ghost' not found"),
        (["session", "edit", "api-v2"], 2, "Give the new session description: --description TEXT, or"),
        (["session", "edit", "api-v2", "-d", "x", "--description-file", "-"], 2, "not both"),
        (["session", "edit", "ghost", "-d", "x"], 1, "Session 'ghost' not found"),
    ],
)
def test_a_wrong_edit_is_a_clear_error_that_changes_nothing(
    cli: Run, workdir: Path, args: list[str], code: int, message: str
) -> None:
    make_stream(workdir, instructions="kept")
    result = cli(*args)
    assert message in refused(result, code), result.stderr
    assert result.stdout == ""
    assert library_queue(workdir).get_stream("auth").instructions == "kept"


def test_editing_an_ended_stream_is_refused_with_the_reason(cli: Run, workdir: Path) -> None:
    make_stream(workdir, instructions="kept").end_stream("auth")
    message = refused(cli("stream", "edit", "auth", "-i", "too late"))
    assert message.startswith("Error: Stream 'auth' has ended") and "no worker will claim from it again" in message
    assert library_queue(workdir).get_stream("auth").instructions == "kept"


def test_session_edit_replaces_the_description_of_an_active_or_ended_session(cli: Run, workdir: Path) -> None:
    make_stream(workdir)
    assert ok(cli("session", "edit", "api-v2", "-d", "Version 2")) == (
        "Session api-v2: description replaced (1 line, 9 characters)\n"
    )
    library_queue(workdir).end_session("api-v2")
    (workdir / "notes.md").write_text("Shipped in 2.1\n")
    session = ok_json(cli("session", "edit", "api-v2", "--description-file", "notes.md", "--json"))
    assert (session["name"], session["description"], session["status"]) == ("api-v2", "Shipped in 2.1\n", "ended")
    assert ok(cli("session", "edit", "api-v2", "-d", "")) == "Session api-v2: description cleared\n"
    assert library_queue(workdir).get_session("api-v2").description is None


def test_the_help_pages_say_how_to_edit_with_examples(cli: Run) -> None:
    stream_help = ok(cli("stream", "edit", "--help"))
    assert "sparkq stream edit auth --instructions-file auth.md" in stream_help
    assert "--instructions-file" in stream_help and "QUESTION:" in stream_help
    assert "sparkq session edit api-v2 -d" in ok(cli("session", "edit", "--help"))
    assert "Create, list, edit and end streams" in ok(cli("stream", "--help"))
    assert "Create, list, edit and end sessions" in ok(cli("session", "--help"))


def test_the_edit_commands_the_readme_and_the_playbook_show_run_as_written(cli: Run, workdir: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    playbook = (root / "WORKER_PLAYBOOK.md").read_text()
    shown = [
        line.split("  #")[0]
        for line in readme.splitlines()
        if line.startswith(("sparkq stream edit", "sparkq session edit"))
    ]
    assert len(shown) == 2, shown
    assert "sparkq stream edit S -i" in playbook and "Edit\ninstructions" in playbook
    make_stream(workdir)
    for line in shown:
        ok(cli(*shlex.split(line)[1:]))
    assert library_queue(workdir).get_stream("auth").instructions == "Add login with OAuth. Done when tests/auth pass."
    assert library_queue(workdir).get_session("api-v2").description == "API v2 rewrite, OAuth only"
