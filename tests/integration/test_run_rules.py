"""flowrun.run with real processes: ordering, conditions, failure policy, retries, locks, matrix."""

from __future__ import annotations

import os
from pathlib import Path

from flowrun.events import StepFinished, StepStarted, StepStatus
from tests.integration.harness import run_yaml

S = StepStatus


def test_independent_steps_run_at_the_same_time(tmp_path: Path) -> None:
    # each step waits until the other has started: only parallel execution can finish
    result = run_yaml(tmp_path, """
        steps:
          a: {run: "touch a.started; for i in $(seq 500); do [ -e b.started ] && exit 0; sleep 0.01; done; exit 1"}
          b: {run: "touch b.started; for i in $(seq 500); do [ -e a.started ] && exit 0; sleep 0.01; done; exit 1"}
    """, jobs=2)
    assert result["a"].status is S.SUCCESS and result["b"].status is S.SUCCESS


def test_jobs_limit_serialises(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {run: "mkdir busy && sleep 0.05 && rmdir busy"}
          b: {run: "mkdir busy && sleep 0.05 && rmdir busy"}
          c: {run: "mkdir busy && sleep 0.05 && rmdir busy"}
    """, jobs=1)
    assert [result[n].status for n in "abc"] == [S.SUCCESS] * 3


def test_dependency_order_and_conditions(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          build: {run: "echo built > out.txt"}
          test: {run: "grep built out.txt", depends_on: [build]}
          broken: {run: "exit 3", depends_on: [test]}
          on-fail: {run: "echo handling", depends_on: {broken: failure}}
          always: {run: "true", depends_on: {broken: completed}}
          on-success: {run: "true", depends_on: {broken: success}}
          not-on-fail: {run: "true", depends_on: {test: failure}}
    """, keep_going=True)
    assert result["build"].status is S.SUCCESS
    assert result["test"].status is S.SUCCESS
    assert (result["broken"].status, result["broken"].exit_code) == (S.FAILED, 3)
    assert result["on-fail"].status is S.SUCCESS
    assert result["always"].status is S.SUCCESS
    assert result["on-success"].status is S.SKIPPED
    assert result["not-on-fail"].status is S.SKIPPED
    assert result.exit_code() == 1


def test_fail_fast_lets_running_steps_finish_and_skips_the_rest(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          # slow ends only once fails has been reaped (a zombie still answers kill -0): flowrun has seen the failure
          slow: {run: "until [ -s failed.pid ] && ! kill -0 $(cat failed.pid) 2>/dev/null; do sleep 0.01; done;
                       echo finished > slow.txt"}
          fails: {run: "echo $$ > failed.pid; exit 1"}
          later: {run: "true", depends_on: [fails]}
          independent: {run: "true", depends_on: [slow]}
          cleanup: {run: "true", depends_on: {fails: completed}}
    """, jobs=2)
    assert result["fails"].status is S.FAILED
    assert result["slow"].status is S.SUCCESS and (tmp_path / "slow.txt").exists()
    assert result["later"].status is S.SKIPPED
    assert result["independent"].status is S.SKIPPED
    assert result["cleanup"].status is S.SUCCESS
    assert result.exit_code() == 1


def test_keep_going_runs_what_does_not_depend_on_the_failure(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          fails: {run: "exit 1"}
          later: {run: "true", depends_on: [fails]}
          independent: {run: "sleep 0.05"}
          after-independent: {run: "true", depends_on: [independent]}
    """, keep_going=True, jobs=1)
    assert result["later"].status is S.SKIPPED
    assert result["independent"].status is S.SUCCESS
    assert result["after-independent"].status is S.SUCCESS


def test_continue_on_error(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          optional: {run: "exit 5", continue_on_error: true}
          next: {run: "true", depends_on: [optional]}
    """)
    assert (result["optional"].status, result["optional"].exit_code) == (S.FAILED, 5)
    assert result["optional"].allowed_failure
    assert result["next"].status is S.SUCCESS
    assert result.exit_code() == 0


def test_if_condition_uses_step_env_and_workdir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "marker").write_text("x")
    result = run_yaml(tmp_path, """
        steps:
          yes: {run: "true", if: "test -e marker && [ \\"$MODE\\" = on ]", workdir: sub, env: {MODE: "on"}}
          no: {run: "true", if: "test -e missing", workdir: sub}
          after-no: {run: "true", depends_on: [no]}
    """)
    assert result["yes"].status is S.SUCCESS
    assert result["no"].status is S.SKIPPED
    assert result["after-no"].status is S.SKIPPED
    assert result.exit_code() == 0


def test_retry_with_delay_and_backoff(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          flaky:
            run: "echo x >> tries; [ $(wc -l < tries) -ge 3 ]"
            retry: {attempts: 4, delay: 50ms, backoff: 2}
          hopeless:
            run: "echo x >> hopeless; exit 7"
            retry: 1
    """, keep_going=True)
    flaky = result["flaky"]
    assert (flaky.status, flaky.attempts) == (S.SUCCESS, 3)
    assert flaky.duration is not None and flaky.duration >= 0.05 + 0.1  # delays 50ms then 100ms
    assert (result["hopeless"].status, result["hopeless"].attempts, result["hopeless"].exit_code) == (S.FAILED, 2, 7)
    assert (tmp_path / "hopeless").read_text().count("x") == 2


def test_locks_never_overlap(tmp_path: Path) -> None:
    # mkdir is atomic: a step that finds the folder taken fails
    step = '{run: "mkdir held && sleep 0.05 && rmdir held", lock: db}'
    result = run_yaml(tmp_path, f"""
        steps:
          a: {step}
          b: {step}
          c: {step}
          free: {{run: "true"}}
    """, jobs=4)
    assert all(result[n].status is S.SUCCESS for n in ("a", "b", "c", "free"))


def test_matrix_instances_get_their_values(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          t:
            run: 'echo "$PY-$OS" > "out-$PY-$OS"'
            matrix: {PY: [3.10, "3.11"], OS: [linux]}
          all: {run: "ls out-* | wc -l | tr -d ' ' > count", depends_on: [t]}
    """)
    assert (tmp_path / "out-3.10-linux").read_text() == "3.10-linux\n"
    assert (tmp_path / "out-3.11-linux").read_text() == "3.11-linux\n"
    assert (tmp_path / "count").read_text() == "2\n"
    assert result["t[PY=3.10,OS=linux]"].status is S.SUCCESS


def test_env_precedence(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("L1", "inherited")
    monkeypatch.setenv("L2", "inherited")
    (tmp_path / ".env").write_text("L2=dotenv\nL3=dotenv\n")
    run_yaml(tmp_path, """
        dotenv: [.env]
        env: {L3: workflow, L4: workflow, BOOL: true, NUM: 1.10}
        steps:
          s:
            run: 'echo "$L1 $L2 $L3 $L4 $L5 $BOOL $NUM $FLOWRUN_STEP" > env.txt'
            env: {L4: step, L5: step}
            matrix: {L5: [matrix]}
    """)
    assert (tmp_path / "env.txt").read_text() == "inherited dotenv workflow step matrix true 1.10 s[L5=matrix]\n"


def test_workdir_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    result = run_yaml(tmp_path, """
        steps:
          where: {run: pwd, workdir: sub, stdout: {file: out/where.txt}}
          missing: {run: "true", workdir: nope}
    """, keep_going=True)
    assert (tmp_path / "out" / "where.txt").read_text().strip() == str(tmp_path / "sub")
    assert result["missing"].status is S.FAILED


def test_target_selection_runs_only_what_is_needed(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {run: "touch a"}
          b: {run: "touch b", depends_on: [a]}
          c: {run: "touch c"}
    """, targets=["b"])
    assert set(result.steps) == {"a", "b"}
    assert not (tmp_path / "c").exists()


def test_command_not_found_fails_cleanly(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {cmd: [definitely-not-a-command-xyz]}
    """)
    assert result["a"].status is S.FAILED and result["a"].exit_code == 127
    log = Path(result["a"].log_path or "").read_text()
    assert "definitely-not-a-command-xyz" in log


def test_logs_are_private_and_complete(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          talk: {run: "echo out; echo err >&2; printf 'no newline'"}
    """)
    log = Path(result["talk"].log_path or "")
    assert log.read_bytes() == b"out\nerr\nno newline"
    assert os.stat(log).st_mode & 0o777 == 0o600
    assert os.stat(log.parent).st_mode & 0o777 == 0o700
    assert os.stat(tmp_path / ".flowrun").st_mode & 0o777 == 0o700


def test_a_finished_step_is_reported_before_the_step_that_takes_its_slot(tmp_path: Path) -> None:
    # independent steps ready nothing when they end: their slot is handed on before they are recorded
    class Events:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def handle(self, event: object) -> None:
            if isinstance(event, (StepStarted, StepFinished)):
                self.seen.append((type(event).__name__, event.step))

    events = Events()
    result = run_yaml(tmp_path, """
        steps:
          a: {cmd: ["true"]}
          b: {cmd: ["true"]}
          c: {cmd: ["true"]}
    """, jobs=1, reporters=[events])
    assert events.seen == [("StepStarted", "a"), ("StepFinished", "a"), ("StepStarted", "b"),
                           ("StepFinished", "b"), ("StepStarted", "c"), ("StepFinished", "c")]
    a, b, c = (result[n] for n in "abc")
    assert a.started <= a.ended <= b.started <= b.ended <= c.started <= c.ended  # type: ignore[operator]


def test_a_pipeline_member_ends_when_its_own_process_does(tmp_path: Path) -> None:
    """The producer's end time is its exit, not its consumer's."""
    result = run_yaml(tmp_path, """
        steps:
          prod: {run: "echo data"}
          cons: {run: "cat; sleep 1", stdin: prod}
    """)
    prod, cons = result["prod"], result["cons"]
    assert prod.ended is not None and cons.ended is not None
    assert cons.ended - prod.ended > 0.8


def test_if_reasons_say_what_happened(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          slow-check: {run: "true", if: "sleep 30", timeout: 300ms}
          prod: {run: "echo x", if: "exit 1"}
          cons: {run: "cat", stdin: prod}
    """)
    assert (result["slow-check"].status, result["slow-check"].reason) == (StepStatus.SKIPPED, "if: condition timed out")
    assert result["prod"].reason == "if: condition exited 1"
    assert result["cons"].reason == "its producer 'prod' was skipped (if: condition exited 1)"
    assert (result["prod"].attempts, result["cons"].attempts) == (0, 0)


def test_booleans_reach_a_step_as_the_file_spelled_them(tmp_path: Path) -> None:
    """YAML 1.2's True/TRUE/False are booleans where a boolean is wanted, and text as written elsewhere."""
    result = run_yaml(tmp_path, """
        env: {DEBUG: True, QUIET: FALSE, PLAIN: true}
        steps:
          true: {run: "printf 'from true'"}
          show:
            cmd: [sh, -c, 'echo "$DEBUG $QUIET $PLAIN $M $0" > seen.txt', False]
            matrix: {M: [TRUE]}
            depends_on: [true]
          read: {run: "cat > read.txt", stdin: true}
          allowed: {run: "exit 3", continue_on_error: True}
    """)
    assert (tmp_path / "seen.txt").read_text() == "True FALSE true TRUE False\n"
    assert (tmp_path / "read.txt").read_text() == "from true"
    assert result["allowed"].allowed_failure and result.exit_code() == 0
