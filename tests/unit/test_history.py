"""The run history (SPEC §10) through its API, on real SQLite files: schema, round trips, pruning,
locks, damaged and unwritable files, secrets, and the flaky rule.

Two writer processes at once and the 1000 x 1000 history are in tests/integration/test_history_cli.py.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from flowrun.engine.history import History, PastRun, PastStep, RunRow, StepRow
from flowrun.engine.history_query import StepInRun, flaky, flaky_evidence
from flowrun.engine.history_schema import MIGRATIONS, SCHEMA_VERSION

T0 = 1_700_000_000.0


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def db_path(base: Path) -> Path:
    return base / ".flowrun" / "history.db"


def open_history(base: Path, warnings: Warnings | None = None, **options: float) -> History:
    history = History.open(str(base), warnings if warnings is not None else Warnings(), **options)
    assert history is not None
    return history


def run_row(n: int, **fields: object) -> RunRow:
    values: dict[str, object] = {"id": f"run-{n:04d}", "started": T0 + 100 * n, "ended": T0 + 100 * n + 10,
                                 "exit_code": 0, "workflow": "flowrun.yaml"}
    values.update(fields)
    return RunRow(**values)  # type: ignore[arg-type]


def step_row(name: str, status: str = "success", **fields: object) -> StepRow:
    return StepRow(name, status, **fields)  # type: ignore[arg-type]


def sql(base: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path(base))
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


# --- the file --------------------------------------------------------------------------------------------------


def test_a_new_history_has_the_schema_wal_and_private_modes(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    history.record(run_row(1), [step_row("a", started=T0, duration=1.0)], {"src/a.py": (1, 2, 3, "d")})
    path = db_path(tmp_path)
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    history.close()
    assert sql(tmp_path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(tmp_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in sql(tmp_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "steps", "files", "step_stats"} <= tables
    columns = {row[1] for row in sql(tmp_path, "PRAGMA table_info(steps)")}
    assert columns == {"run_id", "name", "status", "exit_code", "attempts", "started", "duration", "fingerprint",
                       "result", "outputs", "output_files"}


def test_an_empty_file_is_migrated_from_version_zero(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"")
    warnings = Warnings()
    open_history(tmp_path, warnings).close()
    assert warnings == []
    assert SCHEMA_VERSION == len(MIGRATIONS) == 2
    assert sql(tmp_path, "PRAGMA user_version") == [(2,)]
    indexes = {name for (name,) in sql(tmp_path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"runs_by_start", "files_by_recorded", "source_sets_by_recorded"} <= indexes
    open_history(tmp_path, warnings).close()  # opening again migrates nothing
    assert warnings == []


def test_a_version_1_file_is_migrated_and_keeps_what_it_knew(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:  # the file as the first flowrun with a history left it
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO step_stats VALUES ('a', NULL, NULL, ?, ?)", (f"{T0 + 2}:3.0 {T0 + 1}:1.0 {T0}:8.0", T0))
    conn.execute("INSERT INTO step_stats VALUES ('never-ok', NULL, NULL, NULL, ?)", (T0,))
    conn.commit()
    conn.close()
    history = open_history(tmp_path)
    assert history.durations() == {"a": 3.0}  # the median of 3, 1, 8, filled in by the migration
    assert history.source_set("a") is None
    history.record(run_row(5), [step_row("a", started=T0 + 500, duration=2.0)], {}, {"a": ({}, None)})
    assert history.durations() == {"a": 2.5}  # 2, 3, 1, 8
    assert history.source_set("a") is not None
    history.close()
    assert sql(tmp_path, "PRAGMA user_version") == [(2,)]


def test_a_newer_schema_is_left_alone_and_not_used(tmp_path: Path) -> None:
    open_history(tmp_path).close()
    conn = sqlite3.connect(db_path(tmp_path))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    warnings = Warnings()
    assert History.open(str(tmp_path), warnings) is None
    assert len(warnings) == 1 and "newer flowrun" in warnings[0]
    assert sorted(p.name for p in db_path(tmp_path).parent.iterdir()) == ["history.db"]  # not moved aside


# --- round trips -----------------------------------------------------------------------------------------------


def test_a_recorded_run_reads_back(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    build = step_row("build", exit_code=0, attempts=2, started=T0 + 101, duration=2.5, fingerprint="fp-build",
                     result="r-build", outputs={"version": "1.2", "note": "é ✓"},
                     output_files=[("dist/a.whl", 10, 123456789, 42, "sha-a")])
    steps = [build, step_row("test", "failed", exit_code=3, attempts=1, started=T0 + 104, duration=1.0),
             step_row("deploy", "skipped")]
    history.record(run_row(1, targets=["deploy"], params={"env": "prod", "token": "***"}, file_hash="h1"), steps, {})
    history.close()

    history = open_history(tmp_path)
    assert history.last_success("build") == PastStep(
        "run-0001", "build", "success", 0, 2, T0 + 101, 2.5, "fp-build", "r-build", {"version": "1.2", "note": "é ✓"},
        (("dist/a.whl", 10, 123456789, 42, "sha-a"),))
    assert history.last_success("test") is None
    assert history.last_success("deploy") is None
    assert history.last_success("never") is None
    assert history.last_run() == PastRun("run-0001", T0 + 100, T0 + 110, 0, ("deploy",),
                                         {"env": "prod", "token": "***"}, "h1", "flowrun.yaml",
                                         {"build": "success", "test": "failed", "deploy": "skipped"})
    history.close()


def test_last_success_is_the_newest_success_or_cached_row_whatever_the_recording_order(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    assert history.last_run() is None
    history.record(run_row(3), [step_row("a", "cached", started=T0 + 300, fingerprint="f3")], {})
    history.record(run_row(1), [step_row("a", started=T0 + 100, duration=1.0, fingerprint="f1")], {})
    history.record(run_row(4), [step_row("a", "failed", started=T0 + 400, duration=1.0, fingerprint="f4")], {})
    history.record(run_row(2), [step_row("a", started=T0 + 200, duration=1.0, fingerprint="f2")], {})
    newest = history.last_success("a")
    assert newest is not None and (newest.run_id, newest.status, newest.fingerprint) == ("run-0003", "cached", "f3")
    last = history.last_run()
    assert last is not None and last.id == "run-0004" and last.steps == {"a": "failed"}
    history.record(run_row(0, workflow="ci.yaml"), [step_row("a")], {})  # another file in the folder, long ago
    last = history.last_run("ci.yaml")
    assert last is not None and last.id == "run-0000" and history.last_run("other.yaml") is None
    # a run recorded again replaces the first record, and the newest success is looked for among the rest
    history.record(run_row(3), [step_row("a", "failed", started=T0 + 300, fingerprint="f3")], {})
    newest = history.last_success("a")
    assert newest is not None and newest.run_id == "run-0002"
    history.close()


def test_durations_are_the_median_of_the_last_five_successes(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    assert history.durations() == {}
    samples = [9.0, 1.0, 2.0, 100.0, 3.0, 4.0, 5.0]  # the first two fall out of the last five
    order = [3, 0, 6, 1, 5, 2, 4]  # recorded out of order, as two runs at once may
    for n in order:
        history.record(run_row(n), [step_row("a", started=T0 + 100 * n, duration=samples[n]),
                                    step_row("b", "failed", started=T0 + 100 * n, duration=50.0)], {})
    history.record(run_row(7), [step_row("a", "failed", started=T0 + 700, duration=999.0),
                                step_row("a2", "cached", started=T0 + 700, duration=0.0)], {})
    history.record(run_row(6), [step_row("a", started=T0 + 600, duration=5.0)], {})  # again: counted once
    assert history.durations() == {"a": 4.0}  # median of 2, 100, 3, 4, 5
    history.record(run_row(8), [step_row("c", duration=2.0), step_row("d", duration=1.0)], {})  # started from the run
    history.record(run_row(9), [step_row("d", duration=3.0)], {})
    assert history.durations() == {"a": 4.0, "c": 2.0, "d": 2.0}
    history.close()


def test_file_stats_answer_for_the_paths_asked(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    assert history.file_stats([]) == {}
    files = {f"src/m{i}.py": (i, 1_000_000_000 + i, 7000 + i, f"d{i}") for i in range(1200)}  # more than one IN (...)
    history.record(run_row(1), [], files)
    wanted = [f"src/m{i}.py" for i in range(0, 1200, 2)] + ["src/none.py", "src/m0.py"]
    assert history.file_stats(iter(wanted)) == {p: files[p] for p in wanted if p in files}
    history.record(run_row(2), [], {"src/m0.py": (5, 6, 7, "new")})
    assert history.file_stats(["src/m0.py", "src/m1.py"]) == {"src/m0.py": (5, 6, 7, "new"),
                                                               "src/m1.py": files["src/m1.py"]}
    history.close()


# --- pruning ---------------------------------------------------------------------------------------------------


def test_pruned_to_flowrun_keep_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWRUN_KEEP_HISTORY", "3")
    warnings = Warnings()
    history = open_history(tmp_path, warnings)
    for n in range(1, 6):
        steps = [step_row("every", duration=1.0), step_row(f"only-{n}", duration=1.0)]
        history.record(run_row(n), steps, {f"file-{n}": (n, n, n, "d")})
    assert warnings == []
    assert sql(tmp_path, "SELECT id FROM runs ORDER BY id") == [("run-0003",), ("run-0004",), ("run-0005",)]
    assert sql(tmp_path, "SELECT DISTINCT run_id FROM steps ORDER BY run_id") == [("run-0003",), ("run-0004",),
                                                                                  ("run-0005",)]
    assert set(history.durations()) == {"every", "only-3", "only-4", "only-5"}
    assert history.last_success("only-1") is None
    assert set(history.file_stats([f"file-{n}" for n in range(1, 6)])) == {"file-3", "file-4", "file-5"}
    history.close()


@pytest.mark.parametrize("value", ["many", "0", "-4", "1.5"])
def test_a_bad_keep_history_value_is_a_warning_and_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                value: str) -> None:
    monkeypatch.setenv("FLOWRUN_KEEP_HISTORY", value)
    warnings = Warnings()
    history = open_history(tmp_path, warnings)
    for n in range(3):
        history.record(run_row(n), [step_row("a")], {})
    history.close()
    assert len(sql(tmp_path, "SELECT id FROM runs")) == 3
    assert len(warnings) == 3 and all("FLOWRUN_KEEP_HISTORY" in w and "1000" in w for w in warnings)


# --- locks ------------------------------------------------------------------------------------------------------


def test_a_lock_held_too_long_is_a_warning_never_an_exception(tmp_path: Path) -> None:
    warnings = Warnings()
    history = open_history(tmp_path, warnings, busy_timeout=0.2)
    other = sqlite3.connect(db_path(tmp_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    history.record(run_row(1), [step_row("a")], {})
    assert len(warnings) == 1 and "locked" in warnings[0]
    other.execute("ROLLBACK")
    other.close()
    history.record(run_row(2), [step_row("a")], {})
    assert len(warnings) == 1
    last = history.last_run()
    assert last is not None and last.id == "run-0002"
    history.close()


# --- damaged and unwritable ------------------------------------------------------------------------------------


def test_a_damaged_file_is_moved_aside_and_a_new_one_made(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"this is no database\n" * 100)
    Path(f"{path}-wal").write_bytes(b"old wal")
    warnings = Warnings()
    history = open_history(tmp_path, warnings)
    assert len(warnings) == 1 and "damaged" in warnings[0]
    (aside,) = [p for p in path.parent.iterdir() if p.name.startswith("history.db.damaged-") and "-wal" not in p.name]
    assert str(aside) in warnings[0]
    assert aside.read_bytes() == b"this is no database\n" * 100
    assert Path(f"{aside}-wal").read_bytes() == b"old wal"
    assert history.last_success("a") is None and history.last_run() is None
    history.record(run_row(1), [step_row("a")], {})
    history.close()
    assert sql(tmp_path, "SELECT id FROM runs") == [("run-0001",)]
    assert len(warnings) == 1


def test_damage_found_while_in_use_is_a_warning_and_moves_the_file_aside_at_close(tmp_path: Path) -> None:
    history = open_history(tmp_path)
    for n in range(30):
        history.record(run_row(n), [step_row(f"step-{i}", outputs={"x": "y" * 50}) for i in range(100)], {})
    history.close()
    path = db_path(tmp_path)
    (last_root,) = sql(tmp_path, "SELECT max(rootpage) FROM sqlite_master")[0]
    (page,) = sql(tmp_path, "PRAGMA page_size")[0]
    data = bytearray(path.read_bytes())
    start = int(last_root) * int(page)  # the schema and every table's first page stay: opening works
    data[start:] = b"\xff" * (len(data) - start)
    path.write_bytes(bytes(data))
    warnings = Warnings()
    history = open_history(tmp_path, warnings)
    assert warnings == []
    assert history.last_run() is None  # its steps are on the broken pages
    assert history.last_success("step-1") is None and history.durations() == {}
    assert len(warnings) == 1 and "cannot read" in warnings[0] and "malformed" in warnings[0]
    history.close()
    assert len(warnings) == 2 and "moved it to" in warnings[1]
    assert not path.exists() and any(p.name.startswith("history.db.damaged-") for p in path.parent.iterdir())
    history = open_history(tmp_path, warnings)
    assert len(warnings) == 2 and history.last_run() is None
    history.close()


def test_a_history_that_is_a_folder_gives_one_warning(tmp_path: Path) -> None:
    db_path(tmp_path).mkdir(parents=True)  # even root cannot open a folder as a database
    warnings = Warnings()
    assert History.open(str(tmp_path), warnings) is None
    assert len(warnings) == 1 and "cannot use" in warnings[0]
    assert db_path(tmp_path).is_dir()


def test_a_flowrun_folder_that_is_a_file_gives_one_warning(tmp_path: Path) -> None:
    (tmp_path / ".flowrun").write_text("not a folder")
    warnings = Warnings()
    assert History.open(str(tmp_path), warnings) is None
    assert len(warnings) == 1 and "cannot use" in warnings[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 folder anyway")
def test_a_read_only_folder_gives_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / ".flowrun"
    folder.mkdir(mode=0o500)
    try:
        warnings = Warnings()
        assert History.open(str(tmp_path), warnings) is None
        assert len(warnings) == 1
    finally:
        folder.chmod(0o700)


# --- secrets ---------------------------------------------------------------------------------------------------


def test_a_masked_secret_reaches_none_of_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-token-8472"
    monkeypatch.setenv("API_TOKEN", secret)  # in the environment of the writing process, as in a run
    history = open_history(tmp_path)
    step = step_row("publish", started=T0, duration=1.0, fingerprint="fp", outputs={"token": "***", "url": "x"})
    history.record(run_row(1, params={"token": "***"}), [step], {"src/a.py": (1, 2, 3, "d")})
    read = history.last_success("publish")
    assert read is not None and read.outputs == {"token": "***", "url": "x"}
    path = db_path(tmp_path)
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert all(f.exists() for f in files)
    for file in files:
        assert secret.encode() not in file.read_bytes(), file
    history.close()
    for file in path.parent.iterdir():
        assert secret.encode() not in file.read_bytes(), file


# --- flaky -----------------------------------------------------------------------------------------------------


def _rows(*cells: tuple[str, str | None]) -> list[StepInRun]:
    return [StepInRun(f"r{n}", T0 + n, status, fingerprint=fp) for n, (status, fp) in enumerate(cells)]


def test_flaky_is_a_failure_then_a_later_success_with_one_fingerprint() -> None:
    assert flaky(_rows(("failed", "f"), ("success", "f")))
    assert flaky(_rows(("timed_out", "f"), ("success", "g"), ("success", "f")))
    assert flaky_evidence(_rows(("success", "f"), ("failed", "f"), ("failed", "f"), ("success", "f"))) == ("r1", "r3",
                                                                                                          "f")
    assert flaky(list(reversed(_rows(("failed", "f"), ("success", "f")))))  # any order in, run order used


def test_not_flaky() -> None:
    assert not flaky([])
    assert not flaky(_rows(("success", "f"), ("failed", "f")))  # success first: it broke
    assert not flaky(_rows(("failed", "f"), ("success", "g")))  # other inputs: it was fixed
    assert not flaky(_rows(("failed", None), ("success", None)))  # no fingerprint: nothing says same inputs
    assert not flaky(_rows(("cancelled", "f"), ("success", "f")))  # an interrupt, not the step
    assert not flaky(_rows(("skipped", "f"), ("success", "f")))
    assert not flaky(_rows(("failed", "f"), ("cached", "f")))  # cached did not run
    assert not flaky([StepInRun("r1", T0, "success", attempts=3, fingerprint="f")])  # a retry within one run


def test_a_history_left_open_at_exit_keeps_its_run_in_the_wal(tmp_path: Path) -> None:
    """The flowrun command's way out (History.leave_open): no checkpoint, the WAL holds the run."""
    history = open_history(tmp_path)
    history.record(run_row(1), [step_row("a", started=T0, duration=1.0)], {})
    history.leave_open()
    history.leave_open()  # as close(): once is enough
    assert Path(f"{db_path(tmp_path)}-wal").stat().st_size > 0, "not checkpointed into the file"
    assert sql(tmp_path, "SELECT id FROM runs") == [("run-0001",)]
    again = open_history(tmp_path)
    last = again.last_run()
    assert last is not None and last.id == "run-0001"
    again.close()
