"""Damage that SQLite does not see, or would make worse: checks of a database file and its `-wal` / `-shm`.

Run before (and during) the first open of a file by a store. None of them opens the database file
itself: closing any descriptor of the file drops every POSIX lock this process holds on it,
including those of live SQLite connections, and another process may then delete the WAL under
them (lost commits). SQLite itself tells a file that is not a database (SQLITE_NOTADB) without
writing to it.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from sparkq_domain.errors import StorageCorrupt, StorageError

from .errors import damaged_advice

#: the wal-index header at the start of a `-shm` file (SQLite's WAL format, native byte order):
#: two copies of a 48-byte header (iVersion, unused, iChange, isInit, bigEndCksum, szPage,
#: mxFrame, nPage, ...), then the checkpoint info whose first field is nBackfill
WAL_INDEX_VERSION = 3007000
WAL_INDEX_BYTES = 100
_WAL_INDEX_HEADER = struct.Struct("=IIIBBHI")  # up to mxFrame, at byte 16
_WAL_HEADER_BYTES = 32  # a -wal file this size or smaller holds no frames
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_FRAME_HEADER_BYTES = 24
_WAL_FRAME_HEADER = struct.Struct(">4I")  # page number, commit size, salt-1, salt-2 (then two checksums)
_WAL_READ_BYTES = 1024 * 1024
#: frames looked at most when checking a WAL for missing pages (~4 µs each, so at most ~80 ms)
MAX_SCANNED_FRAMES = 20_000
#: SQLite never writes the page that holds this byte offset (its lock bytes live there)
PENDING_BYTE = 0x40000000
#: problems `PRAGMA quick_check` lists at most (one is enough to refuse; a few help whoever repairs it)
QUICK_CHECK_PROBLEMS = 5
#: seconds between two progress reports of a `quick_check`
PROGRESS_INTERVAL = 0.1

#: told (pages done, pages in all) while a check reads the file
Progress = Callable[[int, int], None]


def sibling(db: Path, suffix: str) -> Path:
    """The file SQLite keeps beside `db` (`-wal`, `-shm`), or ours (`-writer`)."""
    return db.with_name(db.name + suffix)


def check_folder(db: Path) -> None:
    """Refuse a database whose folder does not exist, or a folder named as the database.

    SQLite would only say that it cannot open either (and a folder's link count would pass for hard links).
    """
    if not db.parent.is_dir():
        raise StorageError(
            f"The database folder {db.parent} does not exist; create it or set database.path in sparkq.yml"
        )
    if db.is_dir():
        raise StorageError(
            f"The database path {db} is a folder, not a file; set database.path in sparkq.yml to a file, "
            f"e.g. {db / 'sparkq.db'}"
        )


def refuse_second_name(db: Path) -> None:
    """Refuse a database file with more than one name (hard links): each name gets its own WAL.

    SQLite names the `-wal` and `-shm` files after the name a program opened, so two names of
    one file are two logs that know nothing of each other: commits made through one are lost
    at the other's checkpoint, and a server locked through one name is not seen through the other.
    """
    try:
        names = os.stat(db).st_nlink
    except OSError:
        return  # not created yet, or SQLite will say what is wrong with it
    if names > 1:
        raise StorageError(
            f"The database {db} has {names} names (hard links). SQLite keeps a separate write-ahead "
            "log beside each name, so changes made through one name are lost through the other; SparkQ will "
            f"not open it. Stop every program using it, keep one name and delete the others (`find / -xdev "
            f"-samefile {db}` lists them); to reach it from another folder, use a symbolic link (ln -s)"
        )


def check_wal_files(db: Path) -> bool:
    """Refuse what SQLite would silently get wrong about the `-wal` file; True if one is in use.

    A `-wal` gone while the `-shm` says it held commits: SQLite cannot tell, opens the main
    file as it is and drops what the lost WAL held. A clean close deletes `-shm` before
    `-wal`, and an opener creates `-wal` before `-shm`, so `-shm` without `-wal` means someone
    removed the WAL. Costs two stats when the WAL is there; only when it is not is the `-shm`
    (never the database file) read.
    """
    wal, shm = sibling(db, "-wal"), sibling(db, "-shm")
    try:
        wal_size = os.stat(wal).st_size
    except FileNotFoundError:
        _refuse_lost_wal(db, wal, shm)
        return False
    except OSError:
        return False  # SQLite will say what is wrong with it
    db_size = _size(db)
    if db_size == 0 and wal_size > _WAL_HEADER_BYTES:
        # SQLite deletes the WAL of an empty (or missing) database file: every commit in it would be lost
        state = "is empty" if db.exists() else "is missing"
        raise StorageCorrupt(
            f"The database {db} {state} but its write-ahead log {wal} holds {wal_size} bytes of changes: "
            "the database file was truncated, replaced or deleted. SparkQ will not open it (SQLite would "
            f"discard the log): restore {db.name} from a backup, keeping {wal.name} beside it; or, to start "
            f"afresh and lose what it held, delete {wal} and {shm}"
        )
    return db_size > 0


def _refuse_lost_wal(db: Path, wal: Path, shm: Path) -> None:
    header, inode = _read_head(shm, WAL_INDEX_BYTES)
    pending = pending_wal_frames(header)
    if not pending:
        return
    if os.path.exists(wal) or _inode(shm) != inode:
        return  # a process opened or closed the database meanwhile: the files are consistent again
    raise StorageCorrupt(
        f"The database {db} has lost its write-ahead log: {wal} is missing, but {shm} records {pending} "
        "page writes in it that were never copied into the database (a crash, then the -wal file was "
        "deleted or left behind in a copy). SparkQ will not open it, because SQLite would silently drop "
        f"those changes. Put {wal.name} back beside it, or restore all three files from a backup; or, to "
        f"accept losing those changes, stop every program using the database and delete {shm}"
    )


def inspect(
    conn: sqlite3.Connection,
    db: Path,
    *,
    wal: bool = False,
    check_pages: bool = False,
    progress: Progress | None = None,
) -> None:
    """The first read (where SQLite checks the header against the file), then what it does not check.

    `wal`: the file has a WAL, so SQLite checks its page count against the WAL rather than the
    file. `check_pages`: also read every page (`quick_check_problem`, telling `progress`).
    """
    conn.execute("PRAGMA user_version").fetchall()
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    size = _size(db)
    problem = page_problem(size, page_size)
    if problem is None and wal:
        problem = _pages_missing(conn, db, size, page_size)
    if problem is None and check_pages:
        problem = quick_check_problem(conn, progress)
    if problem is not None:
        raise StorageCorrupt(
            f"The database {db} is damaged: {problem} (it was cut short, or written to by "
            f"something else). {damaged_advice()}"
        )


def _pages_missing(conn: sqlite3.Connection, db: Path, size: int, page_size: int) -> str | None:
    """With a WAL, SQLite checks the page count against the WAL, not the file: check the file.

    Pages past the end of the main file are fine when the WAL holds them (the database grew
    since the last checkpoint). A file whose own header agrees with its length needs nothing
    beyond it; only otherwise (a checkpoint under way, or a cut file) are the WAL's frame
    headers read to see whether it holds every page the file lacks.
    """
    needed = int(conn.execute("PRAGMA page_count").fetchone()[0])
    present = size // page_size
    if needed <= present or _file_alone_is_whole(db):
        return None
    wanted = set(range(present + 1, needed + 1)) - {PENDING_BYTE // page_size + 1}
    wal = sibling(db, "-wal")
    missing = missing_wal_pages(wal, wanted)
    if not missing:
        return None
    return (
        f"it has {present} pages but needs {needed}, and {len(missing)} of the pages past its end "
        f"(from page {min(missing)}) are not in its write-ahead log {wal} either"
    )


def _file_alone_is_whole(db: Path) -> bool:
    """Whether SQLite, looking at the main file alone (ignoring the WAL), finds all its pages there.

    `immutable=1` reads the file without locks, WAL or `-shm`, and so never writes anything.
    """
    try:
        alone = sqlite3.connect(db.as_uri() + "?immutable=1", uri=True, isolation_level=None)
    except sqlite3.Error:
        return True  # cannot tell
    try:
        alone.execute("PRAGMA user_version").fetchall()
    except sqlite3.DatabaseError:
        return False
    finally:
        alone.close()
    return True


def pending_wal_frames(header: bytes) -> int:
    """WAL frames that a `-shm` header says were never copied into the database (0 if it cannot tell).

    `header` is the start of a `-shm` file: the wal-index header twice (48 bytes each, native byte
    order; `mxFrame` is the last valid frame), then `nBackfill`, the frames already copied back.
    """
    if len(header) < WAL_INDEX_BYTES:
        return 0
    last = 0
    for offset in (0, 48):
        version, _, _, initialised, _, _, max_frame = _WAL_INDEX_HEADER.unpack_from(header, offset)
        if version == WAL_INDEX_VERSION and initialised == 1:
            last = max(last, max_frame)
    (backfilled,) = struct.unpack_from("=I", header, 96)
    return max(0, int(last) - int(backfilled))


def missing_wal_pages(wal: Path, wanted: set[int], *, max_frames: int = MAX_SCANNED_FRAMES) -> set[int] | None:
    """The pages of `wanted` that no frame of the WAL file holds; None when it cannot tell.

    Reads the 32-byte WAL header and then the 24-byte header of each frame (page number, commit
    size, the two salts, checksums; big-endian) as long as its salts match the file's: frames
    with other salts are left over from before the WAL was last restarted. Frames are read a
    megabyte at a time; only their headers are looked at. The `-wal` file carries no POSIX
    locks, so reading it is safe while connections use it.
    """
    try:
        fd = os.open(wal, os.O_RDONLY)
    except OSError:
        return None
    try:
        header = os.pread(fd, _WAL_HEADER_BYTES, 0)
        if len(header) < _WAL_HEADER_BYTES:
            return set(wanted)  # no frames at all
        magic, _, page_size, _, salt1, salt2 = struct.unpack_from(">6I", header)
        if magic not in _WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
            return None
        left = set(wanted)
        frame_bytes = _WAL_FRAME_HEADER_BYTES + page_size
        per_read = max(1, min(max_frames, _WAL_READ_BYTES // frame_bytes))  # whole frames per read
        offset = _WAL_HEADER_BYTES
        for _ in range(0, max_frames, per_read):
            chunk = os.pread(fd, per_read * frame_bytes, offset)
            for start in range(0, len(chunk) - _WAL_FRAME_HEADER_BYTES + 1, frame_bytes):
                if not left:
                    return left
                page, _, frame_salt1, frame_salt2 = _WAL_FRAME_HEADER.unpack_from(chunk, start)
                if (frame_salt1, frame_salt2) != (salt1, salt2):
                    return left
                left.discard(page)
            if len(chunk) < per_read * frame_bytes:
                return left  # the end of the file
            offset += len(chunk)
        return None  # too long to read at every start: cannot tell
    except OSError:
        return None
    finally:
        os.close(fd)


def quick_check_problem(conn: sqlite3.Connection, progress: Progress | None = None) -> str | None:
    """What SQLite's `quick_check` finds wrong with the pages of the file, if anything.

    It reads every page (about a second per GB) and checks each b-tree's structure, but not that
    indexes agree with their tables (`integrity_check`, several times slower). Damage it trips
    over raises SQLITE_CORRUPT instead of being listed. `progress` is told how far it got (see
    `_watch_pages`).
    """
    check = f"PRAGMA quick_check({QUICK_CHECK_PROBLEMS})"
    rows = conn.execute(check).fetchall() if progress is None else _watch_pages(conn, check, progress)
    lines = [line for row in rows for line in str(row[0]).splitlines() if line and not line.startswith("***")]
    if lines == ["ok"]:
        return None
    return "SQLite's quick_check found " + "; ".join(lines[:QUICK_CHECK_PROBLEMS])


def _watch_pages(conn: sqlite3.Connection, check: str, progress: Progress) -> list[tuple[object, ...]]:
    """Run `check`, telling `progress` (pages read so far, page count) every `PROGRESS_INTERVAL` seconds.

    SQLite's progress handler is no help here: its walk over every b-tree is one VM instruction,
    between which the handler is called. But it reads each page once, so the bytes this process
    has read since it began count its pages (SQLite releases the GIL while it works, so a thread
    can look). The per-row checks after the walk read the tables again with the count full; where
    the bytes read are unknown (not Linux), it stays at 0 until the end. The last report, once the
    check has finished, is (page count, page count).
    """
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    total = int(conn.execute("PRAGMA page_count").fetchone()[0])
    start = bytes_read()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(PROGRESS_INTERVAL):
            now = bytes_read()
            if start is not None and now is not None:
                progress(min((now - start) // page_size, total), total)

    progress(0, total)
    watcher = threading.Thread(target=watch, name="sparkq-check-progress", daemon=True)
    watcher.start()
    try:
        rows = conn.execute(check).fetchall()
    finally:
        stop.set()
        watcher.join()
    progress(total, total)
    return rows


def bytes_read() -> int | None:
    """Bytes this process has read so far, page cache hits included (Linux's `rchar`); None where unknown."""
    try:
        with open("/proc/self/io", "rb") as counters:
            for line in counters:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def page_problem(size: int, page_size: int) -> str | None:
    """What is wrong with a database file of `size` bytes and `page_size`-byte pages, if anything.

    SQLite writes whole pages, so any other size means the file was cut short or appended to.
    (SQLite itself refuses a file shorter than the page count in its header.)
    """
    if page_size <= 0 or size % page_size == 0:
        return None
    return f"it is {size} bytes long, not a whole number of its {page_size}-byte pages"


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _read_head(path: Path, count: int) -> tuple[bytes, int | None]:
    """The first `count` bytes of a file and its inode; (b"", None) when it cannot be read.

    Only for `-shm` files without a `-wal`, i.e. of a database no connection of this process uses:
    closing the descriptor drops this process's POSIX locks on that file.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b"", None
    try:
        return os.pread(fd, count, 0), os.fstat(fd).st_ino
    except OSError:
        return b"", None
    finally:
        os.close(fd)
