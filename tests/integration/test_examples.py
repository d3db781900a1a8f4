"""Every example in workflows/ validates and runs (in a copy, so the repo stays clean)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.harness import cli, free_port

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
#: the ports the services example listens on; a test run gives it free ones instead
SERVICE_PORTS = ("18123", "18124")
EXAMPLES = sorted(
    [p.relative_to(WORKFLOWS) for p in WORKFLOWS.glob("*.yaml")]
    + [p.parent.relative_to(WORKFLOWS) for p in WORKFLOWS.glob("*/flowrun.yaml")]
)


def copy_examples(tmp_path: Path) -> Path:
    """The examples in a temp folder, the services example moved to ports free now."""
    copy = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copy, ignore=shutil.ignore_patterns(".flowrun", ".out", "build", "__pycache__"))
    services = copy / "services" / "flowrun.yaml"
    text = services.read_text()
    for port in SERVICE_PORTS:
        assert port in text, port
        text = text.replace(port, str(free_port()))
    services.write_text(text)
    return copy


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_validates_and_runs(example: Path, tmp_path: Path) -> None:
    copy = copy_examples(tmp_path)
    checked = cli(tmp_path, "validate", "-f", str(copy / example))
    assert checked.returncode == 0, checked.stderr
    ran = cli(tmp_path, "up", "-f", str(copy / example), "--output", "plain")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "flowrun:" in ran.stdout and "ok" in ran.stdout.splitlines()[-1]


def test_there_are_examples_of_each_kind() -> None:
    assert Path("ci-package") in EXAMPLES and Path("services") in EXAMPLES and len(EXAMPLES) >= 5
