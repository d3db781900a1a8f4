"""`flowrun logs`: last run, one step, --run, -f, and pruning of old runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.integration.harness import cli, flowrun_cmd, wait_for, write


def test_logs_of_last_run_and_of_one_step(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          a: {run: "echo alpha"}
          bb: {run: "echo beta; printf 'no newline'"}
    """)
    assert cli(tmp_path, "up").returncode == 0
    everything = cli(tmp_path, "logs")
    assert everything.returncode == 0
    assert everything.stdout.splitlines() == ["a  | alpha", "bb | beta", "bb | no newline"]
    assert cli(tmp_path, "logs", "bb").stdout == "beta\nno newline"
    run_id = next((tmp_path / ".flowrun" / "runs").iterdir()).name
    assert cli(tmp_path, "logs", "a", "--run", run_id).stdout == "alpha\n"
    assert cli(tmp_path, "logs", "zz").returncode == 2
    assert cli(tmp_path, "logs", "--run", "nope").returncode == 2


def test_logs_show_step_names_in_plan_order_and_stay_inside_the_runs_folder(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          z: {run: "echo last-in-name"}
          b:
            run: echo "$M"
            matrix: {M: [a/b]}
    """)
    (tmp_path / "outside.log").write_text("secret\n")
    assert cli(tmp_path, "up").returncode == 0
    assert cli(tmp_path, "logs").stdout.splitlines() == ["z        | last-in-name", "b[M=a/b] | a/b"]
    assert cli(tmp_path, "logs", "b[M=a/b]").stdout == "a/b\n"
    for run_id in ("..", "../..", str(tmp_path), "../../.."):
        proc = cli(tmp_path, "logs", "--run", run_id)
        assert proc.returncode == 2 and "secret" not in proc.stdout, run_id
    follow = cli(tmp_path, "logs", "nosuch", "-f", timeout=20)
    assert follow.returncode == 2 and "no step 'nosuch'" in follow.stderr


def test_logs_follow_prints_until_the_run_ends(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          slow: {run: "echo first; while [ ! -e go ]; do sleep 0.01; done; echo second"}
    """)
    up = subprocess.Popen(flowrun_cmd("up", "-q"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        runs = tmp_path / ".flowrun" / "runs"
        wait_for(lambda: runs.exists() and any(p.glob("slow.log") for p in runs.iterdir()), what="log")
        follow = subprocess.Popen(flowrun_cmd("logs", "-f"), cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL)
        assert follow.stdout is not None
        assert follow.stdout.readline() == "slow | first\n"
        (tmp_path / "go").touch()
        rest, _ = follow.communicate(timeout=30)
        assert rest == "slow | second\n"
        assert follow.returncode == 0
    finally:
        assert up.wait(timeout=30) == 0


def test_old_runs_are_pruned(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: 'true'}}\n")
    for _ in range(4):
        assert cli(tmp_path, "up", env={"FLOWRUN_KEEP_RUNS": "2"}).returncode == 0
    assert len(list((tmp_path / ".flowrun" / "runs").iterdir())) == 2


def test_pruning_removes_a_whole_run_folder_but_never_follows_a_symlink(tmp_path: Path) -> None:
    from flowrun.report.logs import prune_runs

    runs = tmp_path / ".flowrun" / "runs"
    outside = tmp_path / "keep-me"
    outside.mkdir()
    (outside / "precious.txt").write_text("x")
    old = runs / "20260101T000000-aaaaaa"
    (old / "nested" / "deeper").mkdir(parents=True)
    (old / "a.log").write_text("log")
    (old / "nested" / "deeper" / "b.log").write_text("log")
    (old / "link-to-folder").symlink_to(outside)
    (old / "nested" / "link-to-file").symlink_to(outside / "precious.txt")
    (runs / "20260102T000000-bbbbbb").mkdir()
    assert prune_runs(str(tmp_path), 1) == [old.name]
    assert not old.exists()
    assert [p.name for p in runs.iterdir()] == ["20260102T000000-bbbbbb"]
    assert (outside / "precious.txt").read_text() == "x"


def test_pruning_never_removes_a_run_still_going(tmp_path: Path) -> None:
    """FLOWRUN_KEEP_RUNS=1 with a long run going: the next run must not delete its folder."""
    write(tmp_path, """
        steps:
          slow: {run: "until [ -f go ]; do sleep 0.01; done; echo late"}
    """)  # it ends when the test says so: a busy machine cannot let it finish before the check
    first = subprocess.Popen(flowrun_cmd("up", "--output", "plain"), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env={**os.environ, "FLOWRUN_KEEP_RUNS": "1"})
    try:
        runs = tmp_path / ".flowrun" / "runs"
        wait_for(lambda: any((d / "flowrun.pid").exists() for d in runs.iterdir()) if runs.exists() else False)
        (going,) = list(runs.iterdir())
        write(tmp_path, "steps: {quick: {run: 'true'}}\n", "quick.yaml")
        for _ in range(2):  # the second would keep only the first quick run
            assert cli(tmp_path, "up", "-f", "quick.yaml", env={"FLOWRUN_KEEP_RUNS": "1"}).returncode == 0
        assert going.exists()
    finally:
        (tmp_path / "go").touch()
        out, _ = first.communicate(timeout=30)
    assert first.returncode == 0, out
    assert (going / "slow.log").read_text() == "late\n"


def test_run_ids_of_one_second_sort_in_order() -> None:
    from flowrun.report.logs import new_run_id

    ids = [new_run_id() for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_each_run_folder_holds_its_json_report(tmp_path: Path) -> None:
    import json

    write(tmp_path, "steps: {a: {run: 'echo hi'}, b: {run: 'exit 3', depends_on: [a]}}\n")
    assert cli(tmp_path, "up").returncode == 1
    (report,) = (tmp_path / ".flowrun" / "runs").glob("*/report.json")
    document = json.loads(report.read_text())
    assert [(s["name"], s["status"], s["exit_code"]) for s in document["steps"]] == [
        ("a", "success", 0), ("b", "failed", 3)]
    assert oct(report.stat().st_mode & 0o777) == oct(0o600)


def test_a_project_folder_flowrun_cannot_write_to_is_a_clear_error(tmp_path: Path) -> None:
    """Where .flowrun cannot be made (here a file is in the way; a read-only checkout is the same)."""
    write(tmp_path, "steps: {a: {run: 'touch ran'}}\n")
    (tmp_path / ".flowrun").write_text("not a folder")
    proc = cli(tmp_path, "up")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot write the run's log folder" in proc.stderr and not (tmp_path / "ran").exists()
    bad = cli(tmp_path, "up", env={"FLOWRUN_KEEP_RUNS": "many"})
    assert bad.returncode == 2 and "FLOWRUN_KEEP_RUNS" in bad.stderr
