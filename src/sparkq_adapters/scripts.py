"""The script index (SPEC §6): the scripts in `script_dirs`, with what their header comments say.

A script documents itself in its top comment block, read until the first line that is neither
a comment nor blank (a `#!` line is fine)::

    #!/usr/bin/env bash
    # name: build-docs
    # description: Build the HTML docs into site/
    # inputs: none
    # outputs: site/index.html
    # tags: docs, build

What counts as a script: a readable text file that has such a header, or that looks like a script
without one (a `#!` line, the executable bit, or a script extension such as `.sh` or `.py`).
Scripts without a header are listed too, named after the file and with an empty description,
so that every runnable file can be found; data files (README.md, *.json, ...) without a header
are not. Binary files, hidden files and folders, `__pycache__`, and symlinks that lead out of the
script folder are skipped silently; a missing script folder or an unreadable file is skipped
with a warning. Only the first few KiB of a file are read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .config import Settings

#: only the head of a file is read: headers are short, and a script folder can hold huge files
MAX_HEAD_BYTES = 8 * 1024
#: a script folder that holds more files than this is most likely not a script folder
MAX_FILES_PER_DIR = 10_000
#: the header fields a script may declare, one `# field: value` line each
FIELDS = ("name", "description", "inputs", "outputs", "tags")
SCRIPT_SUFFIXES = frozenset(
    {".sh", ".bash", ".zsh", ".fish", ".ksh", ".py", ".rb", ".pl", ".php", ".js", ".mjs", ".ts", ".lua", ".r", ".R"}
)
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})

_FIELD_LINE = re.compile(rf"#+\s*({'|'.join(FIELDS)})\s*:\s?(.*)$", re.IGNORECASE)


@attrs.frozen(kw_only=True)
class ScriptEntry:
    """One script: its header fields, and its path relative to the project folder."""

    name: str
    #: POSIX path relative to the project folder (absolute when the script folder lies outside it)
    path: str
    description: str = ""
    inputs: str = ""
    outputs: str = ""
    tags: tuple[str, ...] = ()
    #: False for a script without a `# name:` ... header (listed under its file name)
    documented: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "tags": list(self.tags),
        }


@attrs.frozen(kw_only=True)
class ScriptIndex:
    """The scripts found, in a stable order, and what was skipped with a reason worth telling."""

    scripts: tuple[ScriptEntry, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_list(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.scripts]


def build_index(script_dirs: Iterable[str | os.PathLike[str]], base_dir: str | os.PathLike[str]) -> ScriptIndex:
    """Scan `script_dirs` (relative ones from `base_dir`) and return the index.

    Order: the folders in the order given, and within a folder by path. Never raises for what
    it finds on disk; problems come back as warnings.
    """
    base = Path(base_dir)
    scripts: list[ScriptEntry] = []
    warnings: list[str] = []
    seen: set[Path] = set()
    for folder in script_dirs:
        root = base / Path(folder).expanduser()
        try:
            real_root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            warnings.append(f"Script folder {folder} ({root}) does not exist; skipped")
            continue
        if not real_root.is_dir():
            warnings.append(f"Script folder {folder} ({root}) is not a folder; skipped")
            continue
        if real_root in seen:
            continue
        seen.add(real_root)
        scripts.extend(_scan(root, real_root, base, warnings))
    return ScriptIndex(scripts=tuple(scripts), warnings=tuple(warnings))


def build_index_for(settings: Settings) -> ScriptIndex:
    """The index of a loaded `config.Settings`."""
    return build_index(settings.file.script_dirs, settings.base_dir)


def _scan(root: Path, real_root: Path, base: Path, warnings: list[str]) -> list[ScriptEntry]:
    found: list[ScriptEntry] = []
    files: list[Path] = []

    def on_error(exc: OSError) -> None:
        warnings.append(f"Cannot list {exc.filename}: {exc.strerror}; skipped")

    # os.walk does not follow symlinked folders, so a link loop cannot trap the scan
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        files.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
        if len(files) > MAX_FILES_PER_DIR:
            warnings.append(f"Script folder {root} holds more than {MAX_FILES_PER_DIR} files; indexed the first ones")
            break
    for path in sorted(files[:MAX_FILES_PER_DIR], key=lambda p: p.relative_to(root).as_posix()):
        entry = _entry(path, real_root, base, warnings)
        if entry is not None:
            found.append(entry)
    return found


def _entry(path: Path, real_root: Path, base: Path, warnings: list[str]) -> ScriptEntry | None:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            warnings.append(f"Cannot read {_shown(path, base)}: it is a broken symlink; skipped")
            return None
        if not target.is_relative_to(real_root):
            return None  # a link out of the script folder is not one of its scripts
    try:
        info = path.stat()
    except OSError as exc:
        warnings.append(f"Cannot read {_shown(path, base)}: {exc.strerror}; skipped")
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # a FIFO, socket or device: opening it could block or have effects
    head = _read_head(path, base, warnings)
    if head is None:
        return None
    fields = parse_header(head)
    looks_like_script = head.startswith("#!") or path.suffix in SCRIPT_SUFFIXES or bool(info.st_mode & stat.S_IXUSR)
    if not fields and not looks_like_script:
        return None
    return ScriptEntry(
        name=fields.get("name") or path.name,
        path=_shown(path, base),
        description=fields.get("description", ""),
        inputs=fields.get("inputs", ""),
        outputs=fields.get("outputs", ""),
        tags=split_tags(fields.get("tags", "")),
        documented=bool(fields),
    )


def _read_head(path: Path, base: Path, warnings: list[str]) -> str | None:
    """The first KiB of the file as text, or None for a binary or unreadable file."""
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, opening must not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_HEAD_BYTES)
    except OSError as exc:
        warnings.append(f"Cannot read {_shown(path, base)}: {exc.strerror or exc}; skipped")
        return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the head is fine; anything else is binary
        if len(data) == MAX_HEAD_BYTES and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8", errors="replace")
        return None


def parse_header(text: str) -> dict[str, str]:
    """The `# key: value` fields of the top comment block (keys are case-insensitive).

    The block ends at the first line that is neither a comment nor blank. A key given on
    several lines is joined with spaces (tags with commas), so long values can wrap.
    """
    fields: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if number == 0 and line.startswith("#!"):
            continue
        if not line:
            continue
        if not line.startswith("#"):
            break
        match = _FIELD_LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2).strip()
        if not value:
            continue
        if key in fields:
            value = fields[key] + (", " if key == "tags" else " ") + value
        fields[key] = value
    return fields


def split_tags(text: str) -> tuple[str, ...]:
    """`build, ci` or `[build, ci]` or `build ci` -> ("build", "ci"), without duplicates."""
    text = text.strip().removeprefix("[").removesuffix("]")
    parts = text.split(",") if "," in text else text.split()
    tags: list[str] = []
    for part in parts:
        tag = part.strip().strip("'\"")
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _shown(path: Path, base: Path) -> str:
    """The path as a user types it: relative to the project folder when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(base))).as_posix()
    except ValueError:
        return absolute.as_posix()
