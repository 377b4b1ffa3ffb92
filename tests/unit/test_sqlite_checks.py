"""The pure checks behind refusing damaged databases: the `-shm` header, whole pages, WAL frames, errors."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from sparkq_adapters.sqlite import errors, forensics
from sparkq_adapters.sqlite.errors import file_size_limit, translate
from sparkq_adapters.sqlite.forensics import WAL_INDEX_VERSION, missing_wal_pages, page_problem, pending_wal_frames
from sparkq_adapters.sqlite.store import SqliteStore
from sparkq_domain import StorageBusy, StorageCorrupt, StorageError, StorageFull


def shm_header(max_frame: int, backfilled: int, *, second: int | None = None, initialised: int = 1) -> bytes:
    """The first 100 bytes of a `-shm` file: two wal-index headers, then nBackfill (native byte order)."""

    def copy(frames: int) -> bytes:
        head = struct.pack("=IIIBBHI", WAL_INDEX_VERSION, 0, 7, initialised, 0, 4096, frames)
        return head + bytes(48 - len(head))

    return copy(max_frame) + copy(max_frame if second is None else second) + struct.pack("=I", backfilled)


def test_pending_wal_frames_are_the_frames_not_yet_copied_back() -> None:
    assert pending_wal_frames(shm_header(285, 0)) == 285
    assert pending_wal_frames(shm_header(285, 200)) == 85
    assert pending_wal_frames(shm_header(285, 285)) == 0  # all checkpointed: losing the WAL loses nothing


def test_pending_wal_frames_take_the_larger_copy_when_a_writer_died_between_the_two() -> None:
    assert pending_wal_frames(shm_header(10, 0, second=12)) == 12


@pytest.mark.parametrize(
    "header",
    [b"", b"\x00\x00\x00", shm_header(50, 0)[:99], shm_header(50, 0, initialised=0), b"\xff" * 100],
    ids=["empty", "cut-at-open", "short", "not-initialised", "garbage"],
)
def test_pending_wal_frames_is_zero_when_the_header_cannot_tell(header: bytes) -> None:
    assert pending_wal_frames(header) == 0


def test_page_problem_accepts_whole_pages_and_names_the_sizes_otherwise() -> None:
    assert page_problem(0, 4096) is None
    assert page_problem(3 * 4096, 4096) is None
    assert page_problem(3 * 4096 - 1000, 4096) == "it is 11288 bytes long, not a whole number of its 4096-byte pages"


def write_wal(path: Path, frames: list[tuple[int, bytes]], *, page_size: int = 512, magic: int = 0x377F0682) -> None:
    """A WAL file with the given (page number, salts) frames; the header's salts are b"saltsalt"."""
    data = struct.pack(">4I", magic, 3007000, page_size, 0) + b"saltsalt" + bytes(8)
    for page, salts in frames:
        data += struct.pack(">2I", page, 0) + salts + bytes(8) + bytes(page_size)
    path.write_bytes(data)


def test_missing_wal_pages_are_those_no_current_frame_holds(tmp_path: Path) -> None:
    wal = tmp_path / "db-wal"
    write_wal(wal, [(3, b"saltsalt"), (5, b"saltsalt"), (4, b"oldsalts")])  # frame 3: before a restart
    assert missing_wal_pages(wal, {3, 4, 5}) == {4}
    assert missing_wal_pages(wal, {3, 5}) == set()
    assert missing_wal_pages(wal, set()) == set()


def test_missing_wal_pages_reads_a_real_sqlite_wal(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t(x)")
    for _ in range(20):
        conn.execute("INSERT INTO t VALUES (zeroblob(3000))")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    try:
        assert missing_wal_pages(Path(str(db) + "-wal"), set(range(1, pages + 1))) == set()
        assert missing_wal_pages(Path(str(db) + "-wal"), {pages + 1}) == {pages + 1}
    finally:
        conn.close()


def test_missing_wal_pages_cannot_tell_for_a_foreign_or_overlong_file(tmp_path: Path) -> None:
    wal = tmp_path / "db-wal"
    write_wal(wal, [(3, b"saltsalt")], magic=0x12345678)
    assert missing_wal_pages(wal, {3}) is None
    write_wal(wal, [(3, b"saltsalt"), (4, b"saltsalt"), (5, b"saltsalt")])
    assert missing_wal_pages(wal, {5}, max_frames=2) is None
    assert missing_wal_pages(tmp_path / "absent-wal", {1}) is None
    (tmp_path / "empty-wal").write_bytes(b"")
    assert missing_wal_pages(tmp_path / "empty-wal", {1, 2}) == {1, 2}  # a WAL without frames holds nothing


def test_file_size_limit_is_none_without_a_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    assert file_size_limit() == (None if soft == resource.RLIM_INFINITY else soft)


def sqlite_error(name: str, text: str) -> sqlite3.Error:
    """An error as the sqlite3 module raises it for SQLite's result code `name` (e.g. SQLITE_IOERR_WRITE)."""
    error = sqlite3.OperationalError(text)
    error.sqlite_errorcode = getattr(sqlite3, name)  # type: ignore[attr-defined]
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("name", "text", "kind", "fragment"),
    [
        ("SQLITE_BUSY", "database is locked", StorageBusy, "is locked by another process (waited 5000 ms)"),
        ("SQLITE_FULL", "database or disk is full", StorageFull, "is full; nothing was written"),
        ("SQLITE_NOTADB", "file is not a database", StorageCorrupt, "is not a SQLite database"),
        ("SQLITE_CORRUPT", "database disk image is malformed", StorageCorrupt, "restore it from a backup"),
        ("SQLITE_IOERR_READ", "disk I/O error", StorageError, "Disk I/O error on the database"),
        ("SQLITE_READONLY", "attempt to write a readonly database", StorageError, "is read-only"),
    ],
)
def test_sqlite_errors_become_messages_that_name_the_file_and_the_fix(
    tmp_path: Path, name: str, text: str, kind: type[StorageError], fragment: str
) -> None:
    store = SqliteStore(tmp_path / "q.db")
    error = store.failure(sqlite_error(name, text))
    assert type(error) is kind
    assert fragment in error.message and str(tmp_path / "q.db") in error.message


@pytest.mark.parametrize(
    ("name", "kind", "fragment"),
    [
        ("SQLITE_BUSY_SNAPSHOT", StorageBusy, "is locked by another process"),
        ("SQLITE_LOCKED_SHAREDCACHE", StorageBusy, "is locked by another process"),
        ("SQLITE_CORRUPT_INDEX", StorageCorrupt, "restore it from a backup"),
        ("SQLITE_READONLY_DBMOVED", StorageError, "is read-only"),
        ("SQLITE_CANTOPEN_ISDIR", StorageError, "Cannot open the database"),
        ("SQLITE_IOERR_SHORT_READ", StorageError, "Disk I/O error on the database"),
    ],
)
def test_extended_codes_are_translated_by_their_primary_code(
    tmp_path: Path, name: str, kind: type[StorageError], fragment: str
) -> None:
    error = translate(sqlite_error(name, "whatever SQLite says"), tmp_path / "q.db", busy_timeout_ms=5000)
    assert type(error) is kind and fragment in error.message


@pytest.mark.parametrize(
    "text",
    ["database is locked", "database or disk is full", "file is not a database", "database disk image is malformed"],
)
def test_errors_are_told_apart_by_their_codes_never_by_their_text(tmp_path: Path, text: str) -> None:
    db = tmp_path / "q.db"
    # a plain SQLITE_ERROR (e.g. a message raised by a trigger) and an error of the sqlite3 module itself
    plain = sqlite_error("SQLITE_ERROR", text)
    for exc in (plain, sqlite3.ProgrammingError(text)):
        error = translate(exc, db, busy_timeout_ms=5000)
        assert type(error) is StorageError
        assert error.message.startswith(f"Database error on {db}: {text}")
    assert "(SQLITE_ERROR)" in translate(plain, db, busy_timeout_ms=5000).message


def test_only_a_primary_key_or_unique_constraint_is_a_duplicate() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT NOT NULL, CONSTRAINT "UNIQUE note" '
        "CHECK (note != 'taken'))"
    )
    conn.execute("INSERT INTO t VALUES (1, 'a', 'x')")
    refused = {}
    for label, row in {
        "primary key": (1, "b", "x"),
        "unique": (2, "a", "x"),
        "not null": (2, "b", None),
        "check named UNIQUE": (2, "b", "taken"),
    }.items():
        with pytest.raises(sqlite3.IntegrityError) as caught:
            conn.execute("INSERT INTO t VALUES (?, ?, ?)", row)
        refused[label] = errors.is_duplicate(caught.value)
    conn.close()
    assert refused == {"primary key": True, "unique": True, "not null": False, "check named UNIQUE": False}


def test_a_relative_path_is_named_absolute_in_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    error = SqliteStore("q.db").failure(sqlite_error("SQLITE_CORRUPT", "database disk image is malformed"))
    assert f"The database {tmp_path / 'q.db'} is damaged" in error.message


def test_a_failed_write_under_a_file_size_limit_is_reported_as_that_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(errors, "file_size_limit", lambda: 65536)
    store = SqliteStore(tmp_path / "q.db")
    error = store.failure(sqlite_error("SQLITE_IOERR_WRITE", "disk I/O error"))
    assert type(error) is StorageFull
    assert "past this process's file-size limit (65536 bytes, `ulimit -f`)" in error.message
    short_write = store.failure(sqlite_error("SQLITE_FULL", "database or disk is full"))
    assert "is full, or the database reached this process's file-size limit (65536 bytes" in short_write.message
    # a read error has nothing to do with the limit
    assert type(store.failure(sqlite_error("SQLITE_IOERR_READ", "disk I/O error"))) is StorageError


def test_an_io_error_with_no_space_left_is_reported_as_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(errors, "file_size_limit", lambda: None)
    monkeypatch.setattr(errors, "free_bytes", lambda folder: 0)
    error = SqliteStore(tmp_path / "q.db").failure(sqlite_error("SQLITE_IOERR_WRITE", "disk I/O error"))
    assert type(error) is StorageFull and "is full; nothing was written" in error.message


def test_once_sqlite_reports_the_file_damaged_the_store_refuses_every_write_but_a_busy_file_passes(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "q.db")
    busy = store.failure(sqlite_error("SQLITE_BUSY", "database is locked"))
    assert type(busy) is StorageBusy
    with store.write() as repo:  # a lock that was held is no reason to stop writing
        assert repo.get_project() is None
    damaged = store.failure(sqlite_error("SQLITE_CORRUPT", "database disk image is malformed"))
    for _ in range(2):
        with pytest.raises(StorageCorrupt) as refused:
            store.write()
        assert refused.value.message == damaged.message and "restore it from a backup" in damaged.message
    with store.read() as repo:  # reading what can still be read is harmless
        assert repo.get_project() is None
    not_a_database = SqliteStore(tmp_path / "r.db")
    not_a_database.failure(sqlite_error("SQLITE_NOTADB", "file is not a database"))
    with pytest.raises(StorageCorrupt, match="is not a SQLite database"):
        not_a_database.write()


def test_quick_check_passes_a_sound_file_and_lists_the_pages_of_a_damaged_one(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("CREATE INDEX t_x ON t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"row {n} " + "x" * 200,) for n in range(500)])
    conn.commit()
    assert forensics.quick_check_problem(conn) is None
    index_root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 't_x'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:  # no connection is open: closing this descriptor drops no lock
        f.seek((index_root - 1) * page_size)
        f.write(bytes([0xFF]) * page_size)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        problem = forensics.quick_check_problem(conn)
    finally:
        conn.close()
    assert problem is not None and problem.startswith("SQLite's quick_check found ")
    assert f"Page {index_root}:" in problem and "***" not in problem


def test_quick_check_tells_its_progress_in_pages_ending_at_the_page_count(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
    conn.commit()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    seen: list[tuple[int, int]] = []
    try:
        assert forensics.quick_check_problem(conn, lambda *at: seen.append(at)) is None
    finally:
        conn.close()
    assert seen[0] == (0, pages) and seen[-1] == (pages, pages)
    assert all(total == pages for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done)


def test_bytes_read_counts_what_this_process_reads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * 300_000)
    before = forensics.bytes_read()
    assert before is not None  # Linux's /proc/self/io
    assert len(data.read_bytes()) == 300_000
    after = forensics.bytes_read()
    assert after is not None and after - before >= 300_000


@pytest.mark.parametrize("with_wal", [False, True], ids=["no-wal", "wal"])
def test_a_store_that_checks_pages_reports_them_to_its_progress_hook(tmp_path: Path, with_wal: bool) -> None:
    db = tmp_path / "q.db"
    first = SqliteStore(db)
    with first.write() as repo:
        assert repo.get_project() is None
    holder = sqlite3.connect(db) if with_wal else None  # an open connection keeps the WAL file there
    if holder is not None:
        holder.execute("SELECT 1 FROM sqlite_master").fetchall()
    first.close()
    assert (tmp_path / "q.db-wal").exists() is with_wal
    seen: list[tuple[int, int]] = []
    checked = SqliteStore(db, check_pages=True, check_progress=lambda *at: seen.append(at))
    try:
        with checked.read() as repo:
            assert repo.get_project() is None
    finally:
        checked.close()
        if holder is not None:
            holder.close()
    pages = seen[-1][1]
    assert pages > 1 and seen[0] == (0, pages) and seen[-1] == (pages, pages)
