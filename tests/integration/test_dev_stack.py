"""A selection of only services is a dev stack: up until interrupted, then stopped cleanly (SPEC §8)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.harness import SERVER, flowrun_in_background, free_port, wait_for, write
from tests.integration.test_examples import copy_examples


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_the_example_dev_stack_runs_until_interrupted(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    folder = copy_examples(tmp_path) / "services"
    with flowrun_in_background(folder, "web", "cache") as (proc, out):
        wait_for(lambda: out.read_text().count("ready after") == 2, timeout=30, what="both services ready")
        assert proc.poll() is None, "a dev stack stays up"
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=20) == code
    text = out.read_text()
    assert "test-web" not in text and "test-cache" not in text, "a dev stack runs only the services and what they need"
    assert f"interrupted by {sig.name}" in text
    for name in ("web", "cache"):
        assert any(line.split()[:2] == [name, "success"] for line in text.splitlines()), text


def test_a_dev_stack_ends_with_exit_1_when_a_service_fails(tmp_path: Path) -> None:
    port = free_port()
    write(tmp_path, f"""
        steps:
          api:
            service: true
            run: exec {SERVER} tcp {port} --exit-after 0.5
            ready: {{tcp: "127.0.0.1:{port}"}}
          db: {{service: true, run: exec sleep 100}}
    """)
    with flowrun_in_background(tmp_path) as (proc, out):
        assert proc.wait(timeout=20) == 1
    text = out.read_text()
    assert "exited while still needed" in text
    assert any(line.split()[:2] == ["db", "success"] for line in text.splitlines()), text


def test_an_interrupted_dev_stack_stops_dependent_services_first(tmp_path: Path) -> None:
    db, api = free_port(), free_port()
    write(tmp_path, f"""
        steps:
          db:
            service: true
            run: exec {SERVER} tcp {db} --term-mark db-term
            ready: {{tcp: "127.0.0.1:{db}"}}
          api:
            service: true
            run: exec {SERVER} tcp {api} --term-mark api-term
            depends_on: [db]
            ready: {{tcp: "127.0.0.1:{api}"}}
    """)
    with flowrun_in_background(tmp_path, "api", "--json", "report.json") as (proc, out):
        wait_for(lambda: out.read_text().count("ready after") == 2, timeout=30, what="both services ready")
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    import json

    steps = {s["name"]: s for s in json.loads((tmp_path / "report.json").read_text())["steps"]}
    assert steps["db"]["status"] == steps["api"]["status"] == "success"
    api_end, db_term = steps["api"]["ended_epoch"], float((tmp_path / "db-term").read_text())
    assert float((tmp_path / "api-term").read_text()) <= api_end + 0.001 <= db_term + 0.002
