"""Loading: YAML 1.2 scalars, positions, defaults, matrix, dotenv, merge keys."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowrun
from flowrun.errors import WorkflowError, WorkflowNotFound
from flowrun.graph import plan_for
from flowrun.load import find_workflow, load_text


def errors_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        load_text(text, "wf.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_yaml_12_booleans_and_spelled_numbers() -> None:
    wf = load_text(
        """
env: {NORWAY: no, ON: on, VER: 1.10, OCT: 0o17, T: true, BIG: 1e3}
steps:
  yes: {run: yes}
  b: {cmd: [echo, 1.50, true]}
""",
        "wf.yaml",
    )
    assert wf.env == {"NORWAY": "no", "ON": "on", "VER": "1.10", "OCT": "0o17", "T": "true", "BIG": "1e3"}
    assert wf.steps["yes"].run == "yes"
    assert wf.steps["b"].cmd == ["echo", "1.50", "true"]


def test_durations_retry_and_signals() -> None:
    wf = load_text(
        """
timeout: 1h30m
steps:
  a: {run: x, timeout: 500ms, retry: 2, kill_signal: INT, kill_grace: 2}
  b: {run: x, timeout: 90, retry: {attempts: 3, delay: 2s, backoff: 2}}
""",
        "wf.yaml",
    )
    a, b = wf.steps["a"], wf.steps["b"]
    assert wf.timeout == 5400
    assert a.timeout == 0.5 and a.retry is not None and a.retry.attempts == 3 and a.kill_signal == 2
    assert a.kill_grace == 2
    assert b.timeout == 90 and b.retry is not None and (b.retry.attempts, b.retry.delay, b.retry.backoff) == (3, 2, 2)


def test_defaults_apply_where_a_step_is_silent() -> None:
    wf = load_text(
        """
defaults: {timeout: 10m, shell: sh, env: {A: "1", B: "1"}}
steps:
  a: {run: x}
  b: {run: x, timeout: 1s, shell: bash, env: {B: "2"}}
""",
        "wf.yaml",
    )
    plan = plan_for(wf)
    a, b = plan.instances["a"].step, plan.instances["b"].step
    assert (a.timeout, a.shell, a.env) == (600, "sh", {"A": "1", "B": "1"})
    assert (b.timeout, b.shell, b.env) == (1, "bash", {"A": "1", "B": "2"})


def test_matrix_expands_and_dependents_wait_for_all() -> None:
    wf = load_text(
        """
steps:
  test: {run: x, matrix: {py: ["3.11", 3.12], os: [linux, mac]}}
  report: {run: x, depends_on: [test]}
""",
        "wf.yaml",
    )
    plan = plan_for(wf)
    names = [n for n in plan.order if n.startswith("test")]
    assert names == [
        "test[py=3.11,os=linux]",
        "test[py=3.11,os=mac]",
        "test[py=3.12,os=linux]",
        "test[py=3.12,os=mac]",
    ]
    assert set(plan.dependencies("report")) == set(names)
    assert plan.instances["test[py=3.12,os=mac]"].matrix == {"py": "3.12", "os": "mac"}


def test_merge_keys_like_compose() -> None:
    wf = load_text(
        """
steps:
  base: &base {run: echo base, timeout: 5s, shell: sh}
  a:
    <<: *base
    shell: bash
""",
        "wf.yaml",
    )
    assert wf.steps["a"].timeout == 5 and wf.steps["a"].shell == "bash" and wf.steps["a"].run == "echo base"


def test_pipelines_and_target_selection() -> None:
    wf = load_text(
        """
steps:
  lint: {run: x}
  gen: {run: x}
  a: {run: x, stdin: gen}
  b: {run: x, stdin: gen}
  report: {run: x, depends_on: [a, lint]}
  other: {run: x}
""",
        "wf.yaml",
    )
    plan = plan_for(wf)
    assert ("gen", "a", "b") in plan.pipelines
    sub = plan.select(["report"])
    assert set(sub.order) == {"lint", "gen", "a", "b", "report"}
    with pytest.raises(flowrun.UsageError, match="did you mean 'report'"):
        plan.select(["reprt"])


def test_unknown_field_points_at_key_with_suggestion() -> None:
    assert errors_of("steps:\n  a:\n    run: x\n    depend_on: [b]\n") == [
        "wf.yaml:4:5: unknown field 'depend_on' in steps.a — did you mean 'depends_on'?"
    ]


def test_wrong_value_points_at_value() -> None:
    assert errors_of("steps:\n  a:\n    run: x\n    timeout: forever\n")[0].startswith("wf.yaml:4:14: ")


def test_every_error_of_a_file_at_once() -> None:
    found = errors_of("jobs: 0\nsteps:\n  a: {run: x, retry: -1}\n  b: {cmd: []}\n  c: {run: x, bogus: 1}\n")
    assert len(found) == 4
    assert [f.split(":")[1] for f in found] == ["1", "3", "4", "5"]


def test_unknown_step_suggestion_and_cycle_path() -> None:
    assert errors_of("steps:\n  build: {run: x}\n  test: {run: x, depends_on: [biuld]}\n") == [
        "wf.yaml:3:31: step 'test' depends on unknown step 'biuld' — did you mean 'build'?"
    ]
    assert errors_of(
        "steps:\n  a: {run: x, depends_on: {b: success}}\n  b: {run: x, depends_on: {a: completed}}\n"
    ) == ["wf.yaml:2:28: dependency cycle: a -> b -> a"]


def test_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport A=1\nB='two words'\nC=\"$HOME\"\nD=x # note\n\nE=\n"
    )
    (tmp_path / "flowrun.yaml").write_text("dotenv: [.env]\nsteps:\n  a: {run: env}\n")
    wf = flowrun.load(tmp_path / "flowrun.yaml")
    assert wf.dotenv_values == {"A": "1", "B": "two words", "C": "$HOME", "D": "x", "E": ""}


def test_default_file_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkflowNotFound, match=r"flowrun\.yaml"):
        find_workflow()
    (tmp_path / "flowrun.yml").write_text("steps: {a: {run: x}}\n")
    assert find_workflow() == "flowrun.yml"
    (tmp_path / "flowrun.yaml").write_text("steps: {a: {run: x}}\n")
    assert find_workflow() == "flowrun.yaml"


def test_bom_is_fine() -> None:
    wf = load_text(b"\xef\xbb\xbfsteps:\n  a: {run: x}\n", "wf.yaml")
    assert list(wf.steps) == ["a"]


def test_long_step_names_and_safe_log_names() -> None:
    from flowrun.report.logs import log_file_name

    assert errors_of("steps:\n  " + "a" * 101 + ": {run: x}\n")[0].startswith("wf.yaml:2:3: invalid step name")
    assert log_file_name("build") == "build.log"
    weird = log_file_name("t[path=../../etc,x=/y]")
    assert "/" not in weird and ".." not in weird.split("-")[0][:2]
    assert log_file_name("t[a=1]") != log_file_name("t_a=1_")
