"""The scheduler: ready units → job slots and locks → executor → events.

It is callback-driven (no coroutine per step, no polling): a unit starts the
moment the executor reports that the last thing it waited for ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from flowrun.engine.checks import Checks
from flowrun.engine.dataflow import RESULTS_VAR, DataFlow
from flowrun.engine.interrupts import Interrupts
from flowrun.engine.prepare import base_env, describe, launch_spec
from flowrun.engine.result import RunResult, StepResult
from flowrun.engine.retries import Retries
from flowrun.engine.state import Decision, RunState
from flowrun.engine.status import Statuses, member_statuses
from flowrun.engine.units import ServiceSink, Sink, Unit
from flowrun.events import RunFinished, RunStarted, SchedulerNote, StepFinished, StepStarted, StepStatus
from flowrun.graph import Plan
from flowrun.process.executor import Executor, MemberOutcome, PipelineSpec
from flowrun.process.loop import running_loop
from flowrun.report.base import Event, Reporter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

    from flowrun.engine.finale import Finale
    from flowrun.engine.incremental import Incremental
    from flowrun.engine.supervisor import Supervisor
    from flowrun.spec.model import Workflow

__all__ = ["Scheduler"]

_NO_LOCKS: frozenset[str] = frozenset()
_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)


class Scheduler:
    """Runs one plan to completion and returns its RunResult.

    Events wait in ``outbox`` until the callback that made them is done
    (``flush``): a step's exit starts the next step first and reports after,
    so rendering and log writing never delay a spawn. Reporters still see
    every event in the order it happened.
    """

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        executor: Executor,
        reporter: Reporter,
        *,
        local: Executor | None = None,
        run_id: str,
        jobs: int,
        keep_going: bool = False,
        log_dir: str | None = None,
        log_path: object = None,
        handle_signals: bool = True,
        targets: Iterable[str] = (),
        params: Mapping[str, str] | None = None,
        mask: Callable[[str], str] = str,
        incremental: Callable[[Scheduler], Incremental] | None = None,
        durations: dict[str, float] | None = None,
    ) -> None:
        self.workflow, self.plan, self.executor, self.reporter = workflow, plan, executor, reporter
        #: services and their probes run here whatever runs the steps (SPEC §8, §11)
        self.local = local or executor
        self.run_id, self.jobs = run_id, max(1, jobs)
        self.state = RunState(plan, keep_going=keep_going, durations=durations)
        self.result = RunResult(workflow.name or workflow.path, run_id, log_dir=log_dir)
        for name in plan.order:
            path = log_path(name) if callable(log_path) else None
            self.result.steps[name] = StepResult(name, log_path=path)
        #: outputs, $FLOWRUN_RESULTS and ${{ }} values (SPEC §9)
        self.dataflow = DataFlow(plan, log_dir or workflow.base_dir, params or {}, mask)
        self.base_env = base_env(workflow)
        for key, value in workflow.env.items():
            if "${{" in value:  # ${{ params.N }}: the same for every step
                self.base_env[key] = self.dataflow.render_text(value)
        self.base_env.update(params or {})  # above the workflow env, below a step's (SPEC §9)
        self.base_env[RESULTS_VAR] = self.dataflow.results_path
        self.base_dir = workflow.base_dir
        self.free = self.jobs
        self.held_locks: set[str] = set()
        self.running: dict[int, Unit] = {}
        self._done: asyncio.Future[None] | None = None
        self._workflow_deadline: float | None = None  # loop time; set by the interrupts' arm()
        self.outbox: list[Event] = []
        self._locks: dict[int, frozenset[str]] = {}  # by pipeline index
        self._any_locks = any(inst.step.lock for inst in plan.instances.values())
        #: steps with sources:/outputs: and --resume (SPEC §10): only when the run has any
        self.incremental = incremental(self) if incremental is not None else None
        #: the handlers of SPEC §9: the plan's last units
        self._first_hook = len(plan.pipelines) - len(plan.handlers)
        self.finale: Finale | None = None
        if plan.handlers:  # imported for such a plan only, as the supervisor below
            from flowrun.engine.finale import Finale

            self.finale = Finale(self)
        #: services' lives (SPEC §8): only for a plan that has one (with probes, streams)
        self.supervisor: Supervisor | None = None
        if self.state.is_service is not None:
            from flowrun.engine.supervisor import Supervisor

            self.supervisor = Supervisor(self, targets)
        #: the cold paths: if: conditions, retries, and stopping by a signal or the workflow timeout
        self.checks, self.retries = Checks(self), Retries(self)
        self.interrupts = Interrupts(self, handle_signals)

    # -- entry -------------------------------------------------------------
    async def run(self) -> RunResult:
        loop = running_loop()
        self._done = loop.create_future()
        self.result.started = time.time()
        self.outbox.append(RunStarted(self.result.workflow, self.run_id, tuple(self.plan.order),
                                      self.result.log_dir, self.jobs, self.result.started, self.dataflow.params,
                                      *self.state.expectations()))
        self.interrupts.arm(loop)
        try:
            try:
                self._pump()
                self._check_done()
            finally:
                self.flush()
            await self._done
        finally:
            self.interrupts.disarm(loop)
            if self.local is not self.executor:
                await self.local.aclose()
            await self.executor.aclose()
            self.dataflow.close()
        self.result.ended = time.time()
        statuses = {name: r.status for name, r in self.result.steps.items()}
        self.flush()
        self.reporter.handle(RunFinished(self.result.exit_code(), self.result.interrupted_name(), statuses))
        return self.result

    # -- starting units ------------------------------------------------------
    def _unit(self, index: int) -> Unit:
        members = self.plan.pipelines[index]
        locks = self._locks.get(index) if self._any_locks else _NO_LOCKS
        if locks is None:
            locks = self._locks[index] = frozenset(
                lock for m in members for lock in self.plan.instances[m].step.lock)
        if self.supervisor is not None and members[0] in self.supervisor.keeper.lives:
            return Unit(index, members, 0, locks)  # a service takes no job slot
        if index >= self._first_hook:
            return Unit(index, members, 1, locks, hook=True)
        return Unit(index, members, len(members), locks)

    def _fits(self, unit: Unit) -> str | None:
        """None if the unit can start now, else what blocks it ('slots' or 'locks')."""
        if unit.locks & self.held_locks:
            return "locks"
        if unit.slots <= self.free or (unit.slots > self.jobs and self.free == self.jobs):
            return None
        return "slots"

    def _pump(self) -> None:
        state = self.state
        if state.ready_services:
            self.supervisor.start_ready()  # type: ignore[union-attr]
        while self.free > 0:
            index = state.peek()
            if index is None:
                return
            unit = self._unit(index)
            blocked = self._fits(unit)
            if blocked is None:
                self._start(unit)
                continue
            if blocked == "slots":
                return  # keep plan order for slot-hungry pipelines (no starvation)
            for other in state.ready_units():  # a lock blocks the head: let others pass
                candidate = self._unit(other)
                if self._fits(candidate) is None:
                    self._start(candidate)
                    break
            else:
                return

    def _start(self, unit: Unit) -> None:
        members = self.state.take(unit.index)
        unit.running = members
        self.free -= unit.slots
        self.held_locks |= unit.locks
        self.running[unit.index] = unit
        unit.pending_checks = [m for m in members if self.plan.instances[m].step.if_]
        self._next_check_or_launch(unit)

    def _timeout_for(self, name: str) -> float | None:
        step_timeout = self.plan.instances[name].step.timeout
        if self._workflow_deadline is None:
            return step_timeout
        left = max(0.0, self._workflow_deadline - running_loop().time())
        return left if step_timeout is None else min(step_timeout, left)

    def _next_check_or_launch(self, unit: Unit) -> None:
        """Launch the unit, unless its ``if:`` conditions must run first (engine/checks.py)."""
        if unit.cancelled or unit.pending_checks:
            self.checks.next(unit)
            return
        self._launch(unit)

    def _launch(self, unit: Unit) -> None:
        unit.attempt += 1
        names = set(unit.running) if len(unit.running) > 1 else unit.running
        specs = tuple([
            launch_spec(self.workflow, self.plan, self.plan.instances[name], self.run_id,
                        timeout=self._timeout_for(name), members=names,
                        env_base=self.base_env, base_dir=self.base_dir, attempt=unit.attempt)
            for name in unit.running
        ])
        render = self.dataflow.render
        for spec in specs:
            why = render(spec, unit.attempt)
            if why is not None:  # an output it reads was not set: it cannot start
                self.checks.cannot_start(unit, spec.name, why)
                return
        if self.incremental is not None and len(specs) == 1 and self.incremental.cached(unit, specs[0]):
            return
        if not unit.slots or unit.hook:
            # a service or a handler: its own timeout only (the deadline stops a service by the stop rule,
            # and does not bound a handler)
            specs[0].timeout = self.plan.instances[unit.running[0]].step.timeout
            if unit.hook:
                self.finale.prepare(specs[0])  # type: ignore[union-attr]
        now = time.time()
        unit.handle = (self.executor if unit.slots else self.local).launch(
            PipelineSpec(specs), (Sink if unit.slots else ServiceSink)(self, unit, self._exited))
        # the processes run: what follows only records and reports it
        for spec in specs:
            record = self.result.steps[spec.name]
            record.attempts = unit.attempt
            if record.started is None:
                record.started = now
            self.outbox.append(StepStarted(spec.name, unit.attempt, describe(spec.argv), spec.timeout, now))
        if not unit.slots:
            self.outbox[-1].service = True  # type: ignore[union-attr]
            self.supervisor.launched(unit, now)  # type: ignore[union-attr]

    # -- ending units ----------------------------------------------------------
    def _exited(self, unit: Unit, outcomes: tuple[MemberOutcome, ...]) -> None:
        if not unit.slots:
            self.supervisor.exited(unit, outcomes[0])  # type: ignore[union-attr]
            return
        statuses = member_statuses(self.plan, unit.running, outcomes)
        collect = self.dataflow.collect
        for m in unit.running:
            why = collect(m, unit.attempt)
            if why is not None and statuses[m][0] is StepStatus.SUCCESS:
                statuses[m] = (StepStatus.FAILED, statuses[m][1], why)
        if len(statuses) == 1 and not unit.timed_out_by_workflow:
            (name, (status, _, _)), = statuses.items()
            if status is StepStatus.SUCCESS and self.state.readies_nothing(name):
                self._succeeded_alone(unit, statuses, outcomes[0].ended)
                return
        if unit.timed_out_by_workflow:
            statuses = {
                m: ((StepStatus.TIMED_OUT, 124, "workflow timeout") if s is StepStatus.CANCELLED else (s, c, r))
                for m, (s, c, r) in statuses.items()
            }
        failed = [m for m, (s, _, _) in statuses.items() if s in _FAILED]
        retry = self._retry_delay(unit, failed)
        if retry is not None:
            self._retry_later(unit, statuses, retry)
            return
        self._finish_unit(unit, statuses, {o.name: o.ended for o in outcomes})

    def _retry_later(self, unit: Unit, statuses: Statuses, delay: float) -> None:
        """Report the failed attempt; relaunch the unit after ``delay`` (engine/retries.py)."""
        self.retries.later(unit, statuses, delay)

    def _succeeded_alone(self, unit: Unit, statuses: Statuses, ended: float) -> None:
        """A lone step succeeded and nothing waits for it alone: fill its slot first, then record it.

        Recording it cannot change what is ready (``readies_nothing``) nor stop the
        run, so the next step starts exactly as it would have, one step's
        bookkeeping sooner; the reporters still see this step end before it starts.
        """
        if self.running.pop(unit.index, None) is None:  # released already: only record it
            self._finish_members(unit, statuses, ended)
            return
        self.free += unit.slots
        self.held_locks -= unit.locks
        mark = len(self.outbox)
        self._pump()
        started = self.outbox[mark:]
        del self.outbox[mark:]
        self._finish_members(unit, statuses, ended)
        self.outbox += started
        self._check_done()

    def _retry_delay(self, unit: Unit, failed: list[str]) -> float | None:
        """Seconds until the next attempt, or None (asked at every exit: only a failure goes on to retries.py)."""
        if not failed or unit.cancelled or (self.state.stop_reason is not None and not self.state.handler[unit.index]
                                            and not unit.hook):
            return None
        return self.retries.delay(unit, failed)

    def _finish_unit(self, unit: Unit, statuses: Statuses, ended: dict[str, float] | None = None) -> None:
        self._finish_members(unit, statuses, ended)
        self._release(unit)

    def _release(self, unit: Unit) -> None:
        if self.running.pop(unit.index, None) is None:
            return
        self.free += unit.slots
        self.held_locks -= unit.locks
        self._pump()
        self._check_done()

    def _finish_members(self, unit: Unit, statuses: Statuses, ended: float | dict[str, float] | None = None) -> None:
        """Record each member's end; ``ended``: when it exited (one time, or each member's own)."""
        now = ended if isinstance(ended, float) else time.time()
        ends = ended if isinstance(ended, dict) else None
        decisions: list[Decision] = []
        for m, (status, code, reason) in statuses.items():
            record = self.result.steps[m]
            allowed = status in _FAILED and bool(self.plan.instances[m].step.continue_on_error)
            record.status, record.exit_code, record.reason = status, code, reason
            record.allowed_failure = allowed
            if record.started is not None or status is not StepStatus.SKIPPED:
                record.ended = (ends.get(m) or now) if ends is not None else now
            finished = StepFinished(m, status, code, unit.attempt, record.started, record.ended,
                                    reason, allowed_failure=allowed)
            if record.service:
                finished.service, finished.ready_after = True, record.ready_after
            outputs = self.dataflow.outputs.get(m)
            if outputs:
                record.outputs = finished.outputs = outputs
            self.outbox.append(finished)
            if self.incremental is not None:
                self.incremental.ended(m, status)
            self.dataflow.ended(record)
            decisions += self.state.finish(m, status, allowed)
            if self.supervisor is not None:
                self.supervisor.ended(m)
        self._apply(decisions)

    def _apply(self, decisions: list[Decision]) -> None:
        supervisor = self.supervisor
        for decision in decisions:
            record = self.result.steps[decision.step]
            record.status, record.reason = StepStatus.SKIPPED, decision.reason
            self.outbox.append(StepFinished(decision.step, StepStatus.SKIPPED, None, 0, None, None, decision.reason,
                                            service=record.service))
            self.dataflow.ended(record)
            if supervisor is not None:
                supervisor.ended(decision.step)
        if self.state.stop_reason is not None:
            if supervisor is not None:
                supervisor.run_stops()
            if not self.state.handlers_allowed:
                for unit in list(self.running.values()):  # a unit waiting to retry ends at once, leaving it
                    if unit.slots and not unit.hook:  # services stop once what needs them has ended
                        self._cancel(unit, force=False)

    def _check_done(self) -> None:
        if self.finale is not None:
            self.finale.check()
        if self.state.finished and not self.running and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _note(self, step: str, message: str) -> None:
        self.outbox.append(SchedulerNote(step, message))

    def flush(self) -> None:
        """Hand the queued events to the reporters, oldest first."""
        outbox, handle = self.outbox, self.reporter.handle
        while outbox:
            batch = outbox[:]
            outbox.clear()
            for event in batch:
                handle(event)

    # -- stopping --------------------------------------------------------------
    def _cancel(self, unit: Unit, force: bool) -> None:
        if unit.cancelled and not force:
            return
        unit.cancelled = True
        if unit.retry_timer is not None:  # waiting to retry: nothing runs, end it now
            unit.retry_timer.cancel()
            self.retries.relaunch(unit)
        elif unit.handle is not None:
            unit.handle.cancel(force=force)

    def interrupt(self, sig: int) -> None:
        """Ctrl-C / SIGTERM / SIGHUP: cancel running steps; a second one skips the grace."""
        self.interrupts.interrupt(sig)

