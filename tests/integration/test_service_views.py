"""`list`, `graph`, `--dry-run`, `schema` and the plan cache know services (SPEC §8)."""

from __future__ import annotations

import json
from pathlib import Path

from flowrun.load import load
from flowrun.load.cache import read_cached
from flowrun.spec.runtime import step_data
from tests.integration.harness import cli, write

FILE = """
    steps:
      db:
        service: true
        run: exec sleep 100
        ready: {cmd: [pg_isready, -h, 127.0.0.1], interval: 100ms, timeout: 5s, probe_timeout: 1s}
      api:
        service: true
        cmd: [sleep, "100"]
        depends_on: [db]
        ready: {http: "http://127.0.0.1:8123/health"}
      test: {run: "true", depends_on: [api]}
"""


def test_list_graph_and_dry_run_mark_services(tmp_path: Path) -> None:
    write(tmp_path, FILE)
    listed = cli(tmp_path, "list").stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["db", "(service)"], ["api", "(service)"], ["test", "api"]]
    tree = cli(tmp_path, "graph").stdout
    assert "└── api (service)" in tree and "db (service)" in tree
    mermaid = cli(tmp_path, "graph", "--format", "mermaid").stdout
    assert '(["db"])' in mermaid and '["test"]' in mermaid
    dot = cli(tmp_path, "graph", "--format", "dot").stdout
    assert '"db" [shape=ellipse' in dot
    plan = cli(tmp_path, "up", "--dry-run").stdout
    assert "ready: cmd pg_isready -h 127.0.0.1" in plan and "ready: http http://127.0.0.1:8123/health" in plan


def test_the_schema_describes_services(tmp_path: Path) -> None:
    schema = json.loads(cli(tmp_path, "schema").stdout)
    step = schema["$defs"]["Step"]["properties"]
    assert "service" in step and "ready" in step
    assert set(schema["$defs"]["Ready"]["properties"]) == {
        "tcp", "http", "cmd", "run", "log", "interval", "timeout", "probe_timeout"}


def test_a_cached_plan_keeps_the_probe(tmp_path: Path) -> None:
    path = write(tmp_path, FILE.replace("exec sleep 100", "exit 0").replace('cmd: [sleep, "100"]', 'run: "true"')
                 .replace('{http: "http://127.0.0.1:8123/health"}', "{log: up}").replace("[pg_isready, -h, 127.0.0.1]",
                                                                                       "[\"true\"]"))
    cli(tmp_path, "up", "--output", "plain")  # writes the cache (the run itself fails: db exits)
    cached = read_cached(str(path), path.read_bytes())
    assert cached is not None
    for name, inst in load(path)._plan.instances.items():
        other = cached._plan.instances[name]
        assert step_data(inst.step) == step_data(other.step), name
        assert other.step.service == inst.step.service
        if inst.step.ready is not None:
            assert other.step.ready.probe == inst.step.ready.probe
            assert other.step.ready.interval == inst.step.ready.interval
