"""Prefixed console lines (``name | line``), docker-compose style, flushed per line.

Bytes pass through as the step wrote them (invalid UTF-8 included); only the
prefix is added. A closed stdout (``flowrun up | head``) silences the console
and nothing else: the run goes on.
"""

from __future__ import annotations

import os

from flowrun.durations import format_duration
from flowrun.events import (
    OutputChunk,
    RunStarted,
    SchedulerNote,
    ServiceReady,
    StepFinished,
    StepStarted,
    StepStatus,
)
from flowrun.report.base import Event

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["PlainPrinter"]

_MAX_PARTIAL = 64 * 1024
_COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)


def _ready_line(event: ServiceReady) -> str:
    """``-- ready after 310ms``: a service's probe succeeded (a status line, as ``-- success in 1.2s``)."""
    again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
    return f"-- ready after {format_duration(event.ready_after)}{again}"


class PlainPrinter:
    """Writes each complete output line with its step prefix; status lines at step ends and when a service is ready."""

    def __init__(
        self,
        stream: BinaryIO | None = None,
        *,
        colour: bool = False,
        quiet: bool = False,
        verbose: bool = False,
    ) -> None:
        self.fd = (stream.fileno() if stream is not None else 1)
        self.colour, self.quiet, self.verbose = colour, quiet, verbose
        # without -v, step starts and scheduler notes print nothing; with -q, output and ready lines neither
        self.events: tuple[type, ...] | None = None if verbose else (
            (StepFinished, RunStarted) if quiet else (OutputChunk, ServiceReady, StepFinished, RunStarted))
        self.width = 0
        self._partial: dict[str, bytes] = {}
        self._prefix: dict[str, bytes] = {}
        self.closed = False

    # -- output ---------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except (BrokenPipeError, OSError):
            self.closed = True  # the reader went away; the run goes on

    def prefix(self, step: str) -> bytes:
        cached = self._prefix.get(step)
        if cached is None:
            label = step.ljust(self.width).encode(errors="replace")
            if self.colour:
                code = _COLOURS[sum(step.encode()) % len(_COLOURS)]
                cached = b"\x1b[%dm" % code + label + b" |\x1b[0m "
            else:
                cached = label + b" | "
            self._prefix[step] = cached
        return cached

    def line(self, step: str, text: str) -> None:
        self._write(self.prefix(step) + text.encode(errors="replace") + b"\n")

    # -- events -----------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            if not self.quiet:
                self._output(event.step, event.data)
        elif isinstance(event, StepStarted):
            if self.verbose:
                again = f"  (attempt {event.attempt})" if event.attempt > 1 else ""
                self.line(event.step, f"$ {event.command}{again}")
        elif isinstance(event, StepFinished):
            self._flush(event.step)
            self._finished(event)
        elif isinstance(event, ServiceReady):
            if not self.quiet:
                self.line(event.step, _ready_line(event))
        elif isinstance(event, SchedulerNote):
            if self.verbose:
                self.line(event.step, event.message)
        elif isinstance(event, RunStarted):
            self.width = min(32, max((len(s) for s in event.steps), default=0))

    def _output(self, step: str, data: bytes) -> None:
        pending = self._partial.pop(step, b"") + data
        cut = pending.rfind(b"\n")
        if cut < 0:
            if len(pending) >= _MAX_PARTIAL:  # a very long line: show it in pieces
                self._write(self.prefix(step) + pending + b"\n")
            else:
                self._partial[step] = pending
            return
        prefix = self.prefix(step)
        lines = pending[:cut].split(b"\n")
        self._write(b"".join(prefix + line + b"\n" for line in lines))
        rest = pending[cut + 1:]
        if rest:
            self._partial[step] = rest

    def _flush(self, step: str) -> None:
        rest = self._partial.pop(step, b"")
        if rest and not self.quiet:
            self._write(self.prefix(step) + rest + b"\n")

    def _finished(self, event: StepFinished) -> None:
        status = event.status
        if status is StepStatus.SKIPPED:
            if self.verbose:
                self.line(event.step, f"skipped ({event.reason})" if event.reason else "skipped")
            return
        failed = status in (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED)
        if self.quiet and not failed:
            return
        took = ""
        if event.started is not None and event.ended is not None:
            took = f" in {format_duration(event.ended - event.started)}"
        text = status.value.replace("_", " ")
        if event.exit_code not in (None, 0):
            text += f" (exit {event.exit_code})"
        # a service's end says how it was stopped; a cached one by --resume, which run it comes from
        if event.reason and (failed or event.service or status is StepStatus.CACHED):
            text += f": {event.reason}"
        if event.allowed_failure:
            text += " [allowed by continue_on_error]"
        again = ", will retry" if event.will_retry else ""  # after the duration: not "will retry in 3ms"
        self.line(event.step, f"-- {text}{took}{again}")
