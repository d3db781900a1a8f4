"""`flowrun up --junit/--json/--html`: real runs, reports parsed back and validated against their schemas."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from flowrun.events import StepStatus
from flowrun.report.jsonreport import RunRecord, StepRecord, critical_path
from tests.integration.harness import SLEEPIT, cli, flowrun_cmd, write

ROOT = Path(__file__).resolve().parents[2]
JUNIT_XSD = ROOT / "tests" / "data" / "junit.xsd"
JSON_SCHEMA = ROOT / "docs" / "run-report.schema.json"
CHROMIUM = "/usr/bin/chromium"
REPORT_ARGS = ("--junit", "out/junit.xml", "--json", "out/report.json", "--html", "out/report.html")

MIXED = """
    name: mixed
    steps:
      ok: {run: "echo hello"}
      broken:
        run: |
          for i in $(seq 1 30); do echo "line $i"; done
          echo '<script>alert(1)</script> & "quotes"'
          exit 3
      slow: {run: "sleep 30", timeout: 300ms}
      after-broken: {run: "echo never", depends_on: [broken]}
      not-here: {run: "echo never", if: "false"}
      flaky: {run: "echo try >> tries; [ $(wc -l < tries) -ge 2 ]", retry: 1}
      optional: {run: "echo optional output; exit 4", continue_on_error: true}
      cleanup: {run: "echo cleaning", depends_on: {broken: completed}}
"""


def _junit(path: Path) -> ET.Element:
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    return ET.parse(path).getroot()


def _json(path: Path) -> dict:  # type: ignore[type-arg]
    document = json.loads(path.read_text())
    jsonschema.Draft202012Validator(json.loads(JSON_SCHEMA.read_text())).validate(document)
    return document  # type: ignore[no-any-return]


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in root.iter("testcase")}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of MIXED (exit 1) shared by the tests that read its reports; returns its folder."""
    tmp = tmp_path_factory.mktemp("mixed")
    write(tmp, MIXED)
    proc = cli(tmp, "up", "--keep-going", "-j", "4", "--output", "plain", *REPORT_ARGS)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return tmp


def test_schemas_are_valid_schemas() -> None:
    xmlschema.XMLSchema(str(JUNIT_XSD))
    jsonschema.Draft202012Validator.check_schema(json.loads(JSON_SCHEMA.read_text()))


def test_junit_report_of_a_mixed_run(mixed: Path) -> None:
    root = _junit(mixed / "out" / "junit.xml")
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "mixed"
    counts = [suite.get(key) for key in ("tests", "failures", "errors", "skipped")]
    assert counts == ["8", "1", "1", "2"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
    cases = _cases(suite)
    assert list(cases) == ["ok", "broken", "slow", "after-broken", "not-here", "flaky", "optional", "cleanup"]
    assert all(c.get("classname") == "mixed" and float(c.get("time", "-1")) >= 0 for c in cases.values())
    assert float(cases["slow"].get("time", "0")) >= 0.25

    failure = cases["broken"].find("failure")
    assert failure is not None and failure.get("type") == "failed" and failure.get("message") == "exit code 3"
    tail = (failure.text or "").splitlines()
    assert len(tail) == 20 and tail[0] == "line 12" and tail[-1] == '<script>alert(1)</script> & "quotes"'

    error = cases["slow"].find("error")
    assert error is not None and error.get("type") == "timed_out"
    assert cases["after-broken"].find("skipped") is not None
    skipped = cases["not-here"].find("skipped")
    assert skipped is not None and "if:" in skipped.get("message", "")
    for name in ("ok", "flaky", "optional", "cleanup"):
        assert cases[name].find("failure") is None and cases[name].find("error") is None, name
    note = cases["optional"].findtext("system-out") or ""
    assert "continue_on_error" in note and "optional output" in note

    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["attempts:flaky"] == "2" and properties["attempts:ok"] == "1"
    assert properties["attempts:not-here"] == "0" and properties["exit_code"] == "1"


def test_json_report_of_a_mixed_run(mixed: Path) -> None:
    doc = _json(mixed / "out" / "report.json")
    assert (doc["schema"], doc["version"], doc["workflow"]) == ("flowrun.run-report", 1, "mixed")
    assert doc["file"] == str(mixed / "flowrun.yaml")
    assert (doc["exit_code"], doc["interrupted_by"]) == (1, None)
    assert doc["started_epoch"] <= doc["ended_epoch"] and doc["duration"] >= 0.25
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == ["ok", "broken", "slow", "after-broken", "not-here", "flaky", "optional", "cleanup"]
    assert {n: s["status"] for n, s in steps.items()} == {
        "ok": "success", "broken": "failed", "slow": "timed_out", "after-broken": "skipped",
        "not-here": "skipped", "flaky": "success", "optional": "failed", "cleanup": "success",
    }
    assert doc["counts"] == {"success": 3, "failed": 2, "timed_out": 1, "cancelled": 0, "skipped": 2, "cached": 0}
    assert (steps["broken"]["exit_code"], steps["slow"]["exit_code"]) == (3, 124)
    assert steps["optional"]["allowed_failure"] and not steps["broken"]["allowed_failure"]
    assert "line 30" in Path(steps["broken"]["log"]).read_text()
    skipped = steps["not-here"]
    assert skipped["attempts"] == 0 and skipped["started"] is None and skipped["duration"] is None
    assert "if:" in skipped["reason"] and steps["after-broken"]["reason"]
    flaky = steps["flaky"]
    assert flaky["attempts"] == 2
    assert [(a["attempt"], a["status"]) for a in flaky["history"]] == [(1, "failed"), (2, "success")]
    assert flaky["history"][0]["ended_epoch"] <= flaky["history"][1]["started_epoch"]
    assert flaky["started_epoch"] == flaky["history"][0]["started_epoch"]
    for step in doc["steps"]:
        if step["started"] is not None:
            assert doc["started_epoch"] - 0.01 <= step["started_epoch"] <= step["ended_epoch"] <= doc["ended_epoch"]


def test_html_report_of_a_mixed_run(mixed: Path) -> None:
    page = (mixed / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # self-contained: nothing to fetch
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    for name in ("ok", "broken", "slow", "after-broken", "not-here", "flaky", "optional", "cleanup"):
        assert f'data-step="{name}"' in page
    assert page.count('class="step-row') == 8 and page.count('class="gantt-row') == 8
    assert page.count('class="bar s-failed retried"') == 1  # flaky's first attempt
    assert "Failed · exit 1" in page and 'id="log-1"' in page  # broken's log tail


def test_interrupted_run_still_writes_every_report(tmp_path: Path) -> None:
    write(tmp_path, f"""
        steps:
          quick: {{run: "echo done"}}
          long: {{run: "exec {SLEEPIT} handle --sleep 100", depends_on: [quick]}}
          later: {{run: "echo never", depends_on: [long]}}
    """)
    proc = subprocess.Popen(flowrun_cmd("up", "--output", "plain", *REPORT_ARGS), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    watchdog = threading.Timer(30, proc.kill)  # a hung run must not hang the test on readline
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "long" in line and "| ready" in line:
                break
        else:
            raise AssertionError("no ready line in:\n" + "".join(seen))
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + output
    doc = _json(tmp_path / "out" / "report.json")
    assert (doc["exit_code"], doc["interrupted_by"]) == (130, "SIGINT")
    statuses = {s["name"]: s["status"] for s in doc["steps"]}
    assert statuses == {"quick": "success", "long": "cancelled", "later": "skipped"}
    cases = _cases(_junit(tmp_path / "out" / "junit.xml"))
    error = cases["long"].find("error")
    assert error is not None and error.get("type") == "cancelled" and "ready" in (error.text or "")
    assert cases["later"].find("skipped") is not None
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Interrupted by SIGINT · exit 130" in page and 'data-step="long"' in page


def test_critical_path_follows_dependencies_and_pipes(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          first: {run: "sleep 0.4"}
          side: {run: "sleep 0.1"}
          produce: {run: "sleep 0.3; echo data", depends_on: [first]}
          consume: {run: "cat", stdin: produce}
          last: {run: "sleep 0.1", depends_on: [consume, side]}
    """)
    proc = cli(tmp_path, "up", "-j", "4", "--html", "report.html", "--json", "report.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "report.html").read_text()
    marked = re.findall(r'<tr class="step-row[^"]*" data-step="([^"]+)" data-critical="true"', page)
    assert marked == ["first", "produce", "consume", "last"]
    assert "first → produce → consume → last" in page
    assert _json(tmp_path / "report.json")["critical_path"] == ["first", "produce", "consume", "last"]


def _record(**steps: tuple[float, float]) -> RunRecord:
    record = RunRecord("w", "id", started=0.0, ended=max(e for _, e in steps.values()))
    for name, (start, end) in steps.items():
        record.steps[name] = StepRecord(name, StepStatus.SUCCESS, 0, start, end)
    return record


def test_critical_path_stops_where_a_step_waited_for_a_slot() -> None:
    record = _record(a=(0, 1), b=(0, 3), c=(3.01, 4), d=(4.0, 5))
    # c waited for b (a slot), not for its dependency a: the chain is d <- c only
    assert critical_path(record, {"c": ["a"], "d": ["c"]}) == ["c", "d"]
    assert critical_path(record, {"c": ["a", "b"], "d": ["c"]}) == ["b", "c", "d"]
    assert critical_path(RunRecord("w", "id", started=0.0), {}) == []


def test_report_paths_are_relative_to_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    write(tmp_path / "wf", "steps:\n  a: {run: 'echo a'}\n")
    proc = cli(tmp_path, "up", "-f", "wf/flowrun.yaml", "--json", "deep/er/r.json", "--junit", "deep/r.xml")
    assert proc.returncode == 0, proc.stderr
    assert _json(tmp_path / "deep" / "er" / "r.json")["steps"][0]["status"] == "success"
    assert _cases(_junit(tmp_path / "deep" / "r.xml"))["a"].find("failure") is None
    assert not (tmp_path / "wf" / "deep").exists()


def test_unwritable_report_is_an_error_message_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  a: {run: 'echo a'}\n")
    (tmp_path / "taken.json").mkdir()
    proc = cli(tmp_path, "up", "--json", "taken.json", "--junit", "ok.xml")
    assert proc.returncode == 0
    assert "could not write the JSON report" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "ok.xml").exists()


def test_secrets_stay_masked_in_every_report(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        env: {TOKEN: "hunter2-very-secret"}
        steps:
          leak: {run: "echo token=$TOKEN; echo literal hunter2-very-secret; exit 1"}
    """)
    proc = cli(tmp_path, "up", *REPORT_ARGS)
    assert proc.returncode == 1
    for name in ("junit.xml", "report.json", "report.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "hunter2-very-secret" not in text, name
        assert ("literal ***" if name == "report.json" else "token=***") in text, name


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="flowrun-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1200,800", *args],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(mixed: Path) -> None:
    url = (mixed / "out" / "report.html").as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    for name in ("ok", "broken", "slow", "after-broken", "not-here", "flaky", "optional", "cleanup"):
        assert re.search(rf'<tr class="step-row [^"]*" data-step="{name}"', dom.stdout), name
        assert re.search(rf'<g class="gantt-row [^"]*" data-step="{name}"', dom.stdout), name
    assert 'data-critical="true"' in dom.stdout and "critical path" in dom.stdout
    shot = mixed / "shot.png"
    rendered = _chromium(f"--screenshot={shot}", url)
    assert rendered.returncode == 0, rendered.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_run_starts_before_any_of_its_steps(tmp_path: Path) -> None:
    """Reporters hear of the run after its first steps started; its start time must still come first."""
    steps = "".join(f"  s{i}: {{run: 'echo {i}'}}\n" for i in range(30))
    (tmp_path / "flowrun.yaml").write_text(f"jobs: 30\nsteps:\n{steps}")
    report = tmp_path / "r.json"
    assert cli(tmp_path, "up", "--json", str(report), "--junit", str(tmp_path / "r.xml")).returncode == 0
    document = json.loads(report.read_text())
    started = document["started_epoch"]
    assert all(step["started_epoch"] >= started for step in document["steps"])
    assert all(step["ended_epoch"] <= document["ended_epoch"] for step in document["steps"])
    suite = ET.parse(tmp_path / "r.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert all(float(case.get("time")) <= float(suite.get("time")) for case in suite.iter("testcase"))
