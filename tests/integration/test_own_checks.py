"""The repository's own flowrun.yaml: it loads, lists the checks, and its sources are the tracked files.

Nothing here runs the checks: that would run this suite from inside itself.
"""

from __future__ import annotations

from pathlib import Path

import flowrun
from flowrun.engine.globs import expand
from flowrun.load import plan_of
from tests.integration.harness import cli

REPO = Path(__file__).resolve().parents[2]
CHECKS = ["integration", "ruff", "unit", "examples[example=hello.yaml]", "examples[example=pipes.yaml]",
          "examples[example=matrix.yaml]", "examples[example=incremental/flowrun.yaml]"]


def test_flowrun_list_shows_the_checks() -> None:
    done = cli(REPO, "list")  # the default file of a checkout
    assert done.returncode == 0, done.stderr
    steps = [line.split()[0] for line in done.stdout.split("\n\nparams:")[0].splitlines() if line.strip()]
    assert steps == CHECKS
    assert "python  default .venv/bin/python" in done.stdout


def test_the_checks_run_in_parallel_and_all_have_sources() -> None:
    workflow = flowrun.load(REPO / "flowrun.yaml")
    plan = plan_of(workflow)
    assert not any(plan.dependencies(name) for name in plan.order), "independent checks run side by side"
    for name, step in workflow.steps.items():
        assert step.sources, f"{name} has no sources: a second run could not be cached"


#: what running the checks leaves in a checkout: a source among these would change on every run
LEFT_BEHIND = ("__pycache__", ".pyc", ".out/", "/build/", ".pytest_cache", ".hypothesis", ".venv/", ".egg-info")


def test_each_glob_matches_and_none_matches_what_a_run_leaves_behind() -> None:
    workflow = flowrun.load(REPO / "flowrun.yaml")
    for name, step in workflow.steps.items():
        for pattern in step.sources:
            matched = expand(str(REPO), [pattern])
            assert matched, f"{name}: {pattern} matches nothing"
            generated = [p for p in matched if any(part in "/" + p for part in LEFT_BEHIND)]
            assert not generated, f"{name}: {pattern} matches {generated[:5]}"
