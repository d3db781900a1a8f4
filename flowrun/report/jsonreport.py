"""``--json FILE``: the machine-readable run report (and the compact copy in each run's folder).

The document is ``{"schema": "flowrun.run-report", "version": 1, ...}``; its fields are
listed in docs/format.md (*Reports*) and checked by docs/run-report.schema.json.
Timestamps are given twice: ISO-8601 in UTC with milliseconds (``started``:
``2026-01-31T12:00:00.123Z``) and Unix epoch seconds (``started_epoch``); durations are
seconds. A new field may appear within a version; ``version`` changes when a field
is renamed, removed or changes meaning.

The run record the document is built from, and the recorder that collects it, are
in ``flowrun.report.record`` (re-exported here, where they used to live).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator

from flowrun.report.record import (
    AttemptRecord,
    RunRecord,
    RunRecorder,
    StepRecord,
    critical_path,
    write_atomically,
)

__all__ = ["SCHEMA_NAME", "SCHEMA_VERSION", "AttemptRecord", "JsonReport", "RunRecord", "RunRecorder", "StepRecord",
           "clean_text", "critical_path", "iso_utc", "write_atomically"]

SCHEMA_NAME = "flowrun.run-report"
SCHEMA_VERSION = 1



@functools.cache
def _cleaners() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(terminal escapes, control characters): compiled for the JUnit and HTML reports only."""
    return (re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])"),
            re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]"))


def clean_text(text: str) -> str:
    """Text safe for XML and HTML: terminal escape sequences and control characters removed."""
    ansi, control = _cleaners()
    return control.sub("", ansi.sub("", text.replace("\r\n", "\n")))


#: the last whole second formatted by ``iso_utc``: a report's timestamps mostly share it
_last_second: list[object] = [None, ""]


def iso_utc(epoch: float | None) -> str | None:
    """``2026-01-31T12:00:00.123Z`` for an epoch time (rounded to the millisecond), None for None."""
    return None if epoch is None else _stamp(epoch)[0]


def _times(started: float | None, ended: float | None) -> dict[str, object]:
    return {
        "started": iso_utc(started),
        "started_epoch": None if started is None else round(started, 3),
        "ended": iso_utc(ended),
        "ended_epoch": None if ended is None else round(ended, 3),
        "duration": None if started is None or ended is None else round(max(0.0, ended - started), 3),
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(max(0.0, value), 3)


def step_document(step: StepRecord) -> dict[str, object]:
    """One entry of the report's ``steps`` list."""
    times = _times(step.started, step.ended)
    history = []
    for a in step.history:  # one attempt usually: its times are the step's, formatted once
        same = a.started == step.started and a.ended == step.ended
        history.append({"attempt": a.attempt, "status": a.status, "exit_code": a.exit_code,
                        **(times if same else _times(a.started, a.ended))})
    return {
        "name": step.name,
        "status": step.status,  # a StrEnum: JSON writes its value
        "exit_code": step.exit_code,
        "attempts": step.attempts,
        **times,
        "log": step.log,
        "reason": step.reason,
        "allowed_failure": step.allowed_failure,
        "service": step.service,
        "ready_after": _seconds(step.ready_after),
        "outputs": step.outputs,
        "command": step.command,
        "history": history,
    }


def _run_document(record: RunRecord) -> dict[str, object]:
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "workflow": record.workflow,
        "file": record.file,
        "run_id": record.run_id,
        **_times(record.started, record.ended),
        "exit_code": record.exit_code,
        "interrupted_by": record.interrupted_by,
        "jobs": record.jobs,
        "log_dir": record.log_dir,
        "counts": record.counts(),
        "critical_path": record.critical_path,
        "params": record.params,
    }


def report_document(record: RunRecord) -> dict[str, object]:
    """The JSON document (version 1) for a finished run."""
    return {**_run_document(record), "steps": [step_document(s) for s in record.steps.values()]}


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: steps written per chunk: memory stays flat for 10,000 steps
_STEPS_PER_CHUNK = 256
#: JSON for a string (``json``'s own C escaping, as ``ensure_ascii=False`` writes it)
_string = json.encoder.encode_basestring


def _json_text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _json_number(value: float | None) -> str:
    return "null" if value is None else repr(value)  # json writes int and float through their repr


def _times_json(started: float | None, ended: float | None) -> str:
    """``_times`` as the inside of a JSON object.

    Numbers are written with three decimals from the millisecond the timestamp
    already has: the same values as ``round(x, 3)`` once read, without a float
    ``repr`` each (the slowest part of writing a step).
    """
    if started is None:
        start = '"started":null,"started_epoch":null'
    else:
        iso, epoch = _stamp(started)
        start = f'"started":"{iso}","started_epoch":{epoch}'
    if ended is None:
        end = '"ended":null,"ended_epoch":null'
    else:
        iso, epoch = _stamp(ended)
        end = f'"ended":"{iso}","ended_epoch":{epoch}'
    if started is None or ended is None:
        return f'{start},{end},"duration":null'
    return f'{start},{end},"duration":{max(0.0, ended - started):.3f}'


def _stamp(epoch: float) -> tuple[str, str]:
    """(``iso_utc(epoch)``, ``round(epoch, 3)`` as JSON text)."""
    second, milli = divmod(round(round(epoch, 3) * 1000), 1000)
    if _last_second[0] != second:
        _last_second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_last_second[1]}.{milli:03d}Z", f"{second}.{milli:03d}"


def step_json(step: StepRecord) -> str:
    """``step_document(step)`` as compact JSON, without building the dicts.

    The private run record is written for every run, one entry per step, at the
    end of the run: with thousands of steps, building and encoding the dicts was
    the largest part of that. The values go through ``json``'s own escaping;
    ``tests/unit/test_run_record_json.py`` checks the result against
    ``json.dumps(step_document(step))``.
    """
    times = _times_json(step.started, step.ended)
    history = ",".join(
        f'{{"attempt":{a.attempt},"status":{_json_text(a.status)},"exit_code":{_json_number(a.exit_code)},'
        f'{times if a.started == step.started and a.ended == step.ended else _times_json(a.started, a.ended)}}}'
        for a in step.history
    )
    return (f'{{"name":{_string(step.name)},"status":{_string(step.status)},'
            f'"exit_code":{_json_number(step.exit_code)},"attempts":{len(step.history)},{times},'
            f'"log":{_json_text(step.log)},"reason":{_json_text(step.reason)},'
            f'"allowed_failure":{"true" if step.allowed_failure else "false"},'
            f'"service":{"true" if step.service else "false"},'
            f'"ready_after":{"null" if step.ready_after is None else repr(_seconds(step.ready_after))},'
            f'"outputs":{_COMPACT.encode(step.outputs) if step.outputs else "{}"},'
            f'"command":{_json_text(step.command)},"history":[{history}]}}')


def compact_report_chunks(record: RunRecord) -> Iterator[str]:
    """The same document as compact JSON, a few hundred steps at a time: memory stays flat for 10,000 steps."""
    yield _COMPACT.encode(_run_document(record))[:-1] + ',"steps":['
    steps = iter(record.steps.values())
    separator = ""
    while chunk := list(itertools.islice(steps, _STEPS_PER_CHUNK)):
        yield separator + ",".join([step_json(s) for s in chunk])
        separator = ","
    yield "]}\n"


class JsonReport(RunRecorder):
    """Writes the ``flowrun.run-report`` JSON document when the run ends."""

    kind = "JSON report"

    def render(self, record: RunRecord) -> str | Iterable[str]:
        if self.private:  # the run folder's own copy: read by tools, compact and streamed
            return compact_report_chunks(record)
        return json.dumps(report_document(record), indent=2, ensure_ascii=False) + "\n"
