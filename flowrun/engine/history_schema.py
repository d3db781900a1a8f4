"""The run history's SQLite file: where it is, how it is opened, its schema and migrations.

``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[n]`` takes a file
from version ``n`` to ``n + 1`` (version 0 is an empty file), so a later flowrun
appends a step and never edits one. A file of a version this flowrun does not
know (a newer flowrun wrote it) is left alone: ``NewerSchema``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable

from flowrun.engine.history_rows import median_of_recent

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import TypeVar

    _T = TypeVar("_T")

__all__ = [
    "BUSY_TIMEOUT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Damaged",
    "NewerSchema",
    "connect",
    "create_private",
    "history_path",
    "is_damage",
    "move_aside",
    "retry_busy",
]


#: seconds a writer waits for another flowrun's transaction (each one lasts milliseconds)
BUSY_TIMEOUT = 30.0

#: SQL statements taking the file from version ``n`` (the index) to ``n + 1``
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started REAL NOT NULL,
            ended REAL,
            exit_code INTEGER,
            targets TEXT NOT NULL,      -- JSON list of the step names asked for ([]: all)
            params TEXT NOT NULL,       -- JSON object, secrets masked
            file_hash TEXT,
            workflow TEXT               -- the workflow file's name in its folder
        )""",
        "CREATE INDEX runs_by_start ON runs (started, id)",
        """CREATE TABLE steps (
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            exit_code INTEGER,
            attempts INTEGER NOT NULL,
            started REAL,
            duration REAL,
            fingerprint TEXT,
            result TEXT,
            outputs TEXT NOT NULL,      -- JSON object, secrets masked
            output_files TEXT NOT NULL, -- JSON list of [path, size, mtime_ns, ino, digest]
            PRIMARY KEY (run_id, name)  -- one step across runs: one seek per run
        )""",
        # What a run asks per step, kept up to date by each record. Not an index on
        # steps (name, ...): that would put each run's rows on as many pages as it
        # has steps (4x the cost of a record, +25% file size at 1000 steps).
        """CREATE TABLE step_stats (
            name TEXT PRIMARY KEY,
            ok_run TEXT,                -- the run of its newest success or cached row
            ok_started REAL,
            recent TEXT,                -- 'START:DURATION ...': its newest 5 successes (NULL: none yet)
            seen REAL NOT NULL          -- start of the newest run that recorded it
        )""",
        """CREATE TABLE files (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ino INTEGER NOT NULL,
            digest TEXT NOT NULL,
            recorded REAL NOT NULL      -- start of the run that last changed it: pruned with the runs
        )""",
        "CREATE INDEX files_by_recorded ON files (recorded)",
    ),
    (  # 2: a step's source stat cache as one blob; the expected duration kept, not computed at each start
        """CREATE TABLE source_sets (
            step TEXT PRIMARY KEY,
            entries BLOB NOT NULL,      -- statblob.encode: path -> size, mtime_ns, inode, digest
            recorded REAL NOT NULL      -- start of the run that wrote it: pruned with the runs
        ) WITHOUT ROWID""",
        "CREATE INDEX source_sets_by_recorded ON source_sets (recorded)",
        "ALTER TABLE step_stats ADD COLUMN expected REAL",  # the median of recent
        "UPDATE step_stats SET expected = flowrun_median(recent) WHERE recent IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_TABLES = {"runs", "steps", "step_stats", "files", "source_sets"}
_HEADER = b"SQLite format 3\x00"
_BUSY, _LOCKED, _CORRUPT, _NOTADB = 5, 6, 11, 26  # SQLite's primary result codes


class Damaged(Exception):
    """The file is not a readable flowrun history (garbage, a foreign database, corrupt pages)."""


class NewerSchema(Exception):
    """The file has a schema version this flowrun does not know."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(f"schema version {version}, this flowrun knows up to {SCHEMA_VERSION}")


def history_path(base_dir: str) -> str:
    """``.flowrun/history.db`` beside the workflow file."""
    return os.path.join(base_dir, ".flowrun", "history.db")


def is_damage(exc: BaseException) -> bool:
    """Does this sqlite3 error say the file itself is damaged (rather than locked or unwritable)?"""
    if isinstance(exc, Damaged):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in (_CORRUPT, _NOTADB)


def retry_busy(action: Callable[[], _T], timeout: float) -> _T:
    """``action()``, tried again while SQLite says the file is busy, for up to ``timeout`` seconds.

    The busy timeout covers most waits, not all: ``PRAGMA journal_mode`` on a file
    whose last other connection is closing (checkpointing and deleting the
    ``-wal``) fails at once with "database is locked" (seen with two flowruns
    starting and ending together). Such an answer is retried here, after a short
    sleep that grows to 50 ms.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is None or code & 0xFF not in (_BUSY, _LOCKED) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def create_private(path: str) -> None:
    """Make the folder (0700) and the file (0600) if missing; raise ``Damaged`` for a file that is not SQLite.

    SQLite creates ``-wal`` and ``-shm`` with the main file's mode, so they are 0600 too.
    """
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with contextlib.suppress(OSError):  # a file of another user: SQLite says whether it can write it
            os.fchmod(fd, 0o600)
        header = os.read(fd, len(_HEADER))
    finally:
        os.close(fd)
    if header and header != _HEADER:  # an empty file is a new database
        raise Damaged("not an SQLite file")


def connect(path: str, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open ``path`` (which exists) in WAL mode and bring its schema to ``SCHEMA_VERSION``.

    Raises ``NewerSchema``, ``Damaged``, or the ``sqlite3.Error`` that stopped it.
    Autocommit mode: every write says ``BEGIN IMMEDIATE`` itself, so a writer takes
    the lock before it reads and waits for it with the busy timeout (a deferred
    transaction that upgrades could fail at once with "database is locked").
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.create_function("flowrun_median", 1, median_of_recent, deterministic=True)  # for migration 2
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")  # before anything takes a lock
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: no fsync per commit, never corrupt
        retry_busy(lambda: _prepare(conn), busy_timeout)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer; the mode stays in the file
    _migrate(conn)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not _TABLES <= tables:
        raise Damaged("tables missing: " + ", ".join(sorted(_TABLES - tables)))
    conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()  # a first query: a bad page shows here


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection) -> None:
    version = _version(conn)
    if version > SCHEMA_VERSION:
        raise NewerSchema(version)
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)  # again under the write lock: another flowrun may have just migrated
        if version > SCHEMA_VERSION:
            raise NewerSchema(version)
        if version == 0 and conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            raise Damaged("a database that is not a flowrun history")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def move_aside(path: str) -> str:
    """Rename a damaged ``path`` (and its ``-wal``) to ``PATH.damaged-<timestamp>``; returns the new name.

    The ``-wal`` goes along, or SQLite would replay it into the fresh file; the
    ``-shm`` is only an index of the ``-wal`` and is deleted.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target, n = f"{path}.damaged-{stamp}", 1
    while os.path.lexists(target):
        n += 1
        target = f"{path}.damaged-{stamp}-{n}"
    os.rename(path, target)
    with contextlib.suppress(FileNotFoundError):
        os.rename(path + "-wal", target + "-wal")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path + "-shm")
    return target
