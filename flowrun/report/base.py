"""The Reporter protocol: reporters render the events the engine emits."""

from __future__ import annotations

from collections.abc import Iterable

from flowrun.events import (
    OutputChunk,
    RunFinished,
    RunStarted,
    SchedulerNote,
    ServiceReady,
    StepFinished,
    StepStarted,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the protocols are plain base classes at run time

__all__ = ["Event", "Reporter", "Reporters", "wants"]

Event = RunStarted | StepStarted | ServiceReady | OutputChunk | StepFinished | SchedulerNote | RunFinished


class Reporter(Protocol):
    """Receives every event of a run, in order.

    A reporter may also have an ``events`` attribute: the event types it acts on
    (None or absent: all). ``Reporters`` then leaves the others out, which saves
    a call per reporter and event on a run of many short steps.
    """

    def handle(self, event: Event) -> None: ...


class Reporters:
    """Sends every event to each reporter that wants it, in the reporters' order."""

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.reporters = list(reporters)
        self._routes: dict[type, list[Reporter]] = {}

    def handle(self, event: Event) -> None:
        route = self._routes.get(type(event))
        if route is None:
            route = self._routes[type(event)] = [r for r in self.reporters if wants(r, type(event))]
        for reporter in route:
            reporter.handle(event)


def wants(reporter: Reporter, kind: type) -> bool:
    """Does ``reporter`` act on events of type ``kind`` (see ``Reporter``)?"""
    events: tuple[type, ...] | None = getattr(reporter, "events", None)
    return events is None or issubclass(kind, events)
