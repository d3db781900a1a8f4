"""The Reporter protocol: reporters render the events the engine emits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from flowrun.events import OutputChunk, RunFinished, RunStarted, SchedulerNote, StepFinished, StepStarted

__all__ = ["Event", "Reporter", "Reporters"]

Event = RunStarted | StepStarted | OutputChunk | StepFinished | SchedulerNote | RunFinished


class Reporter(Protocol):
    """Receives every event of a run, in order.

    A reporter may set ``wants_output = False`` when it never looks at
    ``OutputChunk`` events: if no reporter wants them (``-q``, the API without
    console reporters) and no secret must be masked, steps write straight into
    their log files and their output never passes through flowrun.
    """

    def handle(self, event: Event) -> None: ...


class Reporters:
    """Sends every event to each reporter in turn; one failing reporter does not stop the run."""

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.reporters = list(reporters)

    def handle(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.handle(event)
