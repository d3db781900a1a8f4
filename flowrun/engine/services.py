"""The life of services (SPEC §8): who needs them, when they are ready, when they stop, how they ended.

The scheduler keeps a ``ServiceKeeper`` only when the plan has a service, and
calls it at a few points: a service launched, wrote output, exited; any step
reached its final state. The keeper decides, the scheduler acts (it starts and
cancels units).

A step *needs* a service when it depends on it with ``success``; a service is
stopped once no step that needs it is still waiting or running (a service that
needs another is such a step: the other is stopped after it has exited). In a
dev stack (``flowrun up api`` where every selected step is a service) the
selected services are also *held* until the run stops.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable

from flowrun.engine.probes import Prober, ReadySpec
from flowrun.events import StepStatus
from flowrun.graph import Plan
from flowrun.process.executor import Executor, LaunchSpec, MemberOutcome
from flowrun.process.loop import running_loop
from flowrun.records import record
from flowrun.spec.conditions import Condition

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

__all__ = ["ServiceKeeper"]

Status = tuple[StepStatus, int | None, str]


@record(slots=True, eq=False)
class _Life:
    """One service's current attempt."""

    name: str
    ready: ReadySpec | None
    kill_signal: int
    attempt: int = 0
    started: float = 0.0
    ready_at: float | None = None
    stopping: bool = False
    not_ready: bool = False
    #: what the last probe said, when it was given up on
    last_probe: str = ""
    prober: Prober | None = None
    deadline: asyncio.TimerHandle | None = None

    def quiet(self) -> None:
        """No more probing, no ready deadline."""
        if self.prober is not None:
            self.prober.stop()
            self.prober = None
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


class ServiceKeeper:
    """Needs, holds, probes and final statuses of a plan's services."""

    def __init__(self, plan: Plan, holds: Iterable[str] = ()) -> None:
        self.lives: dict[str, _Life] = {}
        for name, inst in plan.instances.items():
            if inst.step.service:
                self.lives[name] = _Life(name, inst.step.ready, inst.step.kill_signal or int(signal.SIGTERM))
        self.needers: dict[str, set[str]] = {name: set() for name in self.lives}
        self.needs: dict[str, list[str]] = {}
        for name in plan.instances:
            for dep, condition in plan.dependencies(name).items():
                if condition is Condition.SUCCESS and dep in self.lives:
                    self.needers[dep].add(name)
                    self.needs.setdefault(name, []).append(dep)
        self.holds = {name for name in holds if name in self.lives}
        #: with handlers (SPEC §9), every service is needed until the last handler has ended
        self.for_handlers = bool(plan.handlers)
        self.had_needers = {name for name, steps in self.needers.items() if steps}

    # -- questions ---------------------------------------------------------
    def wanted(self, name: str) -> bool:
        """Does a step that still waits or runs need the service (or does the dev stack hold it)?"""
        return bool(self.needers[name]) or name in self.holds or self.for_handlers

    def unwanted_reason(self, name: str) -> str:
        return "no longer needed" if name in self.had_needers else "no step that runs needs it"

    # -- the scheduler tells ---------------------------------------------
    def launched(
        self, name: str, attempt: int, started: float, *, executor: Executor, probe_spec: Callable[[], LaunchSpec],
        on_ready: Callable[[], None], on_not_ready: Callable[[], None], render: Callable[[str], str] = str,
    ) -> None:
        """An attempt's process started: probe it, and give up on it after ``ready.timeout``."""
        life = self.lives[name]
        life.quiet()
        life.attempt, life.started = attempt, started
        life.ready_at, life.stopping, life.not_ready, life.last_probe = None, False, False, ""
        loop = running_loop()
        if life.ready is None:  # ready as soon as it has started
            loop.call_soon(on_ready)
            return
        address = life.ready.tcp or life.ready.http
        life.prober = Prober(life.ready, on_ready, executor=executor, probe_spec=probe_spec,
                             address=render(address) if address and "${{" in address else address)
        life.deadline = loop.call_later(life.ready.timeout, self._not_ready, life, on_not_ready)
        life.prober.start()

    def _not_ready(self, life: _Life, on_not_ready: Callable[[], None]) -> None:
        life.deadline = None
        life.not_ready = True
        if life.prober is not None:
            life.last_probe = life.prober.last
            life.prober.stop()
        on_not_ready()

    def output(self, name: str, data: bytes) -> None:
        prober = self.lives[name].prober
        if prober is not None:
            prober.output(data)

    def became_ready(self, name: str, attempt: int, now: float) -> float | None:
        """The probe succeeded: seconds since the attempt started, or None if that attempt is over."""
        life = self.lives[name]
        if attempt != life.attempt or life.ready_at is not None or life.not_ready or life.stopping:
            return None
        life.quiet()
        life.ready_at = now
        return max(0.0, now - life.started)

    def stopping(self, name: str) -> bool:
        """Mark the service as stopped by flowrun; False if it already was."""
        life = self.lives[name]
        if life.stopping:
            return False
        life.stopping = True
        life.quiet()
        return True

    def ended(self, step: str) -> list[str]:
        """``step`` reached its final state: the services nothing needs any more."""
        free = []
        for service in self.needs.get(step, ()):
            needers = self.needers[service]
            needers.discard(step)
            if not needers and service not in self.holds and not self.for_handlers:
                free.append(service)
        return free

    def release_holds(self) -> list[str]:
        """The run stops (a failure, an interrupt): the dev stack lets go; what nothing else needs stops."""
        held, self.holds = self.holds, set()
        return [name for name in held if not self.needers[name] and not self.for_handlers]

    def handlers_done(self) -> list[str]:
        """The last handler has ended: what nothing else needs stops."""
        self.for_handlers = False
        return [name for name in self.lives if not self.needers[name] and name not in self.holds]

    def exited(self, name: str, outcome: MemberOutcome, *, interrupted: bool) -> tuple[Status, bool]:
        """The service's final status for this attempt, and whether a retry may start it again."""
        life = self.lives[name]
        life.quiet()
        code = outcome.exit_code if outcome.exit_code is not None else (
            128 + outcome.signal if outcome.signal is not None else None)
        if outcome.error:
            return (StepStatus.FAILED, code, outcome.error), True
        if life.ready_at is not None:  # it was ready: a stop is its normal end; exiting by itself is not
            if outcome.timed_out:
                return (StepStatus.TIMED_OUT, 124, "timed out"), False
            if life.stopping or outcome.cancelled:
                return (StepStatus.SUCCESS, code, self._stop_note(life, outcome)), False
            return (StepStatus.FAILED, code, f"exited while still needed ({_how(outcome)})"), False
        if life.not_ready:
            assert life.ready is not None
            why = f"not ready within {life.ready.timeout:g}s"
            return (StepStatus.FAILED, code, f"{why} ({life.last_probe})" if life.last_probe else why), True
        if outcome.timed_out:
            return (StepStatus.TIMED_OUT, 124, "timed out before it was ready"), True
        if life.stopping or outcome.cancelled:
            why = "cancelled" if interrupted else self.unwanted_reason(name)
            return (StepStatus.CANCELLED, code, why), False
        return (StepStatus.FAILED, code, f"exited before it was ready ({_how(outcome)})"), True

    @staticmethod
    def _stop_note(life: _Life, outcome: MemberOutcome) -> str:
        if outcome.signal == signal.SIGKILL and life.kill_signal != signal.SIGKILL:
            return f"stopped with SIGKILL: it outlived kill_grace after {signal.Signals(life.kill_signal).name}"
        return ""


def _how(outcome: MemberOutcome) -> str:
    if outcome.signal is not None:
        return f"killed by {signal.Signals(outcome.signal).name}"
    return f"exit code {outcome.exit_code}"
