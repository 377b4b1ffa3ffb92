"""The SQLite store: one WAL database file, a connection per thread, one transaction per unit of work."""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from sparkq_domain.errors import InvalidInput, SparkQError, StorageBusy, StorageCorrupt, StorageError, StorageFull

from ..config import SYNCHRONOUS_MODES  # the one list: `off` is refused (a power loss could corrupt the file)
from .repository import SqliteRepository
from .schema import LATEST_VERSION, MIGRATIONS, statements
from .writers import WriterLock

OWN_TABLES = frozenset({"projects", "sessions", "streams", "tasks"})
DEFAULT_BUSY_TIMEOUT_MS = 5000
#: WAL pages written before a commit checkpoints them into the database file (SQLite's default is
#: 1,000). Each checkpoint costs two fsyncs; a cycle (enqueue + claim + complete) writes ~25 pages, so
#: at 1,000 a checkpoint came every ~40 cycles and cost as much as the commits themselves. 4,000
#: pages is a WAL of ~16 MiB at most in normal running.
WAL_AUTOCHECKPOINT_PAGES = 4000
#: a WAL that grew past this (a long reader held the checkpoint back) is cut back to it when it restarts
JOURNAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024

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


class SqliteStore:
    """Satisfies `sparkq_domain.Store` on a SQLite file in WAL mode.

    Write units begin with `BEGIN IMMEDIATE`, so they take the write lock up front instead of
    failing half-way when a read upgrades to a write. Before that they queue for a `WriterLock`:
    threads of this process in turn, processes by an advisory lock beside the file, so a writer
    waits for the transactions ahead of it rather than sleeping in SQLite's busy handler (which
    retries in steps of up to 100 ms: a lottery with a tail of seconds under contention).

    With `check_pages`, the first open also runs SQLite's `quick_check` over every page (about a
    second per GB; the server does it at start, the CLI does not). Once SQLite reports the file
    damaged (SQLITE_CORRUPT, SQLITE_NOTADB), at open or later, the store refuses every write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        check_pages: bool = False,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS_MODES:
            raise StorageError(f"Unknown synchronous mode {synchronous!r}; use one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        #: the file as messages name it (and its -wal / -shm siblings): always absolute
        self._where = Path(os.path.abspath(path))
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self.writers = WriterLock(self._sibling("-writer"), timeout=busy_timeout_ms / 1000, busy=self._busy)
        self._check_pages = check_pages
        #: why the file is known to be damaged (the message every later write is refused with)
        self._damage: str | None = None

    # -- units of work -------------------------------------------------------------------------

    def read(self) -> _Unit:
        """A read unit: one consistent snapshot (a deferred transaction)."""
        return _Unit(self, "BEGIN")

    def write(self) -> _Unit:
        """A write unit: one atomic transaction, after the writers ahead of it in the queue."""
        if self._damage is not None:
            # writing on into a damaged file spreads the damage and buries what `.recover` could save
            raise StorageCorrupt(self._damage)
        return _Unit(self, "BEGIN IMMEDIATE", self.writers)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. after SQLITE_FULL); nothing is left to undo

    # -- connections ---------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema migrated) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends) and the writer lock's file."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self.writers.close()

    def _open(self) -> sqlite3.Connection:
        self._check_folder()
        self._refuse_second_name()
        probe = None
        # before the first connection of this store: what SQLite cannot see, and a first look that
        # cannot write (see `_probe`)
        if not self._migrated and self._check_wal_files():
            probe = self._probe()
        try:
            return self._connect(check=probe is None)
        finally:
            if probe is not None:
                probe.close()

    def _connect(self, *, check: bool) -> sqlite3.Connection:
        def setup(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
            if not self._migrated:
                if check:
                    self._inspect(conn)
                self._migrate(conn)

        return self._new_connection(str(self.path), uri=False, setup=setup)

    def _new_connection(
        self, database: str, *, uri: bool, setup: Callable[[sqlite3.Connection], None]
    ) -> sqlite3.Connection:
        """A connection with the busy timeout set and `setup` done; closed again if anything fails."""
        try:
            conn = sqlite3.connect(
                database, uri=uri, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            setup(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._failure(exc) from exc
        except SparkQError:
            conn.close()
            raise
        return conn

    def _check_folder(self) -> None:
        # Never open() the database file itself here: closing any descriptor of the file drops
        # every POSIX lock this process holds on it, including those of live SQLite connections,
        # and another process may then delete the WAL under them (lost commits). SQLite itself
        # tells a file that is not a database (SQLITE_NOTADB) without writing to it.
        if not self._where.parent.is_dir():
            raise StorageError(
                f"The database folder {self._where.parent} does not exist; create it or set database.path in sparkq.yml"
            )

    def _refuse_second_name(self) -> None:
        """Refuse a database file with more than one name (hard links): each name gets its own WAL.

        SQLite names the `-wal` and `-shm` files after the name a program opened, so two names of
        one file are two logs that know nothing of each other: commits made through one are lost
        at the other's checkpoint, and a server locked through one name is not seen through the other.
        """
        try:
            names = os.stat(self._where).st_nlink
        except OSError:
            return  # not created yet, or SQLite will say what is wrong with it
        if names > 1:
            raise StorageError(
                f"The database {self._where} has {names} names (hard links). SQLite keeps a separate write-ahead "
                "log beside each name, so changes made through one name are lost through the other; SparkQ will "
                f"not open it. Stop every program using it, keep one name and delete the others (`find / -xdev "
                f"-samefile {self._where}` lists them); to reach it from another folder, use a symbolic link (ln -s)"
            )

    # -- damage that SQLite does not see, or would make worse -----------------------------------

    def _check_wal_files(self) -> bool:
        """Refuse what SQLite would silently get wrong about the `-wal` file; True if one is in use.

        A `-wal` gone while the `-shm` says it held commits: SQLite cannot tell, opens the main
        file as it is and drops what the lost WAL held. A clean close deletes `-shm` before
        `-wal`, and an opener creates `-wal` before `-shm`, so `-shm` without `-wal` means someone
        removed the WAL. Costs two stats when the WAL is there; only when it is not is the `-shm`
        (never the database file) read.
        """
        db, wal, shm = self._where, self._sibling("-wal"), self._sibling("-shm")
        try:
            wal_size = os.stat(wal).st_size
        except FileNotFoundError:
            self._refuse_lost_wal(db, wal, shm)
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

    def _refuse_lost_wal(self, db: Path, wal: Path, shm: Path) -> None:
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

    def _probe(self) -> sqlite3.Connection:
        """Take the first look at a file that has a WAL through a read-only connection.

        When a read-write connection closes as the last one, SQLite copies the WAL into the main
        file (a checkpoint) and deletes it: on a damaged file that would write into it. A read-only
        connection never checkpoints. It stays open until the read-write connection has made its
        first read, so that SQLite rebuilds the WAL index once, not twice. Without a WAL there is
        nothing a checkpoint could write, and the read-write connection takes the first look.
        """

        def look(probe: sqlite3.Connection) -> None:
            # one snapshot for the whole look: while it is open, no writer can restart the WAL
            probe.execute("BEGIN")
            self._inspect(probe, wal=True)
            probe.execute("COMMIT")

        return self._new_connection(self._where.as_uri() + "?mode=ro", uri=True, setup=look)

    def _inspect(self, conn: sqlite3.Connection, *, wal: bool = False) -> None:
        """The first read (where SQLite checks the header against the file), then what it does not check."""
        conn.execute("PRAGMA user_version").fetchall()
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        size = _size(self._where)
        problem = page_problem(size, page_size)
        if problem is None and wal:
            problem = self._pages_missing(conn, size, page_size)
        if problem is None and self._check_pages:
            problem = quick_check_problem(conn)
        if problem is not None:
            raise StorageCorrupt(
                f"The database {self._where} is damaged: {problem} (it was cut short, or written to by "
                f"something else). {self._damaged_advice()}"
            )

    def _pages_missing(self, conn: sqlite3.Connection, size: int, page_size: int) -> str | None:
        """With a WAL, SQLite checks the page count against the WAL, not the file: check the file.

        Pages past the end of the main file are fine when the WAL holds them (the database grew
        since the last checkpoint). A file whose own header agrees with its length needs nothing
        beyond it; only otherwise (a checkpoint under way, or a cut file) are the WAL's frame
        headers read to see whether it holds every page the file lacks.
        """
        needed = int(conn.execute("PRAGMA page_count").fetchone()[0])
        present = size // page_size
        if needed <= present or self._file_alone_is_whole():
            return None
        wanted = set(range(present + 1, needed + 1)) - {PENDING_BYTE // page_size + 1}
        missing = missing_wal_pages(self._sibling("-wal"), wanted)
        if not missing:
            return None
        return (
            f"it has {present} pages but needs {needed}, and {len(missing)} of the pages past its end "
            f"(from page {min(missing)}) are not in its write-ahead log {self._sibling('-wal')} either"
        )

    def _file_alone_is_whole(self) -> bool:
        """Whether SQLite, looking at the main file alone (ignoring the WAL), finds all its pages there.

        `immutable=1` reads the file without locks, WAL or `-shm`, and so never writes anything.
        """
        try:
            alone = sqlite3.connect(self._where.as_uri() + "?immutable=1", uri=True, isolation_level=None)
        except sqlite3.Error:
            return True  # cannot tell
        try:
            alone.execute("PRAGMA user_version").fetchall()
        except sqlite3.DatabaseError:
            return False
        finally:
            alone.close()
        return True

    def _damaged_advice(self) -> str:
        return (
            "SparkQ will not change it: restore it from a backup, or move it away to start with a new, empty "
            "database (keep the moved file: the sqlite3 shell's `.recover` may salvage rows from it)"
        )

    def _sibling(self, suffix: str) -> Path:
        return self._where.with_name(self._where.name + suffix)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._migrate_lock:
            if self._migrated:
                return
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._refuse_foreign(conn)
            if version > LATEST_VERSION:
                raise StorageError(
                    f"{self._where} was written by a newer SparkQ (schema {version}, this one knows {LATEST_VERSION}); "
                    "upgrade SparkQ to open it"
                )
            self._enable_wal(conn)
            if version < LATEST_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # another process may have migrated while we waited for the lock
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    for script in MIGRATIONS[version:]:
                        for statement in statements(script):
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
            self._migrated = True

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode, waiting up to the busy timeout for the lock it needs.

        The switch takes an exclusive lock, and when processes open a new file at the same moment
        SQLite reports the clash at once (SQLITE_BUSY without calling the busy handler), so retry here.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_BUSY")
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """A database of another program (tables, none of ours) is left alone."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not tables & OWN_TABLES:
            shown = ", ".join(sorted(tables)[:5])
            raise StorageCorrupt(
                f"{self._where} is the SQLite database of another program (tables: {shown}). SparkQ will not "
                "change it: point database.path in sparkq.yml at another file"
            )

    def integrity_check(self) -> str:
        """Return SQLite's verdict on the file: `ok` or the problems found."""
        with self.read() as _:
            rows = self.connection().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def _busy(self) -> StorageBusy:
        return StorageBusy(
            f"The database {self._where} is locked by another process (waited {self._busy_timeout_ms} ms); "
            "try again in a moment. If it stays locked, a program holds a long write transaction on it: "
            "end that program, or raise database.busy_timeout_ms in sparkq.yml"
        )

    def _failure(self, exc: sqlite3.Error) -> StorageError:
        """`exc` as a storage error; a damaged file is remembered, so that no later write goes into it."""
        error = self._translate(exc)
        if isinstance(error, StorageCorrupt):
            self._damage = error.message
        return error

    def _translate(self, exc: sqlite3.Error) -> StorageError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        db = self._where
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return self._busy()
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            return StorageFull(self._full_message())
        if name.startswith("SQLITE_NOTADB") or "not a database" in text:
            return StorageCorrupt(
                f"{db} is not a SQLite database. SparkQ will not overwrite it: move it away, or point "
                "database.path in sparkq.yml at another file (if it was SparkQ's database, its first page is "
                "damaged: restore it from a backup)"
            )
        if name.startswith("SQLITE_CORRUPT") or "disk image is malformed" in text:
            return StorageCorrupt(f"The database {db} is damaged ({text}). {self._damaged_advice()}")
        if name.startswith("SQLITE_IOERR"):
            return self._io_error(name)
        if name.startswith("SQLITE_READONLY"):
            return StorageError(f"The database {db} is read-only; check its permissions and those of its folder")
        if name.startswith("SQLITE_CANTOPEN"):
            return StorageError(f"Cannot open the database {db}; check that its folder exists and is writable")
        return StorageError(
            f"Database error on {db}: {text}{f' ({name})' if name else ''}. If it persists, check the file "
            f"with `sqlite3 {db} 'PRAGMA integrity_check'`"
        )

    def _full_message(self) -> str:
        limit = file_size_limit()
        if limit is None:
            return f"The disk holding {self._where} is full; nothing was written. Free some space and try again"
        return (
            f"The disk holding {self._where} is full, or the database reached this process's file-size limit "
            f"({limit} bytes, `ulimit -f`); nothing was written. Free some space or raise the limit, and try again"
        )

    def _io_error(self, name: str) -> StorageError:
        """A failed read or write: name the likely cause, since SQLite's "disk I/O error" does not."""
        db = self._where
        limit = file_size_limit() if name in _GROWTH_ERRORS else None
        if limit is not None:
            # EFBIG: SQLite reports SQLITE_FULL only for ENOSPC or a short write
            return StorageFull(
                f"Cannot write to the database {db}: its files would grow past this process's file-size "
                f"limit ({limit} bytes, `ulimit -f`); nothing was written. Raise the limit (`ulimit -f "
                "unlimited` in the shell that starts SparkQ) and try again"
            )
        if free_bytes(db.parent) == 0:
            return StorageFull(self._full_message())
        return StorageError(
            f"Disk I/O error on the database {db} ({name}). Check that its disk is not full, over quota or "
            f"failing (`df -h {db.parent}`, the system log), then try again"
        )


#: SQLite's extended codes for a write or size change that failed (where EFBIG ends up)
_GROWTH_ERRORS = frozenset({"SQLITE_IOERR_WRITE", "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"})


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


def quick_check_problem(conn: sqlite3.Connection) -> str | None:
    """What SQLite's `quick_check` finds wrong with the pages of the file, if anything.

    It reads every page (about a second per GB) and checks each b-tree's structure, but not that
    indexes agree with their tables (`integrity_check`, several times slower). Damage it trips
    over raises SQLITE_CORRUPT instead of being listed.
    """
    rows = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_PROBLEMS})").fetchall()
    lines = [line for row in rows for line in str(row[0]).splitlines() if line and not line.startswith("***")]
    if lines == ["ok"]:
        return None
    return "SQLite's quick_check found " + "; ".join(lines[:QUICK_CHECK_PROBLEMS])


def page_problem(size: int, page_size: int) -> str | None:
    """What is wrong with a database file of `size` bytes and `page_size`-byte pages, if anything.

    SQLite writes whole pages, so any other size means the file was cut short or appended to.
    (SQLite itself refuses a file shorter than the page count in its header.)
    """
    if page_size <= 0 or size % page_size == 0:
        return None
    return f"it is {size} bytes long, not a whole number of its {page_size}-byte pages"


def file_size_limit() -> int | None:
    """This process's file-size limit (`ulimit -f`) in bytes, or None when there is none."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def free_bytes(folder: Path) -> int | None:
    """Bytes free for this user on the file system holding `folder` (None if unknown)."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return int(stats.f_bavail * stats.f_frsize)


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


class _Unit:
    """One transaction on this thread's connection: BEGIN on enter; COMMIT, or ROLLBACK on an exception.

    A write unit holds the store's `WriterLock` from before BEGIN until after COMMIT or ROLLBACK.
    A plain class rather than a generator context manager: every queue operation opens one, so it is
    on the hot path.
    """

    __slots__ = ("_begin", "_conn", "_store", "_writers")

    def __init__(self, store: SqliteStore, begin: str, writers: WriterLock | None = None) -> None:
        self._store = store
        self._begin = begin
        self._writers = writers

    def __enter__(self) -> SqliteRepository:
        conn = self._conn = self._store.connection()
        writers = self._writers
        if writers is not None:
            writers.acquire()
        try:
            conn.execute(self._begin)
        except BaseException as exc:
            if writers is not None:
                writers.release()
            if isinstance(exc, sqlite3.Error):
                raise self._store._failure(exc) from exc
            raise
        return SqliteRepository(conn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._end(exc)
        finally:
            if self._writers is not None:
                self._writers.release()

    def _end(self, exc: BaseException | None) -> None:
        conn = self._conn
        if exc is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._store._rollback(conn)
                raise self._store._failure(error) from error
            return
        self._store._rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise self._store._failure(exc) from exc
        if isinstance(exc, UnicodeEncodeError):
            # text with lone surrogates (e.g. undecodable command-line bytes) cannot be stored
            raise InvalidInput(
                "The text contains characters that are not valid Unicode (lone surrogates); send UTF-8 text"
            ) from exc
