"""Handlers (SPEC §9): on_success or on_failure, then finally, after every other step; what each step is told."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from flowrun.events import StepStatus
from tests.integration.harness import SLEEPIT, flowrun_in_background, run_yaml, wait_for, write

S = StepStatus

HANDLERS = """
        handlers:
          on_success: {run: 'echo "$FLOWRUN_STATUS" > on_success.txt'}
          on_failure: {run: 'echo "$FLOWRUN_STATUS" > on_failure.txt; printf "%s" "$FLOWRUN_FAILED_STEPS" > failed.txt'}
          finally: {run: 'echo "$FLOWRUN_STATUS" > finally.txt'}
"""


def text(tmp: Path, name: str) -> str:
    return (tmp / name).read_text()


def test_on_success_then_finally_after_every_step(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {run: "sleep 0.2"}
          b: {run: "sleep 0.1", depends_on: [a]}
          c: {run: "sleep 0.3"}
    """ + HANDLERS)
    assert result.ok
    assert (result["on_success"].status, result["on_failure"].status, result["finally"].status) == (
        S.SUCCESS, S.SKIPPED, S.SUCCESS)
    assert result["on_failure"].reason == "the run succeeded"
    last_step = max(result[n].ended for n in ("a", "b", "c"))
    assert result["on_success"].started >= last_step
    assert result["finally"].started >= result["on_success"].ended
    assert text(tmp_path, "on_success.txt") == "success\n" and text(tmp_path, "finally.txt") == "success\n"
    assert list(result.steps)[-3:] == ["on_success", "on_failure", "finally"]


def test_on_failure_is_told_the_failed_steps_and_finally_still_runs(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          ok: {run: "true"}
          bad: {run: "exit 3"}
          allowed: {run: "exit 4", continue_on_error: true}
          slow: {run: "sleep 100", timeout: 300ms}
          never: {run: "true", depends_on: [bad]}
    """ + HANDLERS, keep_going=True)
    assert result.exit_code() == 1
    assert result["on_success"].status is S.SKIPPED and result["on_success"].reason == "the run did not succeed"
    assert result["on_failure"].status is S.SUCCESS and result["finally"].status is S.SUCCESS
    assert set(text(tmp_path, "failed.txt").split()) == {"bad", "allowed", "slow"}
    assert text(tmp_path, "on_failure.txt") == "failed\n" == text(tmp_path, "finally.txt")


def test_a_failing_handler_fails_the_run_and_finally_sees_it(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {run: "true"}
        handlers:
          on_success: {run: "exit 7"}
          on_failure: {run: "touch on_failure.ran"}
          finally: {run: 'echo "$FLOWRUN_STATUS" > finally.txt'}
    """)
    assert result["on_success"].status is S.FAILED and result.exit_code() == 1
    assert result["on_failure"].status is S.SKIPPED, "a failed on_success does not start on_failure"
    assert not (tmp_path / "on_failure.ran").exists()
    assert text(tmp_path, "finally.txt") == "failed\n"


def test_a_handler_allowed_to_fail_leaves_the_run_green(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps: {a: {run: "true"}}
        handlers: {finally: {run: "exit 2", continue_on_error: true}}
    """)
    assert result.ok and result["finally"].status is S.FAILED


def test_the_workflow_deadline_does_not_bound_the_handlers(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        timeout: 300ms
        steps:
          slow: {run: "sleep 100"}
        handlers:
          on_failure: {run: 'sleep 0.5; echo "$FLOWRUN_STATUS" > on_failure.txt'}
          finally: {run: "true", timeout: 5s}
    """)
    assert result["slow"].status is S.TIMED_OUT
    assert result["on_failure"].status is S.SUCCESS, result["on_failure"].reason
    assert result["on_failure"].duration >= 0.5
    assert text(tmp_path, "on_failure.txt") == "failed\n"


def test_a_handler_has_its_own_timeout(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps: {a: {run: "true"}}
        handlers: {finally: {run: "sleep 100", timeout: 300ms}}
    """)
    assert result["finally"].status is S.TIMED_OUT and result.exit_code() == 1


def test_every_step_is_told_its_attempt_and_the_results_so_far(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          flaky:
            run: |
              echo "$FLOWRUN_ATTEMPT" >> attempts.txt
              echo "answer=42" >> "$FLOWRUN_OUTPUT"
              [ "$FLOWRUN_ATTEMPT" -ge 2 ]
            retry: 1
          later: {run: 'cp "$FLOWRUN_RESULTS" seen.jsonl; echo "$FLOWRUN_STEP $FLOWRUN_RUN_ID" > me.txt',
                  depends_on: [flaky]}
    """)
    assert result.ok
    assert text(tmp_path, "attempts.txt").split() == ["1", "2"]
    seen = [json.loads(line) for line in text(tmp_path, "seen.jsonl").splitlines()]
    assert seen == [{"name": "flaky", "status": "success", "exit_code": 0, "attempts": 2,
                     "duration": seen[0]["duration"], "outputs": {"answer": "42"}}]
    assert text(tmp_path, "me.txt").split() == ["later", result.run_id]
    assert result["flaky"].outputs == {"answer": "42"}


def test_handlers_keep_the_services_up(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          svc: {service: true, run: "exec sleep 100"}
          use: {run: "true", depends_on: [svc]}
        handlers:
          finally: {run: "sleep 0.2"}
    """)
    assert result.ok
    assert result["svc"].ended >= result["finally"].ended, "a service is stopped after the last handler"


def test_handlers_run_after_ctrl_c_and_a_second_one_stops_them(tmp_path: Path) -> None:
    write(tmp_path, f"""
        steps:
          long: {{run: "exec {SLEEPIT} default --sleep 100"}}
        handlers:
          on_failure: {{run: 'echo "$FLOWRUN_STATUS" > status.txt; touch started; exec {SLEEPIT} default --sleep 100'}}
          finally: {{run: "touch finally.ran"}}
    """)
    with flowrun_in_background(tmp_path) as (proc, out):
        wait_for(lambda: "long" in out.read_text(), timeout=15, what="the step to start")
        os.kill(proc.pid, signal.SIGINT)
        wait_for(lambda: (tmp_path / "started").exists(), timeout=15, what="on_failure to start")
        assert proc.poll() is None, "the first Ctrl-C lets the handlers run"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=15) == 130
    assert text(tmp_path, "status.txt") == "cancelled\n"
    assert not (tmp_path / "finally.ran").exists(), "after a second Ctrl-C no handler starts"
    summary = out.read_text()
    assert "on_failure" in summary and "cancelled" in summary


@pytest.mark.parametrize("field", ["depends_on: [a]", "stdin: a", "matrix: {X: [1]}", "service: true"])
def test_a_handler_cannot_have_step_only_fields(tmp_path: Path, field: str) -> None:
    from flowrun.errors import WorkflowError
    from flowrun.load import load

    path = write(tmp_path, f"""
        steps: {{a: {{run: "true"}}}}
        handlers:
          finally: {{run: "true", {field}}}
    """)
    with pytest.raises(WorkflowError) as caught:
        load(path)
    assert "a handler has no" in str(caught.value) and ":4:" in str(caught.value)
