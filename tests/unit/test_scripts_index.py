"""The script index: header parsing, what counts as a script, and what is skipped (and how)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparkq_adapters import scripts
from sparkq_adapters.scripts import ScriptEntry, build_index, parse_header, split_tags

HEADER = """#!/usr/bin/env bash
# name: build-docs
# description: Build the HTML docs
# inputs: none
# outputs: site/index.html
# tags: docs, build
set -e
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    return tmp_path


def write(path: Path, text: str | bytes, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def paths(project: Path, dirs: tuple[str, ...] = ("scripts",)) -> list[str]:
    return [s.path for s in build_index(dirs, project).scripts]


# -- the header --------------------------------------------------------------------------------------


def test_documented_script_gives_every_field_and_a_project_relative_path(project: Path) -> None:
    write(project / "scripts" / "docs.sh", HEADER)
    index = build_index(["scripts"], project)
    assert index.scripts == (
        ScriptEntry(
            name="build-docs",
            path="scripts/docs.sh",
            description="Build the HTML docs",
            inputs="none",
            outputs="site/index.html",
            tags=("docs", "build"),
        ),
    )
    assert index.warnings == ()
    assert index.to_list()[0]["tags"] == ["docs", "build"]


def test_header_ends_at_the_first_line_that_is_not_a_comment() -> None:
    text = "# name: real\nimport os\n# description: too late\n"
    assert parse_header(text) == {"name": "real"}


def test_shebang_and_blank_lines_do_not_end_the_header() -> None:
    text = "#!/usr/bin/env python3\n\n# -*- coding: utf-8 -*-\n# Name: upper\n\n# TAGS: a b\n"
    assert parse_header(text) == {"name": "upper", "tags": "a b"}


def test_a_key_repeated_on_several_lines_is_joined() -> None:
    text = "# description: first part\n# description: second part\n# tags: a\n# tags: b\n"
    assert parse_header(text) == {"description": "first part second part", "tags": "a, b"}


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("build, ci", ("build", "ci")),
        ("[build, ci]", ("build", "ci")),
        ("build ci", ("build", "ci")),
        ("build, build, ci,", ("build", "ci")),
        ("", ()),
    ],
)
def test_tags_are_split_into_a_list(text: str, tags: tuple[str, ...]) -> None:
    assert split_tags(text) == tags


# -- what counts as a script -------------------------------------------------------------------------


def test_script_without_header_is_listed_under_its_file_name(project: Path) -> None:
    write(project / "scripts" / "plain.sh", "echo hi\n")
    write(project / "scripts" / "tool", "#!/bin/sh\necho hi\n")
    write(project / "scripts" / "runme", "echo hi\n", mode=0o755)
    entries = {s.name: s for s in build_index(["scripts"], project).scripts}
    assert set(entries) == {"plain.sh", "tool", "runme"}
    assert entries["plain.sh"] == ScriptEntry(name="plain.sh", path="scripts/plain.sh", documented=False)


def test_data_files_without_header_are_not_scripts(project: Path) -> None:
    write(project / "scripts" / "README.md", "# Scripts\nSome notes\n")
    write(project / "scripts" / "data.json", "{}\n")
    assert paths(project) == []


def test_a_documented_file_of_any_kind_is_listed(project: Path) -> None:
    write(project / "scripts" / "notes.txt", "# name: notes\n# description: not code, but documented\n")
    assert paths(project) == ["scripts/notes.txt"]


def test_binary_files_are_skipped_silently(project: Path) -> None:
    write(project / "scripts" / "tool.sh", b"\x7fELF\x00\x01\x02binary")
    write(project / "scripts" / "latin1.sh", "# name: caf\xe9\n".encode("latin-1"))
    index = build_index(["scripts"], project)
    assert index.scripts == ()
    assert index.warnings == ()


def test_only_the_head_of_a_huge_file_is_read(project: Path) -> None:
    big = HEADER + ("echo padding\n" * 200_000)
    write(project / "scripts" / "big.sh", big)
    late = "#!/bin/sh\n" + ("#\n" * scripts.MAX_HEAD_BYTES) + "# name: hidden\n"
    write(project / "scripts" / "late.sh", late)
    entries = {s.path: s for s in build_index(["scripts"], project).scripts}
    assert entries["scripts/big.sh"].name == "build-docs"
    # a header line past the first KiB is never seen: the file is not read to the end
    assert entries["scripts/late.sh"].name == "late.sh"


def test_multibyte_character_cut_at_the_end_of_the_head_is_not_binary(project: Path) -> None:
    text = "# name: wide\n# description: x" + "é" * scripts.MAX_HEAD_BYTES  # odd offset: the cut splits an é
    write(project / "scripts" / "wide.sh", text)
    assert [s.name for s in build_index(["scripts"], project).scripts] == ["wide"]


# -- skipped, with or without a warning ---------------------------------------------------------------


def test_unreadable_file_is_skipped_with_a_warning(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "scripts" / "good.sh", HEADER)
    secret = write(project / "scripts" / "secret.sh", HEADER)
    real_open = os.open

    def refusing_open(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if Path(path) == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(scripts.os, "open", refusing_open)
    index = build_index(["scripts"], project)
    assert [s.path for s in index.scripts] == ["scripts/good.sh"]
    assert index.warnings == ("Cannot read scripts/secret.sh: Permission denied; skipped",)


def test_broken_symlink_is_skipped_with_a_warning(project: Path) -> None:
    (project / "scripts" / "gone.sh").symlink_to(project / "scripts" / "missing.sh")
    index = build_index(["scripts"], project)
    assert index.scripts == ()
    assert index.warnings == ("Cannot read scripts/gone.sh: it is a broken symlink; skipped",)


def test_fifo_named_like_a_script_is_skipped_without_blocking(project: Path) -> None:
    os.mkfifo(project / "scripts" / "pipe.sh")
    write(project / "scripts" / "ok.sh", HEADER)
    assert paths(project) == ["scripts/ok.sh"]


def test_symlink_leading_out_of_the_script_folder_is_skipped(project: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "evil.sh", HEADER)
    (project / "scripts" / "evil.sh").symlink_to(outside)
    write(project / "scripts" / "real.sh", "# name: real\n")
    (project / "scripts" / "alias.sh").symlink_to(project / "scripts" / "real.sh")
    assert paths(project) == ["scripts/alias.sh", "scripts/real.sh"]


def test_hidden_files_hidden_folders_and_caches_are_skipped(project: Path) -> None:
    write(project / "scripts" / ".secret.sh", HEADER)
    write(project / "scripts" / ".git" / "hooks" / "pre-commit.sh", HEADER)
    write(project / "scripts" / "__pycache__" / "x.py", "# name: cached\n")
    write(project / "scripts" / "visible.sh", HEADER)
    assert paths(project) == ["scripts/visible.sh"]


def test_missing_script_folder_is_a_warning_not_an_error(project: Path) -> None:
    write(project / "scripts" / "a.sh", HEADER)
    index = build_index(["nope", "scripts"], project)
    assert [s.path for s in index.scripts] == ["scripts/a.sh"]
    assert index.warnings == (f"Script folder nope ({project / 'nope'}) does not exist; skipped",)


def test_script_folder_that_is_a_file_is_a_warning(project: Path) -> None:
    write(project / "file", "x")
    assert build_index(["file"], project).warnings == (
        f"Script folder file ({project / 'file'}) is not a folder; skipped",
    )


# -- order and paths -----------------------------------------------------------------------------------


def test_order_is_folders_as_configured_then_paths_sorted(project: Path) -> None:
    for rel in ("scripts/b.sh", "scripts/a.sh", "scripts/sub/c.sh", "scripts/A.sh", "tools/z.sh", "tools/m.sh"):
        write(project / rel, "echo\n")
    expected = ["tools/m.sh", "tools/z.sh", "scripts/A.sh", "scripts/a.sh", "scripts/b.sh", "scripts/sub/c.sh"]
    assert paths(project, ("tools", "scripts")) == expected
    assert paths(project, ("tools", "scripts")) == expected


def test_the_same_folder_listed_twice_is_indexed_once(project: Path) -> None:
    write(project / "scripts" / "a.sh", "echo\n")
    assert paths(project, ("scripts", "./scripts", str(project / "scripts"))) == ["scripts/a.sh"]


def test_script_folder_outside_the_project_gives_absolute_paths(project: Path, tmp_path: Path) -> None:
    write(tmp_path / "shared" / "x.sh", "echo\n")
    base = project / "app"
    base.mkdir()
    assert paths(base, (str(tmp_path / "shared"),)) == [str(tmp_path / "shared" / "x.sh")]
