"""Step statuses and the events the engine emits for reporters to render.

Events are read-only by convention (reporters share them; one that needs a
changed copy uses ``flowrun.records.replace``). The per-step ones are not ``frozen``,
which would cost an ``object.__setattr__`` per field each time one is built.
"""

from __future__ import annotations

from enum import StrEnum

from flowrun.records import field, record

__all__ = [
    "FINAL_FAILURES",
    "OutputChunk",
    "RunFinished",
    "RunStarted",
    "SchedulerNote",
    "ServiceReady",
    "StepFinished",
    "StepStarted",
    "StepStatus",
]


class StepStatus(StrEnum):
    """Where a step is; the last six are final states (SPEC §3)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    CACHED = "cached"

    @property
    def is_final(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)

    def __str__(self) -> str:
        return self.value


#: Statuses that satisfy a ``failure`` condition.
FINAL_FAILURES = frozenset({StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED})


@record(frozen=True)
class RunStarted:
    workflow: str
    run_id: str
    steps: tuple[str, ...]
    log_dir: str | None
    jobs: int
    #: when the run started (reporters get the event after the first steps have started)
    at: float | None = None
    #: the parameters' values for this run (SPEC §9), secrets masked
    params: dict[str, str] = field(default_factory=dict)
    #: from the history (SPEC §10): expected seconds per step it knows (a service's: 0), and the
    #: longest expected path each step heads; empty without a history
    expected: dict[str, float] = field(default_factory=dict)
    paths: dict[str, float] = field(default_factory=dict)


@record(slots=True)
class StepStarted:
    step: str
    attempt: int
    command: str
    timeout: float | None
    at: float
    #: a service (SPEC §8): it is *starting* until a ServiceReady for this attempt
    service: bool = False


@record(frozen=True)
class ServiceReady:
    """A service's readiness probe succeeded (or it has no probe and has started)."""

    step: str
    attempt: int
    at: float
    #: seconds from the attempt's start to ready
    ready_after: float


@record(slots=True)
class OutputChunk:
    """Raw bytes a step wrote (stdout and stderr share one stream unless redirected)."""

    step: str
    data: bytes


@record(slots=True)
class StepFinished:
    step: str
    status: StepStatus
    exit_code: int | None
    attempt: int
    started: float | None
    ended: float | None
    reason: str = ""
    will_retry: bool = False
    allowed_failure: bool = False
    #: a service (SPEC §8), and the seconds its last attempt took to be ready (None: never ready)
    service: bool = False
    ready_after: float | None = None
    #: what the step set through ``$FLOWRUN_OUTPUT`` (SPEC §9); None when nothing
    outputs: dict[str, str] | None = None


@record(frozen=True)
class SchedulerNote:
    """A decision of the scheduler worth telling a user in verbose mode."""

    step: str
    message: str


@record(frozen=True)
class RunFinished:
    exit_code: int
    interrupted_by: str | None = None
    statuses: dict[str, StepStatus] = field(default_factory=dict)
