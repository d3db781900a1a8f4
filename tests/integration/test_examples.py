"""Every example in workflows/ validates and runs (in a copy, so the repo stays clean)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.harness import cli

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
EXAMPLES = sorted(
    [p.relative_to(WORKFLOWS) for p in WORKFLOWS.glob("*.yaml")]
    + [p.parent.relative_to(WORKFLOWS) for p in WORKFLOWS.glob("*/flowrun.yaml")]
)


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_validates_and_runs(example: Path, tmp_path: Path) -> None:
    copy = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copy, ignore=shutil.ignore_patterns(".flowrun", ".out", "build", "__pycache__"))
    checked = cli(tmp_path, "validate", "-f", str(copy / example))
    assert checked.returncode == 0, checked.stderr
    ran = cli(tmp_path, "up", "-f", str(copy / example), "--output", "plain")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "flowrun:" in ran.stdout and "ok" in ran.stdout.splitlines()[-1]


def test_there_are_examples_of_each_kind() -> None:
    assert Path("ci-package") in EXAMPLES and len(EXAMPLES) >= 4
