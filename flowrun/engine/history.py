"""The run history (SPEC §10): every run and its steps in ``.flowrun/history.db``, and the file stat cache.

The scheduler opens it once per run, asks what the cache and the ordering need,
and records the run at the end in one transaction. It never fails a run: every
SQLite problem becomes one ``warn(...)`` line and an answer of "nothing known".
Values reach it masked; it writes only what it is given.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence

from flowrun.engine.history_rows import (
    OK_STATUSES,
    STEP_COLUMNS,
    FileStat,
    OutputFile,
    PastRun,
    PastStep,
    RunRow,
    StepRow,
    chunks,
    median_of_recent,
    merge_recent,
    past_run,
    past_step,
    run_values,
    step_values,
)
from flowrun.engine.history_schema import (
    BUSY_TIMEOUT,
    Damaged,
    NewerSchema,
    connect,
    create_private,
    history_path,
    is_damage,
    move_aside,
    retry_busy,
)
from flowrun.engine.statblob import SourceSet, decode, encode

__all__ = [
    "DEFAULT_KEEP_HISTORY",
    "FileStat",
    "History",
    "OutputFile",
    "PastRun",
    "PastStep",
    "RunRow",
    "StepRow",
]

#: runs kept in the history (FLOWRUN_KEEP_HISTORY overrides)
DEFAULT_KEEP_HISTORY = 1000
#: connections ``History.leave_open`` left open
_LEFT_OPEN: list[sqlite3.Connection] = []

_COLUMNS = ", ".join(STEP_COLUMNS)
_S_COLUMNS = ", ".join(f"s.{c}" for c in STEP_COLUMNS)
_PLACES = ", ".join("?" * len(STEP_COLUMNS))
#: the newest ok row wins (two runs may record out of order); ``recent`` comes merged, None: unchanged
_UPSERT_STATS = (
    "INSERT INTO step_stats (name, ok_run, ok_started, recent, seen, expected) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET"
    " ok_run = CASE WHEN excluded.ok_started >= coalesce(ok_started, -1e308) THEN excluded.ok_run ELSE ok_run END,"
    " ok_started = CASE WHEN excluded.ok_started >= coalesce(ok_started, -1e308) THEN excluded.ok_started"
    " ELSE ok_started END,"
    " recent = coalesce(excluded.recent, recent), expected = coalesce(excluded.expected, expected),"
    " seen = max(seen, excluded.seen)"
)
#: an unchanged entry is not written again (its ``recorded`` stays, so pruning may drop it: one more hash)
_UPSERT_FILE = (
    "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET size = excluded.size,"
    " mtime_ns = excluded.mtime_ns, ino = excluded.ino, digest = excluded.digest, recorded = excluded.recorded"
    " WHERE (size, mtime_ns, ino, digest) IS NOT (excluded.size, excluded.mtime_ns, excluded.ino, excluded.digest)"
)


class History:
    """One connection to a folder's history; use it from one thread at a time."""

    def __init__(self, conn: sqlite3.Connection, path: str, warn: Callable[[str], None],
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._warn = warn
        self._timeout = busy_timeout
        self._read_failed = False  # after one failed read, every answer is "nothing known" (one warning)
        self._damaged = False  # damage seen while in use: the file goes aside at close

    @classmethod
    def open(cls, base_dir: str, warn: Callable[[str], None], *, busy_timeout: float = BUSY_TIMEOUT) -> History | None:
        """The history beside a workflow, created if missing; None (after one warning) if it cannot be used.

        A damaged file is renamed to ``history.db.damaged-<timestamp>`` (the warning
        names it) and a fresh one is made.
        """
        path = history_path(base_dir)
        for first in (True, False):
            try:
                create_private(path)
                return cls(connect(path, busy_timeout), path, warn, busy_timeout)
            except NewerSchema as exc:
                warn(f"history: {path} was written by a newer flowrun ({exc}); left as it is, "
                     "nothing is cached or recorded this run")
                return None
            except (sqlite3.Error, OSError, Damaged) as exc:
                if not (first and is_damage(exc)):
                    warn(f"history: cannot use {path}: {_reason(exc)}; nothing is cached or recorded this run")
                    return None
                try:
                    aside = move_aside(path)
                except OSError as move_error:
                    warn(f"history: {path} is damaged ({_reason(exc)}) and cannot be moved aside: "
                         f"{_reason(move_error)}; nothing is cached or recorded this run")
                    return None
                warn(f"history: {path} was damaged ({_reason(exc)}); moved it to {aside} and started a new one")
        return None  # pragma: no cover (the second pass returns)

    def last_success(self, step: str) -> PastStep | None:
        """The newest row of ``step`` that ended ``success`` or ``cached``."""
        rows = self._query(f"SELECT {_S_COLUMNS} FROM step_stats t JOIN steps s ON s.run_id = t.ok_run"
                           " AND s.name = t.name WHERE t.name = ?", (step,))
        if rows and rows[0][2] in OK_STATUSES:
            return past_step(rows[0])
        if rows:  # that run was recorded again since, with another status: look through the runs
            rows = self._query(f"SELECT {_S_COLUMNS} FROM runs JOIN steps s ON s.run_id = runs.id AND s.name = ?"
                               " WHERE s.status IN ('success', 'cached') ORDER BY s.started DESC LIMIT 1", (step,))
            return past_step(rows[0]) if rows else None
        return None

    def last_run(self, workflow: str | None = None) -> PastRun | None:
        """The newest run (by start), with its steps' statuses; only ``workflow``'s runs if given."""
        where = "" if workflow is None else " WHERE workflow = ?"
        runs = self._query("SELECT id, started, ended, exit_code, targets, params, file_hash, workflow FROM runs"
                           f"{where} ORDER BY started DESC, id DESC LIMIT 1", () if workflow is None else (workflow,))
        if not runs:
            return None
        steps = self._query("SELECT name, status FROM steps WHERE run_id = ?", (runs[0][0],))
        return None if steps is None else past_run(runs[0], steps)

    def durations(self) -> dict[str, float]:
        """Expected duration per step: the median of its last five ``success`` durations."""
        return dict(self._query("SELECT name, expected FROM step_stats WHERE expected IS NOT NULL") or ())  # type: ignore[arg-type]

    def source_set(self, step: str) -> SourceSet | None:
        """The stat cache of ``step``'s sources as its last check left it (None: none)."""
        rows = self._query("SELECT entries FROM source_sets WHERE step = ?", (step,))
        return decode(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def file_stats(self, paths: Iterable[str]) -> dict[str, FileStat]:
        """The stat cache's entries for ``paths`` (those it has): path → (size, mtime_ns, ino, digest)."""
        found: dict[str, FileStat] = {}
        for chunk in chunks(list(dict.fromkeys(paths))):
            rows = self._query(f"SELECT path, size, mtime_ns, ino, digest FROM files WHERE path IN ({_marks(chunk)})",
                               chunk)
            if rows is None:
                return {}
            found.update((path, (size, mtime_ns, ino, digest)) for path, size, mtime_ns, ino, digest in rows)
        return found

    def record(self, run: RunRow, steps: list[StepRow], files: dict[str, FileStat],
               source_sets: Mapping[str, tuple[Mapping[str, FileStat], str | None]] | None = None) -> None:
        """Record ``run``, its steps, the stat cache's new entries and the source sets that changed in one
        transaction, then prune.

        Never raises: an SQLite problem is one warning. Recording a run id again replaces it.
        """
        if self._conn is None:
            return
        keep = _keep_history(self._warn)
        try:
            run_row = run_values(run)
            step_rows = [step_values(run.id, s) for s in steps]
        except (TypeError, ValueError) as exc:  # a caller's bug, but still no reason to fail the run
            self._warn(f"history: cannot record the run in {self.path}: {exc}")
            return
        file_rows = [(path, *stat, run.started) for path, stat in files.items()]  # the runs' clock, for pruning
        set_rows = [(step, encode(*entry), run.started) for step, entry in (source_sets or {}).items()]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", run_row)
            conn.execute("DELETE FROM steps WHERE run_id = ?", (run.id,))
            conn.executemany(f"INSERT INTO steps ({_COLUMNS}) VALUES ({_PLACES})", step_rows)
            conn.executemany(_UPSERT_STATS, _stats_rows(conn, run, steps))
            conn.executemany(_UPSERT_FILE, file_rows)
            conn.executemany("INSERT OR REPLACE INTO source_sets VALUES (?, ?, ?)", set_rows)

        try:
            self._transaction(write)
        except sqlite3.Error as exc:
            self._failed("record the run in", exc)
            return
        try:
            self._prune(keep)
        except sqlite3.Error as exc:
            self._failed("prune", exc)

    def close(self) -> None:
        """Close the connection; a file found damaged while in use is moved aside now."""
        if self._conn is None:
            return
        try:
            self._conn.close()
        except sqlite3.Error as exc:
            self._failed("close", exc)
        self._conn = None
        if self._damaged:
            try:
                aside = move_aside(self.path)
            except OSError as exc:
                self._warn(f"history: {self.path} is damaged and cannot be moved aside: {_reason(exc)}")
            else:
                self._warn(f"history: {self.path} was damaged; moved it to {aside} (the next run starts a new one)")

    def leave_open(self) -> None:
        """End this History without closing its connection, in a process about to ``os._exit``.

        Closing the last connection makes SQLite checkpoint the WAL into the file, two
        fsyncs (5 ms, 20 on a busy disk) at every run. Left open, the WAL keeps the run,
        as after a crash: the next connection reads it, and SQLite checkpoints it once it
        has grown (1000 pages). A damaged file is closed and moved aside as by ``close``.
        """
        if self._conn is None or self._damaged:
            self.close()
            return
        _LEFT_OPEN.append(self._conn)  # referenced until the process ends: the GC does not close it
        self._conn = None

    def _failed(self, doing: str, exc: BaseException) -> None:
        self._damaged = self._damaged or is_damage(exc)
        self._warn(f"history: cannot {doing} {self.path}: {_reason(exc)}")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]] | None:
        """Rows, or None after a failure (warned once per History)."""
        if self._conn is None or self._read_failed:
            return None
        conn = self._conn
        try:
            return retry_busy(lambda: conn.execute(sql, args).fetchall(), self._timeout)
        except sqlite3.Error as exc:
            self._read_failed = True
            self._failed("read", exc)
            return None

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """``work`` in one write transaction (tried again whole while the file is busy)."""
        assert self._conn is not None
        conn = self._conn

        def attempt() -> None:
            conn.execute("BEGIN IMMEDIATE")  # the write lock first, waited for with the busy timeout
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        retry_busy(attempt, self._timeout)

    def _prune(self, keep: int) -> None:
        """Keep the newest ``keep`` runs (by start), and what only the older runs had seen goes too."""
        assert self._conn is not None
        oldest = self._conn.execute("SELECT started, id FROM runs ORDER BY started DESC, id DESC LIMIT 1 OFFSET ?",
                                    (keep - 1,)).fetchone()
        older = "SELECT id FROM runs WHERE started < ? OR (started = ? AND id < ?)"
        if oldest is None or self._conn.execute(older + " LIMIT 1", (oldest[0], *oldest)).fetchone() is None:
            return
        args = (oldest[0], *oldest)

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute(f"DELETE FROM steps WHERE run_id IN ({older})", args)
            conn.execute(f"DELETE FROM runs WHERE id IN ({older})", args)
            conn.execute("DELETE FROM step_stats WHERE seen < ?", (oldest[0],))
            conn.execute("DELETE FROM files WHERE recorded < ?", (oldest[0],))
            conn.execute("DELETE FROM source_sets WHERE recorded < ?", (oldest[0],))

        self._transaction(delete)


def _stats_rows(conn: sqlite3.Connection, run: RunRow, steps: list[StepRow]) -> list[tuple[object, ...]]:
    """``step_stats`` rows for a run's steps, ``recent`` merged with what is recorded (inside the transaction)."""
    timed = [s.name for s in steps if s.status == "success" and isinstance(s.duration, (int, float))]
    recorded: dict[str, str | None] = {}
    for chunk in chunks(timed):
        recorded.update(conn.execute(f"SELECT name, recent FROM step_stats WHERE name IN ({_marks(chunk)})", chunk))
    rows: list[tuple[object, ...]] = []
    for s in steps:
        started = run.started if s.started is None else s.started
        ok = s.status in OK_STATUSES
        recent = None
        if s.status == "success" and isinstance(s.duration, (int, float)):
            recent = merge_recent(recorded.get(s.name), started, float(s.duration))
        rows.append((s.name, run.id if ok else None, started if ok else None, recent, run.started,
                     median_of_recent(recent)))
    return rows


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _keep_history(warn: Callable[[str], None]) -> int:
    text = os.environ.get("FLOWRUN_KEEP_HISTORY", "").strip()
    if not text:
        return DEFAULT_KEEP_HISTORY
    try:
        keep = int(text)
    except ValueError:
        keep = 0
    if keep < 1:
        warn(f"history: FLOWRUN_KEEP_HISTORY={text!r} is not a whole number of at least 1; "
             f"keeping the last {DEFAULT_KEEP_HISTORY} runs")
        return DEFAULT_KEEP_HISTORY
    return keep
