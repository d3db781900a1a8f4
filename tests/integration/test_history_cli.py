"""`flowrun history` (SPEC §10) as a process, and the history under real processes: two writers
at once, and a history of 1000 runs of 1000 steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowrun.engine.history import History, RunRow, StepRow
from flowrun.engine.history_query import history_view
from tests.integration.harness import cli, write

T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = """
    steps:
      build: {run: "true"}
"""


def record(base: Path, runs: list[tuple[RunRow, list[StepRow]]]) -> None:
    history = History.open(str(base), print)
    assert history is not None
    for run, steps in runs:
        history.record(run, steps, {})
    history.close()


def run_row(n: int, exit_code: int = 0, **fields: object) -> RunRow:
    return RunRow(f"run-{n:04d}", T0 + 100 * n, T0 + 100 * n + 75, exit_code, **fields)  # type: ignore[arg-type]


def step(name: str, status: str = "success", fingerprint: str | None = "fp", **fields: object) -> StepRow:
    values: dict[str, object] = {"exit_code": 0 if status == "success" else 1, "attempts": 1, "duration": 1.5}
    values.update(fields)
    return StepRow(name, status, fingerprint=fingerprint, **values)  # type: ignore[arg-type]


def local(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


# --- the command -----------------------------------------------------------------------------------------------


def test_no_history_is_one_line_and_exit_0(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    plain = cli(tmp_path, "history")
    assert plain.returncode == 0 and plain.stderr == ""
    assert len(plain.stdout.splitlines()) == 1 and plain.stdout.startswith("no runs recorded yet")
    as_json = cli(tmp_path, "history", "build", "--json")
    assert as_json.returncode == 0 and "no runs recorded yet" in as_json.stderr
    assert json.loads(as_json.stdout) == {"schema": "flowrun.history", "version": 1, "step": "build", "flaky": False,
                                          "runs": []}
    assert not (tmp_path / ".flowrun").exists()  # reading made nothing


def test_the_last_runs_newest_first(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    record(tmp_path, [
        (run_row(1, 1, targets=["deploy"], params={"env": "prod"}),
         [step("lint"), step("test", "failed"), step("deploy", "skipped", exit_code=None, duration=None)]),
        (run_row(2), [step("lint", "cached"), step("test"), step("deploy")]),
        (run_row(3, 130), [step("lint"), step("test", "cancelled", exit_code=None)]),
    ])
    plain = cli(tmp_path, "history")
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout  # not a terminal: plain text
    assert plain.stdout.splitlines() == [
        "run       started              duration  result       steps",
        f"run-0003  {local(T0 + 300)}  1m15s     interrupted  1 success, 1 cancelled",
        f"run-0002  {local(T0 + 200)}  1m15s     success      2 success, 1 cached",
        f"run-0001  {local(T0 + 100)}  1m15s     failed       1 success, 1 failed, 1 skipped",
    ]
    assert cli(tmp_path, "history", "--limit", "1").stdout.splitlines()[1].startswith("run-0003")
    document = json.loads(cli(tmp_path, "history", "--json").stdout)
    assert document["schema"] == "flowrun.history" and [r["id"] for r in document["runs"]] == ["run-0003", "run-0002",
                                                                                               "run-0001"]
    oldest = document["runs"][2]
    assert oldest["counts"] == {"success": 1, "failed": 1, "skipped": 1}
    assert (oldest["targets"], oldest["params"], oldest["exit_code"], oldest["result"]) == (["deploy"], {"env": "prod"},
                                                                                            1, "failed")
    assert oldest["started_epoch"] == T0 + 100 and oldest["duration"] == 75.0
    assert oldest["started"] == "2023-11-14T22:15:00.000Z"


def test_one_step_across_runs_and_its_flaky_mark(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    record(tmp_path, [
        (run_row(1), [step("test", "failed", fingerprint="aaaa1111bbbb2222", started=T0 + 101, exit_code=2)]),
        (run_row(2), [step("test", started=T0 + 201, fingerprint="aaaa1111bbbb2222", attempts=2)]),
        (run_row(3), [step("other")]),
        (run_row(4), [step("test", "timed_out", started=T0 + 401, exit_code=124, fingerprint="cccc")]),
    ])
    plain = cli(tmp_path, "history", "test")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        "run       started              status     duration  exit  attempts",
        f"run-0004  {local(T0 + 401)}  timed_out  1.5s      124   1",
        f"run-0002  {local(T0 + 201)}  success    1.5s      0     2",
        f"run-0001  {local(T0 + 101)}  failed     1.5s      2     1",
        "flaky: test failed in run run-0001 and succeeded in the later run run-0002 with the same fingerprint "
        "(aaaa1111bbbb)",
    ]
    document = json.loads(cli(tmp_path, "history", "test", "--json", "--limit", "2").stdout)
    assert document["flaky"] is True
    assert document["flaky_runs"] == {"failed": "run-0001", "succeeded": "run-0002", "fingerprint": "aaaa1111bbbb2222"}
    assert [(r["run_id"], r["status"], r["exit_code"], r["duration"]) for r in document["runs"]] == [
        ("run-0004", "timed_out", 124, 1.5), ("run-0002", "success", 0, 1.5)]
    steady = cli(tmp_path, "history", "other", "--json")
    assert json.loads(steady.stdout)["flaky"] is False and "flaky" not in cli(tmp_path, "history", "other").stdout


def test_an_unknown_step_is_exit_2_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    record(tmp_path, [(run_row(1), [step("unit-tests"), step("lint")])])
    wrong = cli(tmp_path, "history", "unit-test")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr == "flowrun: no step 'unit-test' in the history — did you mean 'unit-tests'?\n"
    far = cli(tmp_path, "history", "zzz")
    assert far.returncode == 2 and far.stderr == "flowrun: no step 'zzz' in the history\n"
    assert cli(tmp_path, "history", "--limit", "0").returncode == 2


def test_file_names_a_workflow_in_another_folder(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    write(other, WORKFLOW, name="ci.yaml")
    record(other, [(run_row(7), [step("build")])])
    shown = cli(tmp_path, "history", "-f", "elsewhere/ci.yaml")
    assert shown.returncode == 0 and shown.stdout.splitlines()[1].startswith("run-0007")
    assert cli(tmp_path, "history", "-f", "missing.yaml").returncode == 2


def test_a_damaged_history_is_one_line_and_exit_1(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    (tmp_path / ".flowrun").mkdir()
    (tmp_path / ".flowrun" / "history.db").write_bytes(b"garbage" * 1000)
    shown = cli(tmp_path, "history")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert shown.stderr.startswith("flowrun: cannot read the history") and len(shown.stderr.splitlines()) == 1


def test_up_records_what_history_shows(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          first: {run: "echo one"}
          second: {run: "exit 3", depends_on: [first]}
    """)
    assert cli(tmp_path, "up", "-q").returncode == 1
    assert cli(tmp_path, "up", "-q").returncode == 1
    runs = json.loads(cli(tmp_path, "history", "--json").stdout)["runs"]
    assert len(runs) == 2 and all(r["counts"] == {"success": 1, "failed": 1} and r["exit_code"] == 1 for r in runs)
    second = json.loads(cli(tmp_path, "history", "second", "--json").stdout)["runs"]
    assert [(r["status"], r["exit_code"]) for r in second] == [("failed", 3), ("failed", 3)]


# --- two flowruns at once --------------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import os, sys, time
    from flowrun.engine.history import History, RunRow, StepRow
    base, who, go = sys.argv[1], sys.argv[2], sys.argv[3]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    warnings = []
    for n in range(40):
        history = History.open(base, warnings.append)  # as a run does: open, read, record, close
        assert history is not None, warnings
        history.durations(); history.last_success("s-1"); history.last_run()
        started = time.time()
        steps = [StepRow(f"s-{i}", "success", 0, 1, started, 0.5, f"fp-{i}", None, {"k": "v"}) for i in range(300)]
        history.record(RunRow(f"{who}-{n:03d}", started, started + 1, 0), steps, {f"{who}/f{n}": (1, 2, 3, "d")})
        history.close()
    print("\\n".join(warnings), file=sys.stderr)
""")


def test_two_processes_recording_at_once_both_record(tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), who, str(go)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in ("a", "b")]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"  # past its imports
    go.touch()  # both start on an absent history: creating, migrating and writing it at once
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0 and err.strip() == "", err
    document = history_view(str(tmp_path), limit=1000).document
    ids = sorted(run["id"] for run in document["runs"])  # type: ignore[attr-defined]
    assert ids == sorted(f"{who}-{n:03d}" for who in "ab" for n in range(40))
    assert all(run["counts"] == {"success": 300} for run in document["runs"])  # type: ignore[attr-defined]


# --- the size flowrun history must answer for ------------------------------------------------------------------


@pytest.mark.one_path("25 s, and no process runs: the history store and its queries only")
def test_history_over_1000_runs_of_1000_steps_answers_fast(tmp_path: Path) -> None:
    history = History.open(str(tmp_path), print)
    assert history is not None
    steps = [step(f"step-{i:04d}", fingerprint=f"fp-{i}", duration=1.0 + i % 7) for i in range(1000)]
    failing = [step(s.name, "failed", fingerprint=s.fingerprint) if i % 10 == 0 else s for i, s in enumerate(steps)]
    for n in range(1000):  # the rows built once and recorded in every run (started None: the run's start)
        history.record(run_row(n), failing if n == 500 else steps, {})
    history.close()

    began = time.perf_counter()
    runs = history_view(str(tmp_path))
    middle = time.perf_counter()
    one = history_view(str(tmp_path), "step-0500")
    ended = time.perf_counter()
    print(f"\n1000 runs x 1000 steps: flowrun history {middle - began:.4f} s, "
          f"flowrun history STEP {ended - middle:.4f} s")
    assert [row[0] for row in runs.rows] == [f"run-{n:04d}" for n in range(999, 979, -1)]
    assert runs.rows[0][4] == "1000 success"
    assert len(one.rows) == 20 and one.document["flaky"] is True and one.note is not None
    assert middle - began < 2 and ended - middle < 2  # the real target (< 0.5 s, whole command) is in bench/
