"""Incremental runs (SPEC §10): what makes a step run again, what does not, --force, --resume, the scheduling."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import flowrun
from flowrun.events import StepStatus
from tests.integration.harness import cli, write

S = StepStatus

FILE = """
    params: {flavour: {default: plain}}
    steps:
      build:
        run: mkdir -p out && cat src/*.txt > out/all.txt && echo "$FLAVOUR $flavour" >> out/all.txt
        sources: ["src/**/*.txt"]
        outputs: [out/all.txt]
        env: {FLAVOUR: one}
      count:
        run: wc -c < out/all.txt > out/count.txt
        sources: [out/all.txt]
        outputs: [out/count.txt]
        depends_on: [build]
      always: {run: "true", depends_on: [count]}
"""


def run(tmp: Path, **options: object) -> dict[str, StepStatus]:
    result = flowrun.run(flowrun.load(tmp / "flowrun.yaml"), handle_signals=False, **options)  # type: ignore[arg-type]
    return {name: step.status for name, step in result.steps.items()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src" / "deep").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("alpha\n")
    (tmp_path / "src" / "deep" / "b.txt").write_text("beta\n")
    write(tmp_path, FILE)
    first = run(tmp_path)
    assert first == {"build": S.SUCCESS, "count": S.SUCCESS, "always": S.SUCCESS}
    return tmp_path


def test_nothing_changed_means_cached_and_a_touch_changes_nothing(project: Path) -> None:
    assert run(project) == {"build": S.CACHED, "count": S.CACHED, "always": S.SUCCESS}
    future = time.time() + 5
    os.utime(project / "src" / "a.txt", (future, future))
    assert run(project)["build"] is S.CACHED, "touch alone changes no byte"


@pytest.mark.parametrize("change", ["content", "new file", "deleted file", "renamed file"])
def test_a_change_in_the_sources_runs_the_chain_again(project: Path, change: str) -> None:
    src = project / "src"
    if change == "content":
        (src / "a.txt").write_text("ALPHA\n")
    elif change == "new file":
        (src / "deep" / "c.txt").write_text("gamma\n")
    elif change == "deleted file":
        (src / "deep" / "b.txt").unlink()
    else:
        (src / "a.txt").rename(src / "z.txt")
    statuses = run(project)
    assert statuses["build"] is S.SUCCESS
    # a rename keeps the bytes of out/all.txt when cat reads the files in the same order: then count is cut off
    assert statuses["count"] in (S.SUCCESS, S.CACHED)


@pytest.mark.parametrize("edit", [
    ("run: mkdir -p out && cat", "run: mkdir -p out && cat -u"),   # the command
    ("env: {FLAVOUR: one}", "env: {FLAVOUR: two}"),                # the env the file gives
])
def test_a_change_in_the_file_runs_the_step_again(project: Path, edit: tuple[str, str]) -> None:
    path = project / "flowrun.yaml"
    path.write_text(path.read_text().replace(*edit))
    assert run(project)["build"] is S.SUCCESS


def test_a_parameter_is_part_of_the_fingerprint(project: Path) -> None:
    assert run(project, params={"flavour": "spicy"})["build"] is S.SUCCESS
    assert run(project, params={"flavour": "spicy"})["build"] is S.CACHED


def test_the_inherited_environment_is_not(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOMETHING_ELSE", str(time.time()))
    assert run(project)["build"] is S.CACHED


def age(folder: Path) -> None:
    """Every file below ``folder`` an hour old: no longer racy, so its stat cache entry is trusted."""
    past = time.time() - 3600
    for path in folder.rglob("*"):
        os.utime(path, (past, past))


def test_the_fast_check_on_old_files_still_sees_every_change(project: Path) -> None:
    src = project / "src"
    age(src)
    assert run(project)["build"] is S.CACHED  # new mtimes, same bytes: hashed again, and the set recorded
    steps = [
        lambda: (src / "a.txt").write_text("ALPHA\n"),
        lambda: (src / "deep" / "c.txt").write_text("gamma\n"),
        lambda: (src / "deep" / "b.txt").unlink(),
        lambda: (src / "a.txt").rename(src / "z.txt"),
    ]
    for n, change in enumerate(steps):
        age(src)
        assert run(project)["build"] is S.CACHED, n  # the set of old files: the recorded digest, no hashing
        change()
        assert run(project)["build"] is S.SUCCESS, n


def test_a_racy_file_then_deleted_is_not_taken_for_the_set_without_it(project: Path) -> None:
    src = project / "src"
    age(src)
    (src / "deep" / "new.txt").write_text("just written\n")  # racy: hashed, but no cache entry
    assert run(project)["build"] is S.SUCCESS
    (src / "deep" / "new.txt").unlink()  # the old files are exactly the cache's entries again
    assert run(project)["build"] is S.SUCCESS, "the digest recorded with the racy file is not the set without it"


def test_a_changed_or_deleted_output_runs_the_step_again(project: Path) -> None:
    (project / "out" / "count.txt").write_text("tampered\n")
    assert run(project) == {"build": S.CACHED, "count": S.SUCCESS, "always": S.SUCCESS}
    (project / "out" / "all.txt").unlink()
    assert run(project)["build"] is S.SUCCESS


def test_early_cutoff_a_dependency_that_left_the_same_bytes(project: Path) -> None:
    path = project / "flowrun.yaml"
    # build's command changes (it runs again) but writes the same bytes: count stays cached
    path.write_text(path.read_text().replace('echo "$FLAVOUR $flavour"', 'echo "$FLAVOUR"  "$flavour" | tr -s " "'))
    assert run(project) == {"build": S.SUCCESS, "count": S.CACHED, "always": S.SUCCESS}


def test_force_runs_everything_and_records_it(project: Path) -> None:
    assert run(project, force=True) == {"build": S.SUCCESS, "count": S.SUCCESS, "always": S.SUCCESS}
    assert run(project)["build"] is S.CACHED


def test_cached_is_shown_and_counts_as_success(project: Path) -> None:
    result = cli(project, "up", "--output", "plain", "--json", "r.json")
    assert result.returncode == 0
    assert "build   cached" in result.stdout.replace("  ", " ") or "cached" in result.stdout
    import json

    counts = json.loads((project / "r.json").read_text())["counts"]
    assert counts["cached"] == 2 and counts["success"] == 1


def test_resume_after_a_failure_runs_only_what_did_not_succeed(tmp_path: Path) -> None:
    write(tmp_path, """
        params: {mode: {default: ok}}
        steps:
          one: {run: "echo ran >> one.log"}
          two: {run: 'echo ran >> two.log; [ "$mode" = fixed ] || [ -e fixed ]', depends_on: [one]}
          three: {run: "echo ran >> three.log", depends_on: [two]}
    """)
    failed = cli(tmp_path, "up", "--output", "plain", "-p", "mode=broken")
    assert failed.returncode == 1
    (tmp_path / "fixed").touch()
    resumed = cli(tmp_path, "up", "--output", "plain", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (tmp_path / "one.log").read_text() == "ran\n", "one succeeded last time: cached"
    assert (tmp_path / "two.log").read_text() == "ran\nran\n"
    assert (tmp_path / "three.log").exists()
    assert "succeeded in run" in resumed.stdout


def test_resume_needs_a_recorded_run_and_no_steps_or_params(tmp_path: Path) -> None:
    write(tmp_path, 'steps: {a: {run: "true"}}')
    assert cli(tmp_path, "up", "--resume").returncode == 2
    assert cli(tmp_path, "up", "--resume", "a").returncode == 2


def test_the_second_run_starts_the_longest_step_first(tmp_path: Path) -> None:
    steps = "\n".join(f"          s{i:02d}: {{run: 'sleep 0.1'}}" for i in range(8))
    write(tmp_path, f"""
        jobs: 2
        steps:
{steps}
          long: {{run: "sleep 0.8"}}
    """)
    first = flowrun.run(flowrun.load(tmp_path / "flowrun.yaml"), handle_signals=False)
    assert first["long"].started >= max(first[f"s{i:02d}"].started for i in range(8)) - 0.05
    second = flowrun.run(flowrun.load(tmp_path / "flowrun.yaml"), handle_signals=False)
    assert second["long"].started <= min(second[f"s{i:02d}"].started for i in range(8)) + 0.05
    assert second.ended - second.started < first.ended - first.started


def test_a_secret_never_reaches_the_history(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        params: {who: {default: me}}
        steps:
          make: {run: 'echo "token=$TOKEN" >> $FLOWRUN_OUTPUT; echo ok', sources: [flowrun.yaml]}
    """)
    for _ in range(2):
        result = cli(tmp_path, "up", "--output", "plain", env={"TOKEN": "hist-s3cret-77"})
        assert result.returncode == 0, result.stderr
    leaked = [p.name for p in (tmp_path / ".flowrun").iterdir() if p.is_file() and b"hist-s3cret-77" in p.read_bytes()]
    assert leaked == []
    assert "cached" not in result.stdout.split("flowrun:")[-1], "outputs holding a secret are never cached"


def test_a_damaged_history_is_moved_aside_and_the_run_goes_on(project: Path) -> None:
    db = project / ".flowrun" / "history.db"
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    result = cli(project, "up", "--output", "plain")
    assert result.returncode == 0
    assert "warning" in result.stderr and "damaged" in result.stderr
    assert any(p.name.startswith("history.db.damaged") for p in (project / ".flowrun").iterdir())


def test_an_unwritable_history_warns_and_the_run_passes(project: Path) -> None:
    db = project / ".flowrun" / "history.db"
    for path in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
        path.unlink(missing_ok=True)
    db.mkdir()  # even root cannot open a folder as a database
    result = cli(project, "up", "--output", "plain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" in result.stderr
    shutil.rmtree(db)
