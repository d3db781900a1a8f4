"""Retry scheduling: how long a failed unit waits, then its relaunch once that wait is over.

The scheduler asks only when an attempt failed and the run may still retry it
(``Scheduler._retry_delay``). A unit stopped while it waits ends at once,
without its next attempt.
"""

from __future__ import annotations

import time

from flowrun.engine.status import Statuses
from flowrun.engine.units import Unit
from flowrun.events import StepFinished
from flowrun.process.loop import running_loop

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.scheduler import Scheduler

__all__ = ["Retries"]


class Retries:
    """The retries of one run."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def delay(self, unit: Unit, failed: list[str]) -> float | None:
        """The wait before the next attempt: the longest any failed member's ``retry:`` asks; None if none retries."""
        instances = self.scheduler.plan.instances
        best: float | None = None
        for m in failed:
            retry = instances[m].step.retry
            if retry is not None and unit.attempt < retry.attempts:
                delay = retry.delay * (retry.backoff ** (unit.attempt - 1))
                best = delay if best is None else max(best, delay)
        return best

    def later(self, unit: Unit, statuses: Statuses, delay: float) -> None:
        """Report the failed attempt (``will_retry``) and relaunch the unit after ``delay`` seconds."""
        s = self.scheduler
        for m, (status, code, reason) in statuses.items():
            s.outbox.append(StepFinished(m, status, code, unit.attempt, s.result.steps[m].started,
                                         time.time(), reason, will_retry=True, service=not unit.slots))
        s._note(unit.running[0], f"retrying in {delay:g}s (attempt {unit.attempt + 1})")
        unit.handle = None
        unit.retry_timer = running_loop().call_later(delay, self.relaunch, unit)

    def relaunch(self, unit: Unit) -> None:
        """The wait is over, or the unit was stopped during it (it ends without its next attempt)."""
        s = self.scheduler
        unit.retry_timer = None
        try:
            if unit.cancelled:
                s._finish_unit(unit, {m: unit.stopped("before its retry") for m in unit.running})
            else:
                s._launch(unit)
        finally:
            s.flush()
