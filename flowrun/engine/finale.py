"""The handlers of SPEC §9: ``on_success`` or ``on_failure``, then ``finally``, once every step has ended.

They are the plan's last units, held back by the run state until this module
releases them: the first once no step (services aside: the handlers need them)
is still waiting or running, ``finally`` once that one has ended. They run after
an interrupt and after the workflow deadline too, each under its own timeout; a
second interrupt stops them.
"""

from __future__ import annotations

from flowrun.events import StepStatus
from flowrun.process.executor import LaunchSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.scheduler import Scheduler

__all__ = ["FAILED_STEPS_VAR", "STATUS_VAR", "Finale"]

STATUS_VAR = "FLOWRUN_STATUS"
FAILED_STEPS_VAR = "FLOWRUN_FAILED_STEPS"
_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT)


class Finale:
    """Releases the handlers in their turn and tells them how the run went."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        plan = scheduler.plan
        self.names = plan.handlers
        self.services = [n for n in plan.order if plan.instances[n].step.service]
        self.stage = 0  # 0 steps run; 1 on_success/on_failure may run; 2 finally may run; 3 all ended
        self.last = None  # the handler released last

    def check(self) -> None:
        """Called whenever a unit has ended: release the next handler when its turn has come."""
        s = self.scheduler
        status = s.state.status
        if self.stage == 0:
            # every step has ended but the handlers and the services (which the handlers need)
            if s.state.unfinished > len(self.names) + sum(not status[n].is_final for n in self.services):
                return
            self.stage = 1
            self._release_first()
        if self.stage == 1 and (self.last is None or status[self.last].is_final):
            self.stage = 2
            if "finally" in self.names and not status["finally"].is_final:
                self._release("finally")
        if self.stage == 2 and all(status[n].is_final for n in self.names):
            self.stage = 3
            if s.supervisor is not None:
                s.supervisor.handlers_done()

    def _release_first(self) -> None:
        s = self.scheduler
        ok = self.run_status() == "success"
        chosen, other = ("on_success", "on_failure") if ok else ("on_failure", "on_success")
        if other in self.names and not s.state.status[other].is_final:
            why = "the run succeeded" if ok else "the run did not succeed"
            s._apply(s.state.skip(s.plan.pipeline_of[other], why))
        if chosen in self.names and not s.state.status[chosen].is_final:
            self._release(chosen)

    def _release(self, name: str) -> None:
        s = self.scheduler
        self.last = name
        s._apply(s.state.release(s.plan.pipeline_of[name]))
        s._pump()

    def run_status(self) -> str:
        """``success``, ``failed`` or ``cancelled``: the run's result so far (handlers that ended included)."""
        s = self.scheduler
        if s.result.interrupted_by is not None:
            return "cancelled"
        return "success" if s.result.exit_code() == 0 else "failed"

    def prepare(self, spec: LaunchSpec) -> None:
        """A handler about to start: the run's status and its failed steps."""
        s = self.scheduler
        own = spec.env.maps[0]  # type: ignore[attr-defined]
        own[STATUS_VAR] = self.run_status()
        own[FAILED_STEPS_VAR] = "".join(
            f"{r.name}\n" for r in s.result.steps.values() if r.status in _FAILED)
