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


def test_the_release_example_passes_values_on_and_reports_a_failure(tmp_path: Path) -> None:
    folder = copy_examples(tmp_path) / "release"
    ok = cli(folder, "up", "--output", "plain", "-p", "version=1.2.3", "-p", "channel=stable", "--json", "ok.json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (folder / "dist" / "stable" / "greeter-1.2.3.txt").exists()
    assert not (folder / "dist" / "greeter-1.2.3.txt").exists(), "finally cleaned up"
    assert "published greeter-1.2.3.txt to stable" in ok.stdout
    broken = cli(folder, "up", "--output", "plain", "-p", "version=2.0.0", "-p", "break=test")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "the release did not succeed (failed); failed: test" in broken.stdout
    assert "cleaned up (failed)" in broken.stdout
    assert not (folder / "dist" / "beta").exists(), "nothing was published"
    bad = cli(folder, "up", "-p", "version=1.2.3", "-p", "chanel=stable")
    assert bad.returncode == 2 and "did you mean 'channel'?" in bad.stderr


def test_the_release_plan_shows_handlers_params_and_the_outputs_read(tmp_path: Path) -> None:
    folder = copy_examples(tmp_path) / "release"
    plan = cli(folder, "up", "--dry-run", "-p", "version=3.1.4").stdout
    assert "reads: steps.stamp.outputs.artifact" in plan
    assert "finally (handler): python3 release.py clean" in plan
    assert "version=3.1.4" in plan and "channel=beta" in plan
    listed = cli(folder, "list").stdout
    assert "on_failure (handler)" in listed and "channel  default beta   beta, stable" in listed


def test_the_incremental_example_is_all_cached_the_second_time(tmp_path: Path) -> None:
    folder = copy_examples(tmp_path) / "incremental"
    first = cli(folder, "up", "--output", "plain")
    assert first.returncode == 0, first.stdout + first.stderr
    second = cli(folder, "up", "--output", "plain")
    assert second.returncode == 0 and second.stdout.strip().endswith("flowrun: 4 cached — ok"), second.stdout
    text = folder / "src" / "one.txt"
    text.write_text(text.read_text().replace("delta\n", "delta \n"))  # the same words and first line
    third = cli(folder, "up", "--output", "plain", "--json", "third.json")
    assert third.returncode == 0, third.stdout
    import json

    statuses = {s["name"]: s["status"] for s in json.loads((folder / "third.json").read_text())["steps"]}
    # words and titles read src/ and run; both leave the same bytes: count and report are cut off
    assert statuses == {"words": "success", "count": "cached", "titles": "success", "report": "cached"}
    history = cli(folder, "history")
    assert history.returncode == 0 and len(history.stdout.strip().splitlines()) >= 4
