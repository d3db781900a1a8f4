"""The run record every report file is built from, and ``RunRecorder``, which collects it from events.

``RunRecorder`` collects the events of one run (every attempt of every step) and,
when ``RunFinished`` arrives, hands the finished ``RunRecord`` to ``render``; the
JSON, JUnit and HTML reports subclass it. A report that cannot be written is
reported on stderr and does not change the run's exit code.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence

from flowrun.durations import elapsed
from flowrun.events import RunFinished, RunStarted, ServiceReady, StepFinished, StepStarted, StepStatus
from flowrun.records import field, record
from flowrun.report.base import Event
from flowrun.report.logs import log_file_name

__all__ = ["FINAL_STATES", "AttemptRecord", "RunRecord", "RunRecorder", "StepRecord", "critical_path",
           "release_time", "write_atomically"]

#: every final state, in the order reports list them
FINAL_STATES = ("success", "failed", "timed_out", "cancelled", "skipped", "cached")


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


@record(slots=True)
class AttemptRecord:
    """One try of a step: when it ran and how it ended."""

    attempt: int
    started: float
    ended: float | None = None
    status: StepStatus | None = None
    exit_code: int | None = None
    #: a service's seconds from this attempt's start to ready (None: never ready, or not a service)
    ready_after: float | None = None


@record(slots=True)
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
    #: a service (SPEC §8), and the seconds its last attempt took to be ready (None: never ready)
    service: bool = False
    ready_after: float | None = None
    #: what it set through ``$FLOWRUN_OUTPUT`` (SPEC §9), masked
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.history)

    @property
    def duration(self) -> float | None:
        return elapsed(self.started, self.ended)

    @property
    def ready_at(self) -> float | None:
        """When a service was ready (epoch seconds): its last attempt's start plus ``ready_after``."""
        if self.ready_after is None:
            return None
        start = self.history[-1].started if self.history else self.started
        return None if start is None else start + self.ready_after


@record
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
    #: the parameters' values (SPEC §9)
    params: dict[str, str] = field(default_factory=dict)

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
    """When ``pred`` let ``step`` start: its end (a dependency), the moment it was ready (a service),
    or its start (a pipe producer beside it)."""
    assert pred.ended is not None and pred.started is not None and step.started is not None
    ready = pred.ready_at
    if ready is not None and ready <= step.started + tolerance:
        return ready if pred.ended > step.started + tolerance else pred.ended
    return pred.ended if pred.ended <= step.started + tolerance else pred.started


def critical_path(record: RunRecord, dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """The chain of steps ending last, each started right when what it waited for released it.

    From the step that ended last, walk back to the predecessor (``depends_on`` or
    ``stdin`` producer) with the latest release, as long as the step started within
    50ms (or 1% of the run) of that release; a step that waited for a job slot or a
    lock ends the chain. Services are left out of the search for the last step: one
    ends when flowrun stops it, after the steps that needed it (it is on the chain
    as their predecessor, released when it was ready).
    """
    ran = {n: s for n, s in record.steps.items() if s.started is not None and s.ended is not None}
    if not ran:
        return []
    tolerance = max(0.05, 0.01 * record.duration)
    position = {n: i for i, n in enumerate(record.steps)}
    ends = [n for n in ran if not ran[n].service] or list(ran)
    chain = [max(ends, key=lambda n: (ran[n].ended, position[n]))]
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
    events = (RunStarted, StepStarted, ServiceReady, StepFinished, RunFinished)

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
                                    event.log_dir, event.jobs, steps={n: StepRecord(n) for n in event.steps},
                                    params=dict(event.params))
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
            if event.service:  # a new attempt is not ready yet
                step.service, step.ready_after = True, None
        elif isinstance(event, StepFinished):
            step = record.steps.get(event.step) or record.steps.setdefault(event.step, StepRecord(event.step))
            self._finished(step, event)
        elif isinstance(event, ServiceReady):
            self._ready(record, event)
        elif isinstance(event, RunFinished):
            self._close(record, event)
            try:
                self.write(self.render(record))
            except Exception as exc:  # a report must not turn a finished run into a traceback
                print(f"flowrun: could not write the {self.kind} {self.path}: {exc}", file=sys.stderr)

    @staticmethod
    def _ready(record: RunRecord, event: ServiceReady) -> None:
        """Kept from the event itself: a service still up when the run is interrupted may never report its end."""
        step = record.steps.get(event.step)
        if step is None:
            return
        step.service, step.ready_after = True, event.ready_after
        for attempt in reversed(step.history):
            if attempt.attempt == event.attempt:
                attempt.ready_after = event.ready_after
                break

    @staticmethod
    def _finished(step: StepRecord, event: StepFinished) -> None:
        if step.history and step.history[-1].ended is None:
            last = step.history[-1]
            last.ended = event.ended if event.ended is not None else time.time()
            last.status, last.exit_code = event.status, event.exit_code
            if event.ready_after is not None:
                last.ready_after = event.ready_after
        if event.will_retry:
            return
        step.status, step.exit_code, step.reason = event.status, event.exit_code, event.reason
        step.allowed_failure = event.allowed_failure
        if event.outputs:
            step.outputs = event.outputs
        if event.service:
            step.service = True
            if event.ready_after is not None:  # else keep what a ServiceReady said
                step.ready_after = event.ready_after
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

    def write(self, text: str | Iterable[str]) -> None:
        """Put the rendered report at ``path``, whole (readers never see half a file)."""
        write_atomically(self.path, text, self.private)
