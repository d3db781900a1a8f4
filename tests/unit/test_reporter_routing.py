"""Reporters sends each event to the reporters that want its type, in their order."""

from __future__ import annotations

from flowrun.events import OutputChunk, RunStarted, StepFinished, StepStarted, StepStatus
from flowrun.report.base import Event, Reporters
from flowrun.report.plain import PlainPrinter


class Recorder:
    def __init__(self, name: str, log: list[tuple[str, str]], events: tuple[type, ...] | None = None) -> None:
        self.name, self.log = name, log
        if events is not None:
            self.events = events

    def handle(self, event: Event) -> None:
        self.log.append((self.name, type(event).__name__))


def test_each_reporter_gets_the_types_it_wants_in_order() -> None:
    log: list[tuple[str, str]] = []
    reporters = Reporters([Recorder("all", log), Recorder("ends", log, (StepFinished,)), Recorder("all2", log)])
    for event in (
        RunStarted("w", "r", ("a",), None, 1),
        StepStarted("a", 1, "true", None, 0.0),
        OutputChunk("a", b"x"),
        StepFinished("a", StepStatus.SUCCESS, 0, 1, 0.0, 1.0),
        StepStarted("a", 2, "true", None, 0.0),
    ):
        reporters.handle(event)
    assert log == [
        ("all", "RunStarted"), ("all2", "RunStarted"),
        ("all", "StepStarted"), ("all2", "StepStarted"),
        ("all", "OutputChunk"), ("all2", "OutputChunk"),
        ("all", "StepFinished"), ("ends", "StepFinished"), ("all2", "StepFinished"),
        ("all", "StepStarted"), ("all2", "StepStarted"),
    ]


def test_the_plain_printer_asks_for_what_its_flags_print() -> None:
    assert PlainPrinter(verbose=True).events is None
    assert StepStarted not in PlainPrinter().events  # type: ignore[operator]
    assert OutputChunk in PlainPrinter().events  # type: ignore[operator]
    assert OutputChunk not in PlainPrinter(quiet=True).events  # type: ignore[operator]
