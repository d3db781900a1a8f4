"""RunState: the pure rules of a run (SPEC §3) — no processes, no clocks.

The scheduler tells it what happened (a step ended, the run must stop) and asks
it what may start. Units are pipelines (a single step is a pipeline of one).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from flowrun.events import FINAL_FAILURES, StepStatus
from flowrun.graph import Plan
from flowrun.records import record
from flowrun.spec.conditions import Condition

__all__ = ["Decision", "RunState", "condition_holds"]

_NOT_FINAL = frozenset({StepStatus.PENDING, StepStatus.RUNNING})


def condition_holds(condition: Condition, status: StepStatus, allowed_failure: bool) -> bool:
    """Does a final ``status`` of an upstream step satisfy ``condition``?"""
    if condition is Condition.COMPLETED:
        return True
    if condition is Condition.FAILURE:
        return status in FINAL_FAILURES
    if status in (StepStatus.SUCCESS, StepStatus.CACHED):
        return True
    return allowed_failure and status in (StepStatus.FAILED, StepStatus.TIMED_OUT)


@record(frozen=True)
class Decision:
    """A step that can no longer run, and why (for ``-v`` and reports)."""

    step: str
    reason: str


class RunState:
    """Statuses, which units are waiting, ready, running, and the stop rules."""

    def __init__(self, plan: Plan, *, keep_going: bool = False, durations: dict[str, float] | None = None) -> None:
        self.plan = plan
        self.keep_going = keep_going
        self.status: dict[str, StepStatus] = dict.fromkeys(plan.instances, StepStatus.PENDING)
        self.allowed: dict[str, bool] = {
            n: bool(inst.step.continue_on_error) for n, inst in plan.instances.items()
        }
        self.units = plan.pipelines
        self.unit_of = plan.pipeline_of
        n = len(self.units)
        self.started = [False] * n
        self.skipped_members: dict[int, set[str]] = {}
        # count of external upstream steps not yet final, per unit
        self.waiting = [0] * n
        self.downstream: dict[str, list[int]] = {}
        self.handler = [False] * n
        services = {name for name, inst in plan.instances.items() if inst.step.service}
        #: per unit, whether it is a service (None: the plan has none)
        self.is_service: list[bool] | None = [self.units[i][0] in services for i in range(n)] if services else None
        #: a service's ``success`` dependents wait for it to be *ready*, not to end (SPEC §8)
        self.on_ready: dict[str, list[int]] = {}
        self.ready: set[str] = set()
        #: service units whose conditions hold: they take no job slot, so they wait apart
        self.ready_services: list[int] = []
        for i, members in enumerate(self.units):
            upstream: set[str] = set()
            readiness: set[str] = set()
            for m in members:
                for dep, cond in plan.dependencies(m).items():
                    if self.unit_of[dep] != i:
                        (readiness if dep in services and cond is Condition.SUCCESS else upstream).add(dep)
                    if cond is not Condition.SUCCESS:
                        self.handler[i] = True
            self.waiting[i] = len(upstream) + len(readiness)
            for dep in upstream:
                self.downstream.setdefault(dep, []).append(i)
            for dep in readiness:
                self.on_ready.setdefault(dep, []).append(i)
        #: the handlers' units (SPEC §9): they wait for the scheduler to release them, after every step
        self.hooks: set[int] = {self.unit_of[name] for name in plan.handlers}
        for unit in self.hooks:
            self.waiting[unit] += 1
        self.hooks_allowed = True
        # a heap with lazy deletion: ``_live`` says which entries still count
        self._ready: list[int] = [i for i in range(n) if self.waiting[i] == 0]
        if self.is_service is not None:
            self.ready_services = [i for i in self._ready if self.is_service[i]]
            self._ready = [i for i in self._ready if not self.is_service[i]]
        self._live: set[int] = set(self._ready)
        #: SPEC §10: with expected durations, the ready heap holds ranks (longest expected path first)
        self._rank: list[int] | None = None
        self._by_rank: list[int] = []
        #: step → the longest expected path it heads (with durations; for the live view's estimate)
        self.paths: dict[str, float] = {}
        self._durations = durations or {}
        if durations:
            self._rank, self._by_rank = self._ranks(durations)
            self._ready = [self._rank[u] for u in self._ready]
        heapq.heapify(self._ready)
        self.stop_reason: str | None = None
        self.handlers_allowed = True
        self.unfinished = len(self.status)

    # -- questions -------------------------------------------------------
    def expectations(self) -> tuple[dict[str, float], dict[str, float]]:
        """For the live view's estimate: each known step's expected seconds (a service's is 0: its recorded
        duration is its uptime, not work) and the longest expected path it heads."""
        if not self.paths:
            return {}, {}
        services, durations = self.is_service, self._durations
        expected = {m: 0.0 if services and services[unit] else durations[m]
                    for unit, members in enumerate(self.units) for m in members
                    if m in durations or (services and services[unit])}
        return expected, self.paths

    @property
    def finished(self) -> bool:
        return self.unfinished == 0

    def ready_units(self) -> list[int]:
        """Units whose conditions all hold, in the order they start (a snapshot)."""
        return sorted(self._live) if self._rank is None else sorted(self._live, key=self._rank.__getitem__)

    def peek(self) -> int | None:
        """The first ready unit: in plan order, or heading the longest expected path (durations given)."""
        if self._rank is None:
            while self._ready and self._ready[0] not in self._live:
                heapq.heappop(self._ready)
            return self._ready[0] if self._ready else None
        by_rank = self._by_rank
        while self._ready and by_rank[self._ready[0]] not in self._live:
            heapq.heappop(self._ready)
        return by_rank[self._ready[0]] if self._ready else None

    def _ranks(self, durations: dict[str, float]) -> tuple[list[int], list[int]]:
        """Units by the longest expected path they head (their duration plus the longest chain below);
        file order breaks ties. Units are in topological order, so one backward pass computes it."""
        n = len(self.units)
        below: list[set[int]] = [set() for _ in range(n)]
        for step, units in [*self.downstream.items(), *self.on_ready.items()]:
            below[self.unit_of[step]].update(units)
        longest = [0.0] * n
        services = self.is_service
        for unit in reversed(range(n)):  # a service's recorded duration is its uptime, not work: it counts 0
            own = 0.0 if services and services[unit] else max((durations.get(m, 0.0) for m in self.units[unit]),
                                                              default=0.0)
            longest[unit] = own + max((longest[d] for d in below[unit]), default=0.0)
        self.paths = {m: longest[unit] for unit in range(n) for m in self.units[unit]}
        by_rank = sorted(range(n), key=lambda u: (-longest[u], u))
        rank = [0] * n
        for position, unit in enumerate(by_rank):
            rank[unit] = position
        return rank, by_rank

    def readies_nothing(self, step: str) -> bool:
        """True if ``step`` ending now cannot make any unit ready (each one still waits for another step)."""
        waiting = self.waiting
        return all(waiting[unit] > 1 for unit in self.downstream.get(step, ()))

    def take(self, unit: int) -> tuple[str, ...]:
        """Mark a ready unit started; returns the members that run."""
        self._live.discard(unit)
        self.started[unit] = True
        skipped = self.skipped_members.get(unit)
        members = self.units[unit] if not skipped else tuple(m for m in self.units[unit] if m not in skipped)
        for m in members:
            self.status[m] = StepStatus.RUNNING
        return members

    # -- transitions -----------------------------------------------------
    def finish(self, step: str, status: StepStatus, allowed_failure: bool = False) -> list[Decision]:
        """Record a final status; returns steps that became skipped as a consequence."""
        assert status not in _NOT_FINAL
        if self.status[step] not in _NOT_FINAL:
            return []
        self.status[step] = status
        self.allowed[step] = allowed_failure or (
            self.allowed[step] and status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
        )
        self.unfinished -= 1
        decisions: list[Decision] = []
        if status in FINAL_FAILURES and not self.allowed[step] and not self.keep_going:
            decisions += self.stop(f"{step!r} {status.value.replace('_', ' ')}")
        for unit in self.downstream.get(step, ()):
            self.waiting[unit] -= 1
            if self.waiting[unit] == 0:
                decisions += self._decide(unit)
        if self.on_ready and step in self.on_ready:
            if step in self.ready:  # its dependents were told when it was ready
                self.ready.discard(step)
            else:
                decisions += self._resolve(self.on_ready[step])
        return decisions

    def release(self, unit: int) -> list[Decision]:
        """A handler's turn has come (SPEC §9): it may start."""
        return self._resolve((unit,))

    def skip(self, unit: int, reason: str) -> list[Decision]:
        """A handler that does not run this time (``on_success`` after a failure, ...)."""
        return self._skip_unit(unit, reason)

    def service_ready(self, service: str) -> list[Decision]:
        """A service is ready: its ``success`` dependents may start (SPEC §8)."""
        self.ready.add(service)
        return self._resolve(self.on_ready.get(service, ()))

    def _resolve(self, units: Iterable[int]) -> list[Decision]:
        decisions: list[Decision] = []
        for unit in units:
            self.waiting[unit] -= 1
            if self.waiting[unit] == 0:
                decisions += self._decide(unit)
        return decisions

    def stop(self, reason: str, handlers: bool = True, hooks: bool = True) -> list[Decision]:
        """Fail fast / interrupt: nothing new starts except ``completed``/``failure`` steps (if ``handlers``)
        and the handlers of §9 (unless ``hooks`` is False: a second Ctrl-C)."""
        if self.stop_reason is not None and (self.handlers_allowed == handlers or not self.handlers_allowed) \
                and (self.hooks_allowed == hooks or not self.hooks_allowed):
            return []
        if self.stop_reason is None:
            self.stop_reason = reason
        self.handlers_allowed = self.handlers_allowed and handlers
        self.hooks_allowed = self.hooks_allowed and hooks
        decisions: list[Decision] = []
        for unit in range(len(self.units)):
            if self.started[unit] or (self.handler[unit] and self.handlers_allowed) or (
                    unit in self.hooks and self.hooks_allowed):
                continue
            self._live.discard(unit)
            decisions += self._skip_unit(unit, f"not started: {self.stop_reason}")
        return decisions

    def _skip_unit(self, unit: int, reason: str) -> list[Decision]:
        self.started[unit] = True
        out: list[Decision] = []
        for m in self.units[unit]:
            if not self.status[m].is_final:
                out.append(Decision(m, reason))
                out += self.finish(m, StepStatus.SKIPPED)
        return out

    def _decide(self, unit: int) -> list[Decision]:
        """All external upstream steps are final: run the unit, part of it, or skip it."""
        if self.started[unit]:
            return []
        if self.stop_reason is not None and not (self.handler[unit] and self.handlers_allowed) and not (
                unit in self.hooks and self.hooks_allowed):
            return self._skip_unit(unit, f"not started: {self.stop_reason}")
        blocked: dict[str, str] = {}
        status = self.status
        for m in self.units[unit]:
            producer = self.plan.producer(m)
            if producer in blocked:
                blocked[m] = f"its producer {producer!r} does not run"
                continue
            for dep, cond in self.plan.dependencies(m).items():
                if cond is Condition.SUCCESS and (status[dep] is StepStatus.SUCCESS or dep in self.ready):
                    continue  # the common case, without a call; or a service that is ready
                if not condition_holds(cond, self.status[dep], self.allowed[dep]):
                    blocked[m] = f"{dep!r} ended {self.status[dep].value}, needs {cond.value}"
                    break
        if len(blocked) == len(self.units[unit]):
            self.started[unit] = True
            out: list[Decision] = []
            for m, why in blocked.items():
                out.append(Decision(m, why))
                out += self.finish(m, StepStatus.SKIPPED)
            return out
        if blocked:
            self.skipped_members[unit] = set(blocked)
        if self.is_service is not None and self.is_service[unit]:
            self.ready_services.append(unit)
        else:
            heapq.heappush(self._ready, unit if self._rank is None else self._rank[unit])
            self._live.add(unit)
        out = []
        for m, why in blocked.items():
            out.append(Decision(m, why))
            out += self.finish(m, StepStatus.SKIPPED)
        return out
