"""``--json FILE``: the machine-readable run report, and the run record every report file is built from.

The document is ``{"schema": "flowrun.run-report", "version": 1, ...}``; its fields are
listed in docs/format.md (*Reports*) and checked by docs/run-report.schema.json.
Timestamps are given twice: ISO-8601 in UTC with milliseconds (``started``:
``2026-01-31T12:00:00.123Z``) and Unix epoch seconds (``started_epoch``); durations are
seconds. A new field may appear within a version; ``version`` changes when a field
is renamed, removed or changes meaning.

``RunRecorder`` collects the events of one run (every attempt of every step) and,
when ``RunFinished`` arrives, hands the finished ``RunRecord`` to ``render``; the
JUnit and HTML reports subclass it. A report that cannot be written is reported
on stderr and does not change the run's exit code.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from flowrun.durations import elapsed
from flowrun.events import RunFinished, RunStarted, StepFinished, StepStarted, StepStatus
from flowrun.report.base import Event
from flowrun.report.logs import log_file_name

__all__ = ["SCHEMA_NAME", "SCHEMA_VERSION", "AttemptRecord", "JsonReport", "RunRecord", "RunRecorder", "StepRecord",
           "clean_text", "critical_path", "iso_utc", "write_atomically"]

SCHEMA_NAME = "flowrun.run-report"
SCHEMA_VERSION = 1
#: every final state, in the order reports list them
FINAL_STATES = ("success", "failed", "timed_out", "cancelled", "skipped", "cached")

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Text safe for XML and HTML: terminal escape sequences and control characters removed."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


#: the last whole second formatted by ``iso_utc``: a report's timestamps mostly share it
_last_second: list[object] = [None, ""]


def iso_utc(epoch: float | None) -> str | None:
    """``2026-01-31T12:00:00.123Z`` for an epoch time (rounded to the millisecond), None for None."""
    return None if epoch is None else _stamp(epoch)[0]


def write_atomically(path: str, text: str | Iterable[str], private: bool = False) -> None:
    """Write ``text`` to ``path`` (parent folders created) so readers never see half a file.

    ``private`` files (inside ``.flowrun/``) are created 0600.
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
        with open(fd, "w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(slots=True)
class AttemptRecord:
    """One try of a step: when it ran and how it ended."""

    attempt: int
    started: float
    ended: float | None = None
    status: StepStatus | None = None
    exit_code: int | None = None


@dataclass(slots=True)
class StepRecord:
    """One step over the whole run (all attempts)."""

    name: str
    status: StepStatus = StepStatus.PENDING
    exit_code: int | None = None
    started: float | None = None
    ended: float | None = None
    reason: str = ""
    allowed_failure: bool = False
    command: str | None = None
    log: str | None = None
    history: list[AttemptRecord] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.history)

    @property
    def duration(self) -> float | None:
        return elapsed(self.started, self.ended)


@dataclass
class RunRecord:
    """A finished run as the report files show it; ``steps`` is in plan order."""

    workflow: str
    run_id: str
    started: float
    file: str | None = None
    log_dir: str | None = None
    jobs: int = 0
    ended: float = 0.0
    exit_code: int = 0
    interrupted_by: str | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    #: see ``critical_path``; empty when the dependencies were not given
    critical_path: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    def counts(self) -> dict[str, int]:
        """Steps per final state (every state listed, zeros included)."""
        counts = dict.fromkeys(FINAL_STATES, 0)
        for status, n in collections.Counter(step.status for step in self.steps.values()).items():
            counts[status.value] = counts.get(status.value, 0) + n
        return counts


def release_time(pred: StepRecord, step: StepRecord, tolerance: float) -> float:
    """When ``pred`` let ``step`` start: its end (a dependency) or its start (a pipe producer beside it)."""
    assert pred.ended is not None and pred.started is not None and step.started is not None
    return pred.ended if pred.ended <= step.started + tolerance else pred.started


def critical_path(record: RunRecord, dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """The chain of steps ending last, each started right when what it waited for released it.

    From the step that ended last, walk back to the predecessor (``depends_on`` or
    ``stdin`` producer) with the latest release, as long as the step started within
    50ms (or 1% of the run) of that release; a step that waited for a job slot or a
    lock ends the chain.
    """
    ran = {n: s for n, s in record.steps.items() if s.started is not None and s.ended is not None}
    if not ran:
        return []
    tolerance = max(0.05, 0.01 * record.duration)
    position = {n: i for i, n in enumerate(record.steps)}
    chain = [max(ran, key=lambda n: (ran[n].ended, position[n]))]
    on_chain = set(chain)
    while True:
        step = ran[chain[-1]]
        releases = [(release_time(ran[p], step, tolerance), p) for p in dependencies.get(chain[-1], ())
                    if p in ran and p not in on_chain]
        if not releases:
            break
        release, best = max(releases, key=lambda pair: pair[0])
        if abs(step.started - release) > tolerance:  # type: ignore[operator]
            break
        chain.append(best)
        on_chain.add(best)
    return chain[::-1]


class RunRecorder:
    """Builds a RunRecord from events; writes ``render(record)`` to ``path`` when the run ends."""

    #: how error messages name this report
    kind = "report"
    events = (RunStarted, StepStarted, StepFinished, RunFinished)

    def __init__(self, path: str, *, dependencies: Mapping[str, Sequence[str]] | None = None,
                 workflow_file: str | None = None, private: bool = False) -> None:
        self.path = os.path.abspath(path)
        self.private = private
        self.dependencies = None if dependencies is None else dict(dependencies)
        self.workflow_file = os.path.abspath(workflow_file) if workflow_file else None
        self.record: RunRecord | None = None

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.record = RunRecord(event.workflow, event.run_id, event.at or time.time(), self.workflow_file,
                                    event.log_dir, event.jobs, steps={n: StepRecord(n) for n in event.steps})
            return
        record = self.record
        if record is None:
            return
        if isinstance(event, StepStarted):
            step = record.steps.get(event.step) or record.steps.setdefault(event.step, StepRecord(event.step))
            step.history.append(AttemptRecord(event.attempt, event.at))
            step.command = event.command
            if step.started is None:
                step.started = event.at
        elif isinstance(event, StepFinished):
            step = record.steps.get(event.step) or record.steps.setdefault(event.step, StepRecord(event.step))
            self._finished(step, event)
        elif isinstance(event, RunFinished):
            self._close(record, event)
            try:
                write_atomically(self.path, self.render(record), self.private)
            except Exception as exc:  # a report must not turn a finished run into a traceback
                print(f"flowrun: could not write the {self.kind} {self.path}: {exc}", file=sys.stderr)

    @staticmethod
    def _finished(step: StepRecord, event: StepFinished) -> None:
        if step.history and step.history[-1].ended is None:
            last = step.history[-1]
            last.ended = event.ended if event.ended is not None else time.time()
            last.status, last.exit_code = event.status, event.exit_code
        if event.will_retry:
            return
        step.status, step.exit_code, step.reason = event.status, event.exit_code, event.reason
        step.allowed_failure = event.allowed_failure
        if step.started is None:
            step.started = event.started
        step.ended = event.ended if step.started is not None else None

    def _close(self, record: RunRecord, event: RunFinished) -> None:
        record.ended = time.time()
        record.exit_code, record.interrupted_by = event.exit_code, event.interrupted_by
        try:  # one listing instead of a stat per step
            logged = set(os.listdir(record.log_dir)) if record.log_dir else set()
        except OSError:
            logged = set()
        for name, step in record.steps.items():
            if not step.status.is_final:
                step.status = event.statuses.get(name, step.status)
            for attempt in step.history:
                if attempt.ended is None:
                    attempt.ended = record.ended
            if step.started is not None and step.ended is None:
                step.ended = record.ended
            if record.log_dir:
                file = log_file_name(name)
                step.log = os.path.join(record.log_dir, file) if file in logged else None
        if self.dependencies is not None:
            record.critical_path = critical_path(record, self.dependencies)

    def render(self, record: RunRecord) -> str | Iterable[str]:
        raise NotImplementedError


def _times(started: float | None, ended: float | None) -> dict[str, object]:
    return {
        "started": iso_utc(started),
        "started_epoch": None if started is None else round(started, 3),
        "ended": iso_utc(ended),
        "ended_epoch": None if ended is None else round(ended, 3),
        "duration": None if started is None or ended is None else round(max(0.0, ended - started), 3),
    }


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
