"""What may end a unit before its processes start: ``if:`` conditions, a value it cannot be given, its cache.

Each ``if:`` runs as a process of its own before its step's unit launches. A
condition that fails skips its step and the steps the step pipes into; the rest
of the unit still starts. The scheduler hands a unit here only when it has a
condition left to run, or was stopped while one ran. A unit that cannot be
given an output it reads fails, and one that is up to date (SPEC §10) ends
``cached``, without starting: both end on the next loop turn, outside the loop
that was starting it.
"""

from __future__ import annotations

import time

from flowrun.engine.prepare import launch_spec
from flowrun.engine.status import Statuses
from flowrun.engine.units import Sink, Unit, condition_failed
from flowrun.events import StepStatus
from flowrun.process.executor import MemberOutcome, PipelineSpec
from flowrun.process.loop import running_loop

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.scheduler import Scheduler

__all__ = ["Checks"]


class Checks:
    """The ``if:`` conditions of one run."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def next(self, unit: Unit) -> None:
        """Run the unit's next condition; with none left, launch the unit."""
        s = self.scheduler
        if unit.cancelled:  # stopped while its if: conditions ran: the step was under way
            s._finish_unit(unit, {m: unit.stopped("during its if: condition") for m in unit.running})
            return
        if unit.pending_checks:
            name = unit.pending_checks[0]
            inst = s.plan.instances[name]
            spec = launch_spec(s.workflow, s.plan, inst, s.run_id,
                               timeout=s._timeout_for(name), script=inst.step.if_,
                               env_base=s.base_env, base_dir=s.base_dir)
            unit.handle = s.executor.launch(PipelineSpec((spec,)), Sink(s, unit, self._done))
            return
        s._launch(unit)

    def _done(self, unit: Unit, outcomes: tuple[MemberOutcome, ...]) -> None:
        s = self.scheduler
        name = unit.pending_checks.pop(0)
        outcome = outcomes[0]
        if outcome.exit_code != 0 and not unit.cancelled:
            downstream = self._pipe_downstream(name, unit.running)
            why = condition_failed(outcome)
            skipped = {name: (StepStatus.SKIPPED, None, why)}
            skipped.update({m: (StepStatus.SKIPPED, None, f"its producer {name!r} was skipped ({why})")
                            for m in downstream})
            s._finish_members(unit, skipped)
            unit.running = tuple(m for m in unit.running if m not in skipped)
            unit.pending_checks = [m for m in unit.pending_checks if m not in skipped]
            if not unit.running:
                s._release(unit)
                return
        self.next(unit)

    def _pipe_downstream(self, name: str, members: tuple[str, ...]) -> list[str]:
        """The members that read ``name``'s stdout, directly or through other members."""
        out, todo = [], [name]
        while todo:
            for consumer in self.scheduler.plan.consumers(todo.pop()):
                if consumer in members:
                    out.append(consumer)
                    todo.append(consumer)
        return out

    def cannot_start(self, unit: Unit, name: str, why: str) -> None:
        """A member cannot be given what it reads: the unit fails before any of its processes start."""
        s = self.scheduler
        now = time.time()
        statuses: Statuses = {m: (StepStatus.FAILED, None, why if m == name else f"{name!r} could not start ({why})")
                              for m in unit.running}
        for m in unit.running:
            record = s.result.steps[m]
            record.attempts = unit.attempt
            record.started = record.started or now
        running_loop().call_soon(self._end_unstarted, unit, statuses, now)

    def cached(self, unit: Unit, statuses: Statuses) -> None:
        """The unit's step is up to date (SPEC §10): it ends ``cached`` without starting."""
        running_loop().call_soon(self._end_unstarted, unit, statuses, time.time())

    def _end_unstarted(self, unit: Unit, statuses: Statuses, now: float) -> None:
        s = self.scheduler
        try:
            s._finish_unit(unit, statuses, now)  # type: ignore[arg-type]
        finally:
            s.flush()
