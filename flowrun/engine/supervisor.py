"""The scheduler's hands for services (SPEC §8): start them, mark them ready, stop them.

``ServiceKeeper`` (engine/services.py) decides; the ``Supervisor`` carries its
decisions out through the scheduler's own units, events and stop rules. The
scheduler has one only when the plan has a service.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial

from flowrun.engine.prepare import TAG_VAR, launch_spec
from flowrun.engine.services import ServiceKeeper
from flowrun.engine.units import Unit
from flowrun.events import FINAL_FAILURES, ServiceReady, StepStatus
from flowrun.graph import Plan
from flowrun.process.executor import LaunchSpec, MemberOutcome
from flowrun.process.loop import running_loop

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.scheduler import Scheduler

__all__ = ["Supervisor"]


class Supervisor:
    """Services' part of one run."""

    def __init__(self, scheduler: Scheduler, targets: Iterable[str]) -> None:
        self.scheduler = scheduler
        self.keeper = ServiceKeeper(scheduler.plan, _dev_stack(scheduler.plan, targets))
        for name in self.keeper.lives:
            scheduler.result.steps[name].service = True

    def start_ready(self) -> None:
        """Start the service units whose conditions hold: no job slot needed; one nothing needs is skipped."""
        scheduler, keeper = self.scheduler, self.keeper
        state = scheduler.state
        batch, state.ready_services = state.ready_services, []
        blocked = []
        for index in batch:
            if state.started[index]:
                continue
            unit = scheduler._unit(index)
            name = unit.members[0]
            if not keeper.wanted(name):
                state.take(index)
                scheduler._finish_members(unit, {name: (StepStatus.SKIPPED, None, keeper.unwanted_reason(name))})
            elif unit.locks & scheduler.held_locks:
                blocked.append(index)
            else:
                scheduler._start(unit)
        state.ready_services[:0] = blocked

    def launched(self, unit: Unit, now: float) -> None:
        name = unit.running[0]
        self.scheduler.result.steps[name].ready_after = None
        self.keeper.launched(
            name, unit.attempt, now, executor=self.scheduler.local, probe_spec=partial(self._probe_spec, name),
            on_ready=partial(self._ready, name, unit.attempt), on_not_ready=partial(self._not_ready, unit),
            render=self.scheduler.dataflow.render_text)

    def _probe_spec(self, name: str) -> LaunchSpec:
        """A ``cmd``/``run`` probe: the service's environment and folder, bounded by ``probe_timeout``."""
        s = self.scheduler
        inst = s.plan.instances[name]
        ready = inst.step.ready
        spec = launch_spec(s.workflow, s.plan, inst, s.run_id, timeout=ready.probe_timeout,
                           script=ready.run or "", env_base=s.base_env, base_dir=s.base_dir)
        if ready.cmd is not None:
            spec.argv = tuple(ready.cmd)
        # its own tag: killing a probe's leftovers must not reach the service it probes
        tag = f"{s.run_id}/{name}/ready-probe"
        spec.env.maps[0][TAG_VAR] = tag  # type: ignore[attr-defined]
        spec.tag = (TAG_VAR, tag)
        return spec

    def _ready(self, name: str, attempt: int) -> None:
        s = self.scheduler
        try:
            now = time.time()
            after = self.keeper.became_ready(name, attempt, now)
            if after is None:  # that attempt is over, or nothing needs it any more
                return
            s.result.steps[name].ready_after = after
            s.dataflow.collect(name, attempt)  # what it wrote to $FLOWRUN_OUTPUT before it was ready
            s.outbox.append(ServiceReady(name, attempt, now, after))
            s._apply(s.state.service_ready(name))
            s._pump()
            s._check_done()
        finally:
            s.flush()

    @staticmethod
    def _not_ready(unit: Unit) -> None:
        """``ready.timeout`` passed: stop it; its exit makes it failed (and maybe retried)."""
        if unit.handle is not None:
            unit.handle.cancel()

    def ended(self, step: str) -> None:
        """A step reached its final state: stop the services nothing needs any more."""
        self._free(self.keeper.ended(step))

    def run_stops(self) -> None:
        """The run stops (fail fast, an interrupt, the workflow timeout): the dev stack lets go."""
        if self.keeper.holds:
            self._free(self.keeper.release_holds())

    def handlers_done(self) -> None:
        """The handlers have ended: they no longer need the services."""
        self._free(self.keeper.handlers_done())

    def _free(self, services: list[str]) -> None:
        """Stop these services once the current callback is done (never from inside the scheduler's loops)."""
        if services:
            loop = running_loop()
            for name in services:
                loop.call_soon(self._stop, name)

    def _stop(self, name: str) -> None:
        s = self.scheduler
        unit = s.running.get(s.plan.pipeline_of[name])
        if unit is None:  # not started: it is skipped when its turn comes
            return
        try:
            if self.keeper.stopping(name):
                s._cancel(unit, force=False)
        finally:
            s.flush()

    def exited(self, unit: Unit, outcome: MemberOutcome) -> None:
        s = self.scheduler
        name = unit.running[0]
        status, retryable = self.keeper.exited(name, outcome, interrupted=s.result.interrupted_by is not None)
        statuses = {name: status}
        failed = [name] if retryable and status[0] in FINAL_FAILURES and status[0] is not StepStatus.CANCELLED else []
        delay = s._retry_delay(unit, failed)
        if delay is not None:
            s._retry_later(unit, statuses, delay)
            return
        s._finish_unit(unit, statuses, {name: outcome.ended})


def _dev_stack(plan: Plan, targets: Iterable[str]) -> set[str]:
    """The services a dev stack holds until the run stops: the selection, when it is nothing but services."""
    selected = plan.resolve_targets(targets) if targets else set(plan.instances)
    if all(plan.instances[name].step.service for name in selected):
        return selected
    return set()
