"""Which process path runs, how FLOWRUN_PROCESS forces one, and where the two really differ.

The rest of the integration suite runs on both paths (conftest.py); these tests
check the choice itself and the few behaviours the paths do not share.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flowrun.errors import UsageError
from flowrun.events import StepStatus
from flowrun.process.choose import PROCESS_VAR, local_executor, process_path
from flowrun.process.detect import features
from flowrun.process.local import LocalExecutor
from flowrun.process.portable import PortableExecutor
from tests.integration.harness import cli, run_yaml, write


@pytest.mark.one_path("sets FLOWRUN_PROCESS itself")
def test_the_setting_picks_the_path_and_a_wrong_one_is_a_usage_error() -> None:
    auto = "linux" if features().fast_path else "portable"
    assert [process_path({PROCESS_VAR: v}) for v in ("", "auto", " Portable ")] == [auto, auto, "portable"]
    assert process_path({}) == auto
    assert isinstance(local_executor({PROCESS_VAR: "portable"}), PortableExecutor)
    if features().fast_path:
        assert process_path({PROCESS_VAR: "linux"}) == "linux"
        ex = local_executor({PROCESS_VAR: "linux"})
        assert isinstance(ex, LocalExecutor)
        ex._close_unbound()
    with pytest.raises(UsageError, match=r"='portible' is not a process path — did you mean 'portable'\?"):
        process_path({PROCESS_VAR: "portible"})
    with pytest.raises(UsageError, match=r"expected 'auto', 'linux', 'portable'"):
        process_path({PROCESS_VAR: "kqueue"})


@pytest.mark.one_path("sets FLOWRUN_PROCESS itself")
def test_an_unknown_path_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  a: {run: 'touch ran'}\n")
    proc = cli(tmp_path, "up", env={PROCESS_VAR: "linx"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "flowrun: FLOWRUN_PROCESS='linx' is not a process path — did you mean 'linux'?\n"
    assert not (tmp_path / "ran").exists() and not (tmp_path / ".flowrun" / "runs").exists()


def test_an_orphan_goes_to_flowrun_only_where_it_is_a_subreaper(tmp_path: Path, process_path: str) -> None:
    """The Linux path is a child subreaper; the portable one leaves orphans to init (docs: Systems)."""
    result = run_yaml(tmp_path, """
        steps:
          parent:
            run: |
              sh -c 'while [ "$(ps -o ppid= -p $$ | tr -d " ")" = "$1" ]; do sleep 0.01; done
                     ps -o ppid= -p $$ | tr -d " " > ppid.tmp; mv ppid.tmp ppid.txt; sleep 60' sh $$ &
          watch:
            depends_on: [parent]
            run: for i in $(seq 500); do [ -f ppid.txt ] && exit 0; sleep 0.01; done; exit 1
    """)
    assert result["watch"].status is StepStatus.SUCCESS
    adopted_by = int((tmp_path / "ppid.txt").read_text())
    if process_path == "linux":
        assert adopted_by == os.getpid()
    else:
        assert adopted_by != os.getpid()


def test_a_run_from_another_thread(tmp_path: Path) -> None:
    """No signal handlers off the main thread: the portable path then waits for each child in a thread."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = run_yaml(tmp_path, """
                steps:
                  a: {run: "echo one", timeout: 30s}
                  b: {run: "sleep 30", timeout: 300ms, kill_grace: 100ms}
                  c: {cmd: [cat], stdin: a}
                  d: {cmd: [wc, -c], stdin: a}
            """, keep_going=True)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert "error" not in box, box
    result = box["result"]
    assert [result[n].status for n in "abcd"] == [  # type: ignore[index]
        StepStatus.SUCCESS, StepStatus.TIMED_OUT, StepStatus.SUCCESS, StepStatus.SUCCESS]


@pytest.mark.portable_path("the Linux path reaps every child of the process (waitpid(-1), a subreaper)")
def test_the_embedding_programs_own_children_are_left_alone(tmp_path: Path) -> None:
    mine = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(7)"],
                            stdin=subprocess.PIPE)
    try:
        result = run_yaml(tmp_path, """
            steps:
              a: {run: "true"}
              b: {run: "exit 3", depends_on: {a: completed}}
        """)
        assert result["a"].status is StepStatus.SUCCESS and result["b"].exit_code == 3
        assert mine.poll() is None
    finally:
        assert mine.stdin is not None
        mine.stdin.close()
    assert mine.wait(timeout=10) == 7  # its status was still there for its own parent


@pytest.mark.one_path("sets FLOWRUN_PROCESS itself")
def test_without_pidfds_the_cli_falls_back_and_refuses_a_forced_linux_path(tmp_path: Path) -> None:
    """A Python without ``os.pidfd_open`` (as on macOS): auto runs the portable path; ``linux`` is exit 2."""
    write(tmp_path, "steps:\n  a: {run: 'echo ran > ran.txt'}\n")
    code = "import os, sys; del os.pidfd_open; from flowrun.cli import main; sys.exit(main(['up', '-q']))"

    def up(setting: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, env={**os.environ, PROCESS_VAR: setting})

    done = up("auto")
    assert done.returncode == 0 and (tmp_path / "ran.txt").read_text() == "ran\n", done.stderr
    (tmp_path / "ran.txt").unlink()
    done = up("linux")
    assert done.returncode == 2 and not (tmp_path / "ran.txt").exists()
    assert done.stderr == ("flowrun: FLOWRUN_PROCESS=linux: this system cannot run the Linux process path "
                           "(no os.pidfd_open); unset it or use FLOWRUN_PROCESS=portable\n")


@pytest.mark.portable_path("the Linux path's reaper takes every child of the process: one run at a time")
def test_two_runs_at_once_in_two_threads(tmp_path: Path) -> None:
    """The main thread's loop watches through SIGCHLD, the other's through threads; each asks only for its pids."""
    workflow = """
        jobs: 3
        steps:
          a: {run: "sleep 0.3; exit 4", continue_on_error: true}
          b: {run: "for i in 1 2 3; do echo $i; sleep 0.1; done"}
          c: {cmd: [wc, -l], stdin: b}
          d: {run: "sleep 0.2", depends_on: {a: completed}}
    """
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.setdefault("two", run_yaml(tmp_path / "two", workflow)))
    thread.start()
    one = run_yaml(tmp_path / "one", workflow)
    thread.join(60)
    for result in (one, box["two"]):
        assert [result[n].exit_code for n in "abcd"] == [4, 0, 0, 0]  # type: ignore[index]


def test_the_programs_own_sigchld_handler_is_back_after_a_run(tmp_path: Path) -> None:
    import signal

    seen: list[int] = []
    previous = signal.signal(signal.SIGCHLD, lambda sig, frame: seen.append(sig))
    try:
        assert run_yaml(tmp_path, "steps: {a: {run: 'true'}}\n")["a"].status is StepStatus.SUCCESS
        handler = signal.getsignal(signal.SIGCHLD)
        assert callable(handler)
        seen.clear()
        subprocess.run(["true"], check=True)
        assert seen == [signal.SIGCHLD]
    finally:
        signal.signal(signal.SIGCHLD, previous)
