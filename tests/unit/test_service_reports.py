"""What every reporter shows for a service (SPEC §8): fed the events of a run, read back as a user sees them.

The run: ``db`` (a service, ready after 310ms, needs SIGKILL to stop), ``lint`` (a
step beside it), ``api`` (a service needing db, ready after 500ms) and ``test``
(a step needing api). ``FAILED_RUN``: a service never ready, and its dependent skipped.
"""

from __future__ import annotations

import io
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import xmlschema

from flowrun.events import (
    OutputChunk,
    RunFinished,
    RunStarted,
    ServiceReady,
    StepFinished,
    StepStarted,
    StepStatus,
)
from flowrun.report.base import Event, Reporter, Reporters
from flowrun.report.board import Board
from flowrun.report.github import GitHubPrinter
from flowrun.report.html import HtmlReport
from flowrun.report.jsonreport import JsonReport
from flowrun.report.junit import JUnitReport
from flowrun.report.live import LiveView
from flowrun.report.plain import PlainPrinter
from flowrun.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
JSON_SCHEMA = ROOT / "docs" / "run-report.schema.json"
JUNIT_XSD = ROOT / "tests" / "data" / "junit.xsd"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")
DEPENDENCIES = {"db": [], "lint": [], "api": ["db"], "test": ["api"]}
KILLED = "stopped with SIGKILL: it outlived kill_grace after SIGTERM"


def service_run(t0: float) -> list[Event]:
    """The events of the run in the module docstring, ``t0`` its start."""
    return [
        RunStarted("stack", "run-1", ("db", "lint", "api", "test"), None, 2, at=t0),
        StepStarted("db", 1, "exec postgres -p 54321", None, t0 + 0.01, service=True),
        StepStarted("lint", 1, "ruff check", 30.0, t0 + 0.01),
        OutputChunk("db", b"LOG: listening on 54321\n"),
        ServiceReady("db", 1, t0 + 0.32, 0.31),
        StepStarted("api", 1, "python3 -m http.server 8123", None, t0 + 0.33, service=True),
        OutputChunk("lint", b"All checks passed!\n"),
        StepFinished("lint", StepStatus.SUCCESS, 0, 1, t0 + 0.01, t0 + 0.40),
        ServiceReady("api", 1, t0 + 0.83, 0.5),
        StepStarted("test", 1, "pytest", None, t0 + 0.84),
        OutputChunk("db", b"LOG: connection received\n"),
        OutputChunk("test", b"4 passed\n"),
        StepFinished("test", StepStatus.SUCCESS, 0, 1, t0 + 0.84, t0 + 2.84),
        StepFinished("api", StepStatus.SUCCESS, 143, 1, t0 + 0.33, t0 + 2.90, service=True, ready_after=0.5),
        StepFinished("db", StepStatus.SUCCESS, 137, 1, t0 + 0.01, t0 + 8.0, reason=KILLED, service=True,
                     ready_after=0.31),
        RunFinished(0, statuses=dict.fromkeys(("db", "lint", "api", "test"), StepStatus.SUCCESS)),
    ]


def failed_run(t0: float) -> list[Event]:
    """A service that never got ready: failed; what needs it is skipped."""
    return [
        RunStarted("stack", "run-2", ("mock", "test"), None, 2, at=t0),
        StepStarted("mock", 1, "mock-server", None, t0, service=True),
        OutputChunk("mock", b"booting\n"),
        StepFinished("mock", StepStatus.FAILED, 143, 1, t0, t0 + 2.0, reason="not ready within 2s", service=True),
        StepFinished("test", StepStatus.SKIPPED, None, 0, None, None, reason="needs mock, which failed"),
        RunFinished(1, statuses={"mock": StepStatus.FAILED, "test": StepStatus.SKIPPED}),
    ]


def feed(reporter: Reporter, events: Iterable[Event]) -> None:
    """As the engine does: through ``Reporters``, which honours each reporter's ``events``."""
    route = Reporters([reporter])
    for event in events:
        route.handle(event)


def printed(tmp_path: Path, make: type[PlainPrinter], events: list[Event], **flags: bool) -> list[str]:
    """The lines a console printer wrote (it writes to a file descriptor)."""
    out = tmp_path / "console.txt"
    with out.open("wb") as stream:
        feed(make(stream, **flags), events)
    return out.read_text().splitlines()


def past() -> float:
    """A start time such that the whole run (8s) lies in the past: reports end the run at ``time.time()``."""
    return time.time() - 8.5


# -- console -----------------------------------------------------------------------------------------


def test_plain_prints_a_ready_line_like_a_status_line(tmp_path: Path) -> None:
    lines = printed(tmp_path, PlainPrinter, service_run(past()))
    assert lines[:2] == ["db   | LOG: listening on 54321", "db   | -- ready after 310ms"]
    assert "api  | -- ready after 500ms" in lines
    assert lines.index("api  | -- ready after 500ms") < lines.index("test | 4 passed")
    # a stopped service's end line says how it was stopped (its exit code is recorded, it is a success)
    assert any(line.startswith(f"db   | -- success (exit 137): {KILLED} in 8.0s") for line in lines), lines


def test_quiet_prints_no_ready_line(tmp_path: Path) -> None:
    assert not any("ready" in line for line in printed(tmp_path, PlainPrinter, service_run(past()), quiet=True))


def test_github_closes_a_service_group_when_it_is_ready(tmp_path: Path) -> None:
    lines = printed(tmp_path, GitHubPrinter, service_run(past()))
    assert lines[:4] == ["::group::db", "db   | LOG: listening on 54321", "::endgroup::", "db   | -- ready after 310ms"]
    # lint ran beside db: its group came whole once db's closed, not at the end of the run
    assert lines[4:8] == ["::group::lint", "lint | All checks passed!", "::endgroup::", "lint | -- success in 390ms"]
    assert lines.index("::group::test") < lines.index("db   | LOG: connection received")  # no group holds it
    assert lines[-1].startswith("db   | -- success (exit 137)")
    opened = [line for line in lines if line.startswith("::group::")]
    assert opened == ["::group::db", "::group::lint", "::group::api", "::group::test"]
    assert lines.count("::endgroup::") == 4


def test_live_view_shows_starting_then_ready_with_uptime() -> None:
    now = time.time()
    view = LiveView(io.StringIO(), quiet=True)  # quiet: no live region of its own, the state is kept
    view.handle(RunStarted("stack", "run-1", ("db", "lint"), None, 2, at=now - 20))
    view.handle(StepStarted("db", 1, "exec postgres", None, now - 12.6, service=True))
    view.handle(StepStarted("lint", 1, "ruff check", 30.0, now - 12.6))

    def board() -> list[str]:
        console = io.StringIO()
        from rich.console import Console

        Console(file=console, width=100, color_system=None).print(Board(view))
        return console.getvalue().splitlines()

    db, lint = board()[:2]
    assert re.search(r"db\s+12\.\ds\s+starting\s*$", db), db
    assert "timeout in 17" in lint  # an ordinary step keeps its time left
    view.handle(ServiceReady("db", 1, now - 12.3, 0.3))
    db, lint = board()[:2]
    assert re.search(r"● db\s+12\.\ds\s+ready · up 12\.[3-9]s\s*$", db), db
    assert "starting" not in db and "timeout" not in db and "timeout in 17" in lint


def test_live_view_scrolls_the_ready_line_above_the_region() -> None:
    stream = io.StringIO()
    view = LiveView(stream)
    feed(view, service_run(past()))
    screen = ANSI.sub("", stream.getvalue())
    assert "db   | -- ready after 310ms" in screen and "api  | -- ready after 500ms" in screen


# -- summary -----------------------------------------------------------------------------------------


def test_summary_gives_the_time_to_ready_and_notes_a_sigkill() -> None:
    out = io.StringIO()
    feed(Summary(out), service_run(past()))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["step", "status", "duration", "exit", "attempts"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert re.fullmatch(r"db\s+success \(ready 310ms\)\s+8\.0s\s+137\s+1", rows["db"])
    assert re.fullmatch(r"api\s+success \(ready 500ms\)\s+2\.6s\s+143\s+1", rows["api"])
    assert rows["lint"].split() == ["lint", "success", "390ms", "0", "1"]
    assert lines[5] == f"note: service db {KILLED}"  # right under the table
    assert sum("SIGKILL" in line for line in lines) == 1  # api stopped on its kill_signal: no note
    assert lines[-1] == "flowrun: 4 success — ok"


def test_summary_notes_a_sigkill_even_when_quiet_and_in_the_rich_table() -> None:
    quiet = io.StringIO()
    feed(Summary(quiet, quiet=True), service_run(past()))
    assert quiet.getvalue().splitlines()[0] == f"note: service db {KILLED}"
    rich = io.StringIO()
    feed(Summary(rich, rich_table=True), service_run(past()))
    text = ANSI.sub("", rich.getvalue())
    assert re.search(r"│ db\s+│ success \(ready 310ms\)\s+│", text), text
    assert f"note: service db {KILLED}" in text


def test_summary_of_a_service_never_ready() -> None:
    out = io.StringIO()
    feed(Summary(out), failed_run(past()))
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"mock\s+failed \(never ready\)\s+2\.0s\s+143\s+1", lines[1]), lines
    assert "--- mock: failed (not ready within 2s)" in lines
    assert not any(line.startswith("note:") for line in lines)


def test_the_table_of_a_run_without_services_is_unchanged() -> None:
    t0 = past()
    out = io.StringIO()
    feed(Summary(out), [
        RunStarted("w", "r", ("build", "check"), None, 1, at=t0),
        StepFinished("build", StepStatus.SUCCESS, 0, 1, t0, t0 + 1.5),
        StepFinished("check", StepStatus.FAILED, 2, 2, t0 + 1.5, t0 + 1.75, reason="exit code 2",
                     allowed_failure=True),
        RunFinished(0),
    ])
    assert out.getvalue() == (
        "step   status            duration  exit  attempts\n"
        "build  success           1.5s      0     1\n"
        "check  failed (allowed)  250ms     2     2\n"
        "\nflowrun: 1 failed, 1 success — ok\n"
    )


# -- report files ------------------------------------------------------------------------------------


def test_json_report_has_service_and_ready_after(tmp_path: Path) -> None:
    schema = jsonschema.Draft202012Validator(json.loads(JSON_SCHEMA.read_text()))
    for private in (False, True):  # --json, and the compact copy in the run folder
        path = tmp_path / f"report-{private}.json"
        feed(JsonReport(str(path), dependencies=DEPENDENCIES, private=private), service_run(past()))
        document = json.loads(path.read_text())
        schema.validate(document)
        steps = {s["name"]: s for s in document["steps"]}
        assert {n: (s["service"], s["ready_after"]) for n, s in steps.items()} == {
            "db": (True, 0.31), "lint": (False, None), "api": (True, 0.5), "test": (False, None)}
        assert (steps["db"]["status"], steps["db"]["exit_code"], steps["db"]["reason"]) == ("success", 137, KILLED)
        # test waited for api to be ready, api for db: the chain runs through their ready times
        assert document["critical_path"] == ["db", "api", "test"]
    path = tmp_path / "failed.json"
    feed(JsonReport(str(path)), failed_run(past()))
    document = json.loads(path.read_text())
    schema.validate(document)
    assert [(s["service"], s["ready_after"]) for s in document["steps"]] == [(True, None), (False, None)]


def test_the_schema_refuses_a_bad_ready_after() -> None:
    schema = json.loads(JSON_SCHEMA.read_text())
    step = jsonschema.Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"],
                                            "$ref": "#/$defs/step"})
    base = {"name": "db", "status": "success", "exit_code": 0, "attempts": 1, "started": None,
            "started_epoch": None, "ended": None, "ended_epoch": None, "duration": None, "log": None,
            "reason": "", "allowed_failure": False, "command": "x", "history": []}
    assert step.is_valid({**base, "service": True, "ready_after": 0.31})
    assert not step.is_valid({**base, "service": True, "ready_after": -1})
    assert not step.is_valid({**base, "service": "yes", "ready_after": None})


def test_junit_gives_the_time_to_ready(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    feed(JUnitReport(str(path)), service_run(past()))
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["db", "lint", "api", "test"]  # services are testcases like steps
    assert all(case.find("failure") is None and case.find("error") is None for case in cases.values())
    assert "ready after: 0.310s" in (cases["db"].findtext("system-out") or "")
    assert "ready after" not in (cases["lint"].findtext("system-out") or "")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (properties["ready_after:db"], properties["ready_after:api"]) == ("0.310", "0.500")
    assert "ready_after:lint" not in properties

    feed(JUnitReport(str(path)), failed_run(past()))
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    case = next(c for c in ET.parse(path).getroot().iter("testcase") if c.get("name") == "mock")
    failure = case.find("failure")
    assert failure is not None and "not ready within 2s" in failure.get("message", "")
    assert "ready after: never" in (case.findtext("system-out") or "")


def _bars(page: str, step: str) -> list[tuple[str, float, float]]:
    """(class, x, width) of each bar in ``step``'s timeline row."""
    row = re.search(rf'<g class="gantt-row[^"]*" data-step="{step}".*?</g>', page, flags=re.S)
    assert row is not None, step
    bars = re.findall(r'<rect class="(bar [^"]+)" x="([\d.]+)"(?: y="[\d.]+")? width="([\d.]+)"', row.group(0))
    return [(c, float(x), float(w)) for c, x, w in bars]


def test_html_draws_a_service_bar_in_two_parts(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReport(str(path), dependencies=DEPENDENCIES), service_run(past()))
    page = path.read_text()
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    (starting, sx, sw), (ready, rx, rw) = _bars(page, "db")
    assert (starting, ready) == ("bar s-success starting", "bar s-success ready")
    assert abs(sx + sw - rx) < 0.2 and rw > 20 * sw  # ready from where starting ends: 310ms of 8s
    assert [c for c, _, _ in _bars(page, "lint")] == ["bar s-success"]  # a step: one bar, as before
    assert 'class="hatch"' in page and 'id="starting"' in page and "service starting" in page
    db_row = re.search(r'<tr class="step-row[^"]*" data-step="db".*?</tr>', page, flags=re.S)
    assert db_row is not None and "ready after 310ms" in db_row.group(0)
    lint_row = re.search(r'<tr class="step-row[^"]*" data-step="lint".*?</tr>', page, flags=re.S)
    assert lint_row is not None and "ready" not in lint_row.group(0)


def test_html_bar_of_a_service_never_ready_is_all_starting(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReport(str(path)), failed_run(past()))
    page = path.read_text()
    assert [c for c, _, _ in _bars(page, "mock")] == ["bar s-failed starting"]
    assert "never ready" in page and "service starting" in page
