"""Command-line and API edges a user hits: option clashes, bad job counts, long descriptions, retries."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowrun
from flowrun.errors import UsageError
from tests.integration.harness import cli, write


def test_quiet_and_verbose_together_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: 'true'}}\n")
    proc = cli(tmp_path, "up", "-q", "-v")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5])
def test_the_api_refuses_a_job_count_the_cli_refuses(tmp_path: Path, jobs: object) -> None:
    workflow = flowrun.load(write(tmp_path, "steps: {a: {run: 'touch ran'}}\n"))
    with pytest.raises(UsageError):
        flowrun.run(workflow, jobs=jobs, handle_signals=False)  # type: ignore[arg-type]
    assert not (tmp_path / "ran").exists()


def test_list_shows_the_first_line_of_a_long_description(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          a:
            run: "true"
            description: |
              Build the thing.
              With many details nobody reads in a list.
    """)
    assert cli(tmp_path, "list").stdout.splitlines() == ["a  Build the thing."]


def test_a_retry_line_does_not_read_as_a_delay(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: 'exit 1', retry: {attempts: 2, delay: 50ms}}}\n")
    proc = cli(tmp_path, "up", "--output", "plain")
    first = next(line for line in proc.stdout.splitlines() if "will retry" in line)
    assert first.endswith(", will retry") and " in " in first


def test_dry_run_masks_secrets(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        env: {TOKEN: hunter2-s3cr3t}
        steps:
          push: {cmd: [echo, "token=hunter2-s3cr3t"]}
    """)
    proc = cli(tmp_path, "up", "--dry-run")
    assert proc.returncode == 0 and "token=***" in proc.stdout and "hunter2" not in proc.stdout


def test_two_reports_into_one_file_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: 'touch ran'}}\n")
    proc = cli(tmp_path, "up", "--json", "out", "--junit", "./out")
    assert proc.returncode == 2 and "--junit and --json name the same file" in proc.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(("args", "said"), [
    (["up", "--output", "plian"], "unknown output 'plian' — did you mean 'plain'?"),
    (["graph", "--format", "mermeid"], "unknown format 'mermeid' — did you mean 'mermaid'?"),
    (["graph", "--format", "svg"], "unknown format 'svg' — expected 'tree', 'mermaid', 'dot'"),
])
def test_a_word_outside_an_options_set_gets_a_did_you_mean(tmp_path: Path, args: list[str], said: str) -> None:
    write(tmp_path, "steps: {a: {run: 'true'}}")
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr
