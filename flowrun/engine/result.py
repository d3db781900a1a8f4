"""What a run produced: each step's final state, and the run's exit code."""

from __future__ import annotations

import signal

from flowrun.durations import elapsed
from flowrun.errors import EXIT_FAILED, EXIT_OK
from flowrun.events import StepStatus
from flowrun.records import field, record

__all__ = ["RunResult", "StepResult"]


@record
class StepResult:
    """One step's end: status, exit code, attempts, wall-clock start/end."""

    name: str
    status: StepStatus = StepStatus.PENDING
    exit_code: int | None = None
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    log_path: str | None = None
    reason: str = ""
    allowed_failure: bool = False
    #: a service (SPEC §8), and the seconds its last attempt took to be ready (None: never ready)
    service: bool = False
    ready_after: float | None = None
    #: what the step set through ``$FLOWRUN_OUTPUT`` (SPEC §9)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return elapsed(self.started, self.ended)


@record
class RunResult:
    """The result of ``flowrun.run``; ``result["step"]`` is that step's StepResult."""

    workflow: str
    run_id: str
    steps: dict[str, StepResult] = field(default_factory=dict)
    log_dir: str | None = None
    interrupted_by: int | None = None
    started: float | None = None
    ended: float | None = None

    def __getitem__(self, name: str) -> StepResult:
        return self.steps[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.steps.values())

    @property
    def ok(self) -> bool:
        return self.exit_code() == EXIT_OK

    def exit_code(self) -> int:
        """SPEC §5: 0 ok, 1 a step failed or timed out, 128+N interrupted by signal N."""
        if self.interrupted_by is not None:
            return 128 + int(self.interrupted_by)
        for step in self.steps.values():
            if step.allowed_failure:
                continue
            if step.status in (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED):
                return EXIT_FAILED
        return EXIT_OK

    def interrupted_name(self) -> str | None:
        if self.interrupted_by is None:
            return None
        return signal.Signals(self.interrupted_by).name
