"""What the scheduler starts and hears back from: a unit (a pipeline, or a lone step) and its sink."""

from __future__ import annotations

import signal
from collections.abc import Callable

from flowrun.engine.status import TIMEOUT_EXIT_CODE
from flowrun.events import OutputChunk, StepStatus
from flowrun.process.executor import MemberOutcome, PipelineHandle
from flowrun.records import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

    from flowrun.engine.scheduler import Scheduler

__all__ = ["ServiceSink", "Sink", "Unit", "condition_failed"]

OnDone = Callable[["Unit", tuple[MemberOutcome, ...]], None]


@record(slots=True)
class Unit:
    """A pipeline as the scheduler runs it: its members, slots, locks and the attempt under way."""

    index: int
    members: tuple[str, ...]
    slots: int
    locks: frozenset[str]
    attempt: int = 0
    handle: PipelineHandle | None = None
    cancelled: bool = False
    timed_out_by_workflow: bool = False
    pending_checks: list[str] = field(default_factory=list)
    running: tuple[str, ...] = ()
    retry_timer: asyncio.TimerHandle | None = None
    #: a handler of SPEC §9 (on_success, on_failure, finally): not stopped by the first interrupt or the deadline
    hook: bool = False

    def stopped(self, when: str) -> tuple[StepStatus, int | None, str]:
        """A member's status when the unit is stopped between processes: by the workflow timeout, or an interrupt."""
        if self.timed_out_by_workflow:
            return StepStatus.TIMED_OUT, TIMEOUT_EXIT_CODE, f"workflow timeout {when}"
        return StepStatus.CANCELLED, None, f"cancelled {when}"


class Sink:
    """Connects one launched pipeline back to the scheduler."""

    __slots__ = ("on_done", "scheduler", "unit")

    def __init__(self, scheduler: Scheduler, unit: Unit, on_done: OnDone) -> None:
        self.scheduler, self.unit, self.on_done = scheduler, unit, on_done

    def on_output(self, step: str, data: bytes) -> None:
        scheduler = self.scheduler
        scheduler.outbox.append(OutputChunk(step, data))
        scheduler.flush()

    def on_exit(self, outcomes: tuple[MemberOutcome, ...]) -> None:
        try:
            self.on_done(self.unit, outcomes)
        finally:
            self.scheduler.flush()


class ServiceSink(Sink):
    """A service's sink: its output also goes to its ``log:`` probe."""

    __slots__ = ()

    def on_output(self, step: str, data: bytes) -> None:
        scheduler = self.scheduler
        scheduler.outbox.append(OutputChunk(step, data))
        if scheduler.supervisor is not None:
            scheduler.supervisor.keeper.output(step, data)
        scheduler.flush()


def condition_failed(outcome: MemberOutcome) -> str:
    """Why an ``if:`` condition let its step be skipped."""
    if outcome.timed_out:
        return "if: condition timed out"
    if outcome.error is not None:
        return f"if: condition could not run ({outcome.error})"
    if outcome.signal is not None:
        return f"if: condition killed by {signal.Signals(outcome.signal).name}"
    return f"if: condition exited {outcome.exit_code}"
