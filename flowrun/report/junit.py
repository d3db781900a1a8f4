"""``--junit FILE``: JUnit XML, one ``<testcase>`` per step, as GitLab and Jenkins read it.

The document is valid against the Jenkins ``junit-10.xsd`` layout (a copy of the
constraints is in tests/data/junit.xsd):

- ``<testsuites>`` holds one ``<testsuite name=WORKFLOW>``; its ``tests``/``failures``/
  ``errors``/``skipped`` count steps, ``time`` is the run's wall-clock seconds and
  ``timestamp`` its start (UTC, ``YYYY-MM-DDTHH:MM:SS`` as Ant writes it).
- ``<testcase classname=WORKFLOW name=STEP time=SECONDS>`` per step, in plan order.
- ``failed`` → ``<failure type="failed" message="exit code N">`` with the last 20 log
  lines; ``timed_out``/``cancelled`` → ``<error type=STATUS>`` with the same tail;
  ``skipped`` → ``<skipped message=REASON/>``. A failure allowed by
  ``continue_on_error`` is not a failure (the run passed): its ``<system-out>`` says so.
- ``<system-out>`` of every step that ran: status, attempts, exit code, log path;
  for a service (a testcase like any step) also ``ready after: 0.310s`` or
  ``ready after: never``.
- The schema allows ``<properties>`` only on the suite, so attempts are suite
  properties named ``attempts:STEP``, next to ``run_id``, ``exit_code`` and
  ``interrupted_by``; each service adds ``ready_after:STEP`` (seconds, or ``never``).
"""

from __future__ import annotations

import os
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from flowrun.events import StepStatus
from flowrun.report.jsonreport import clean_text
from flowrun.report.record import RunRecord, RunRecorder, StepRecord
from flowrun.report.summary import TAIL_LINES, log_tail

__all__ = ["JUnitReport", "junit_xml"]

_ERRORS = (StepStatus.TIMED_OUT, StepStatus.CANCELLED)


def _seconds(value: float | None) -> str:
    return f"{max(0.0, value or 0.0):.3f}"


def _ready(step: StepRecord) -> str:
    """A service's seconds to ready, written as ``time`` is, or ``never``."""
    return "never" if step.ready_after is None else _seconds(step.ready_after)


def _suite_name(workflow: str) -> str:
    """A workflow without ``name:`` is known by its path: use its file (or folder) name."""
    if os.sep not in workflow:
        return workflow
    stem = os.path.splitext(os.path.basename(workflow))[0]
    if stem in ("flowrun", ""):
        stem = os.path.basename(os.path.dirname(workflow)) or stem
    return stem or "flowrun"


def _tail_text(step: StepRecord) -> str:
    lines = log_tail(step.log, TAIL_LINES)
    if not lines:
        return "(no output)"
    return clean_text("\n".join(lines))


def _outcome(case: ET.Element, step: StepRecord) -> str | None:
    """Add the failure/error/skipped child; return a note for system-out, if any."""
    status = step.status
    reason = clean_text(step.reason)
    if step.allowed_failure:
        code = "" if step.exit_code is None else f" (exit code {step.exit_code})"
        return (f"{status.value}{code}, allowed by continue_on_error: not counted as a failure\n"
                f"--- last log lines ---\n{_tail_text(step)}")
    if status is StepStatus.FAILED:
        message = f"exit code {step.exit_code}" if step.exit_code is not None else (reason or "failed")
        if reason and reason != message:
            message += f" ({reason})"
        ET.SubElement(case, "failure", message=message, type="failed").text = _tail_text(step)
    elif status in _ERRORS:
        message = reason or status.value.replace("_", " ")
        ET.SubElement(case, "error", message=message, type=status.value).text = _tail_text(step)
    elif status is StepStatus.SKIPPED:
        ET.SubElement(case, "skipped", message=reason or "skipped")
    elif not status.is_final:
        ET.SubElement(case, "skipped", message=f"not run ({status.value})")
    return None


def _system_out(step: StepRecord, note: str | None) -> str | None:
    if step.attempts == 0 and note is None:
        return None
    lines = [f"status: {step.status.value}" + (" (allowed failure)" if step.allowed_failure else "")]
    lines.append(f"attempts: {step.attempts}")
    if step.service:
        lines.append("ready after: never" if step.ready_after is None else f"ready after: {_ready(step)}s")
    if step.exit_code is not None:
        lines.append(f"exit code: {step.exit_code}")
    if step.log:
        lines.append(f"log: {step.log}")
    if note:
        lines += ["", note]
    return clean_text("\n".join(lines))


def junit_xml(record: RunRecord) -> str:
    """The JUnit XML document for a finished run."""
    name = clean_text(_suite_name(record.workflow))
    steps = list(record.steps.values())
    failures = sum(1 for s in steps if s.status is StepStatus.FAILED and not s.allowed_failure)
    errors = sum(1 for s in steps if s.status in _ERRORS and not s.allowed_failure)
    skipped = sum(1 for s in steps if s.status is StepStatus.SKIPPED or not s.status.is_final)
    counts = {"tests": str(len(steps)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", name=name, time=_seconds(record.duration), **counts)
    timestamp = datetime.fromtimestamp(record.started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(root, "testsuite", name=name, **counts, skipped=str(skipped),
                          time=_seconds(record.duration), timestamp=timestamp, hostname=socket.gethostname(),
                          id=record.run_id)
    if record.file:
        suite.set("file", record.file)
    props = ET.SubElement(suite, "properties")
    values = [("run_id", record.run_id), ("exit_code", str(record.exit_code))]
    if record.interrupted_by:
        values.append(("interrupted_by", record.interrupted_by))
    if record.log_dir:
        values.append(("log_dir", record.log_dir))
    values += [(f"attempts:{s.name}", str(s.attempts)) for s in steps]
    values += [(f"ready_after:{s.name}", _ready(s)) for s in steps if s.service]
    for key, value in values:
        ET.SubElement(props, "property", name=clean_text(key), value=clean_text(value))
    for step in steps:
        case = ET.SubElement(suite, "testcase", classname=name, name=clean_text(step.name),
                             time=_seconds(step.duration))
        out = _system_out(step, _outcome(case, step))
        if out:
            ET.SubElement(case, "system-out").text = out
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class JUnitReport(RunRecorder):
    """Writes JUnit XML (one testcase per step) when the run ends."""

    kind = "JUnit report"

    def render(self, record: RunRecord) -> str:
        return junit_xml(record)
