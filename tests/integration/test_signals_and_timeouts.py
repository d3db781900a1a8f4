"""Timeouts, process trees and interrupts: real signals to a flowrun in its own session."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flowrun.events import StepStatus
from tests.integration.harness import SLEEPIT, alive, flowrun_cmd, run_yaml, wait_for, write

S = StepStatus


def read_pid(path: Path) -> int:
    wait_for(lambda: path.exists(), what=str(path))
    return int(path.read_text())


def test_timeout_kills_the_whole_tree_including_setsid_grandchild(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_yaml(tmp_path, f"""
        steps:
          tree:
            run: |
              {SLEEPIT} default --sleep 100 --grandchild setsid --pidfile setsid.pid &
              {SLEEPIT} default --sleep 100 --grandchild bg --pidfile bg.pid &
              wait
            timeout: 1s
    """)
    took = time.monotonic() - started
    assert (result["tree"].status, result["tree"].exit_code) == (S.TIMED_OUT, 124)
    assert took < 8
    for name in ("setsid.pid", "bg.pid"):
        pid = int((tmp_path / name).read_text())
        wait_for(lambda pid=pid: not alive(pid), timeout=5, what=f"{name} to die")


def test_term_ignoring_step_is_killed_after_grace(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          stubborn:
            run: exec {SLEEPIT} ignore-term --sleep 100
            timeout: 500ms
            kill_grace: 300ms
    """)
    step = result["stubborn"]
    assert step.status is S.TIMED_OUT
    assert step.duration is not None and 0.75 <= step.duration < 5


def test_kill_signal_is_configurable(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          polite:
            run: exec {SLEEPIT} handle --sleep 100
            timeout: 500ms
            kill_signal: SIGINT
    """)
    assert result["polite"].status is S.TIMED_OUT
    assert f"got signal {int(signal.SIGINT)}" in Path(result["polite"].log_path or "").read_text()


def test_stopped_step_is_still_killed(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          frozen: {run: "kill -STOP $$; sleep 100", timeout: 500ms, kill_grace: 500ms}
    """)
    assert result["frozen"].status is S.TIMED_OUT


def test_background_child_holding_stdout_does_not_hang_the_step(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          leaves-child:
            run: |
              {SLEEPIT} default --sleep 100 --grandchild bg --pidfile child.pid &
              while [ ! -e child.pid ]; do sleep 0.01; done
              echo started
          next: {{run: "true", depends_on: [leaves-child]}}
    """)
    assert result["leaves-child"].status is S.SUCCESS
    assert result["leaves-child"].duration is not None and result["leaves-child"].duration < 10
    assert result["next"].status is S.SUCCESS
    pid = int((tmp_path / "child.pid").read_text())
    wait_for(lambda: not alive(pid), timeout=5, what="leftover child to be killed at run end")


def test_a_leftover_without_the_step_tag_is_killed_through_its_group(tmp_path: Path) -> None:
    """``env -i`` drops the environment tag: only the step's process group still finds it."""
    result = run_yaml(tmp_path, """
        steps:
          leaves-untagged:
            run: |
              env -i sleep 1000.4242 >/dev/null 2>&1 &
              while grep -q FLOWRUN /proc/$!/environ; do sleep 0.01; done  # until env has exec'd sleep
              echo $! > child.pid
    """)
    pid = int((tmp_path / "child.pid").read_text())
    try:
        assert result["leaves-untagged"].status is S.SUCCESS
        assert b"FLOWRUN" not in _environ(pid)  # the tag sweep cannot see it
        wait_for(lambda: not alive(pid), timeout=5, what="the untagged leftover to be killed at run end")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_leftover_in_a_group_of_its_own_without_the_tag_is_killed_through_its_session(tmp_path: Path) -> None:
    """Job control (``set -m``) gives a background job its own group; ``env -i`` drops the tag. The step's
    session still holds it."""
    result = run_yaml(tmp_path, """
        steps:
          leaves-grouped:
            run: |
              set -m
              env -i sleep 1000.4343 >/dev/null 2>&1 &
              until [ "$(ps -o args= -p $!)" = "sleep 1000.4343" ]; do sleep 0.01; done  # env has exec'd sleep
              echo "$! $(ps -o pgid= -p $!) $$" > child.txt
    """)
    pid, pgid, step_pid = (int(x) for x in (tmp_path / "child.txt").read_text().split())
    try:
        assert result["leaves-grouped"].status is S.SUCCESS
        assert pgid == pid != step_pid  # a group of its own: killpg of the step's group misses it
        wait_for(lambda: not alive(pid), timeout=5, what="the leftover in its own group to be killed at run end")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""  # already gone


def test_workflow_timeout(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        timeout: 500ms
        steps:
          slow: {run: "sleep 100"}
          after: {run: "true", depends_on: {slow: completed}}
    """)
    assert result["slow"].status is S.TIMED_OUT
    assert result["after"].status is S.SKIPPED
    assert result.exit_code() == 1


def test_the_workflow_timeout_during_an_if_condition_or_a_retry_delay_times_the_step_out(tmp_path: Path) -> None:
    """A run that hit its deadline never ends "ok": the step under way is timed_out, not skipped or cancelled."""
    result = run_yaml(tmp_path, """
        timeout: 600ms
        steps:
          checking: {run: "echo body", if: "sleep 30"}
          waiting: {run: "exit 1", retry: {attempts: 3, delay: 30s}}
    """)
    assert (result["checking"].status, result["checking"].exit_code) == (S.TIMED_OUT, 124)
    assert "workflow timeout during its if: condition" in result["checking"].reason
    assert (result["waiting"].status, result["waiting"].exit_code) == (S.TIMED_OUT, 124)
    assert "before its retry" in result["waiting"].reason
    assert result.exit_code() == 1


def test_timed_out_attempt_is_retried(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          slow-then-fast:
            run: "echo x >> n; [ $(wc -l < n) -ge 2 ] || sleep 100"
            timeout: 300ms
            retry: 1
    """)
    assert (result["slow-then-fast"].status, result["slow-then-fast"].attempts) == (S.SUCCESS, 2)


class Flowrun:
    """`python -m flowrun up` in its own session, its output read line by line."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            flowrun_cmd("up", "--output", "plain", *args), cwd=tmp, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        self.lines: list[str] = []

    def wait_line(self, wanted: str, timeout: float = 20) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if wanted in " ".join(line.split()):  # prefixes are padded to align
                return
        raise AssertionError(f"no line with {wanted!r} in:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "\n".join(self.lines) + "\n" + out


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_interrupt_cancels_runs_handlers_and_exits(tmp_path: Path, sig: int, code: int) -> None:
    write(tmp_path, f"""
        steps:
          long: {{run: "exec {SLEEPIT} handle --sleep 100"}}
          later: {{run: "touch later.ran", depends_on: [long]}}
          cleanup: {{run: "touch cleanup.ran", depends_on: {{long: completed}}}}
    """)
    flow = Flowrun(tmp_path)
    flow.wait_line("long | ready")
    os.kill(flow.proc.pid, sig)
    returncode, output = flow.finish()
    assert returncode == code, output
    assert f"got signal {int(signal.SIGTERM)}" in output
    assert (tmp_path / "cleanup.ran").exists()
    assert not (tmp_path / "later.ran").exists()
    assert "cancelled" in output and "flowrun:" in output


def test_second_ctrl_c_skips_the_grace_period(tmp_path: Path) -> None:
    write(tmp_path, f"""
        steps:
          stubborn: {{run: "exec {SLEEPIT} ignore-term --sleep 100", kill_grace: 60s}}
    """)
    flow = Flowrun(tmp_path, "-v")
    flow.wait_line("stubborn | ready")
    started = time.monotonic()
    os.kill(flow.proc.pid, signal.SIGINT)
    flow.wait_line("SIGINT: cancelling")
    os.kill(flow.proc.pid, signal.SIGINT)
    returncode, output = flow.finish()
    assert returncode == 130, output
    assert time.monotonic() - started < 20


def test_interrupt_during_retry_delay_ends_at_once(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          flaky: {run: "echo tried; exit 1", retry: {attempts: 3, delay: 60s}}
    """)
    flow = Flowrun(tmp_path, "-v")
    flow.wait_line("retrying in 60s")
    started = time.monotonic()
    os.kill(flow.proc.pid, signal.SIGINT)
    returncode, output = flow.finish()
    assert returncode == 130, output
    assert time.monotonic() - started < 10
    assert "cancelled" in output
