"""The Reporter protocol: reporters render the events the engine emits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from flowrun.events import OutputChunk, RunFinished, RunStarted, SchedulerNote, StepFinished, StepStarted

__all__ = ["Event", "Reporter", "Reporters"]

Event = RunStarted | StepStarted | OutputChunk | StepFinished | SchedulerNote | RunFinished


class Reporter(Protocol):
    """Receives every event of a run, in order."""

    def handle(self, event: Event) -> None: ...


class Reporters:
    """Sends every event to each reporter in turn; one failing reporter does not stop the run."""

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.reporters = list(reporters)

    def handle(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.handle(event)
