"""GitHub Actions console output (``--output github``, automatic when ``GITHUB_ACTIONS=true``).

Plain prefixed lines (as ``PlainPrinter``), each step attempt's output inside
``::group::<step>`` … ``::endgroup::``, its status line just after the group
(visible when the group is folded), and at the end one ``::error`` annotation
per failed or timed-out step (``::warning`` when ``continue_on_error`` allows
it) carrying the last lines of its output.

Groups cannot nest or interleave, so parallel steps are handled with one
*front* step: the first step to start opens its group and streams live; steps
that start while a group is open are spooled (memory up to ``_SPOOL_MEMORY``
each, then a temporary file). When the front step ends, its group closes, the
groups of the spooled steps that ended meanwhile are printed whole, in the
order they ended, and the longest-running spooled step becomes the new front:
its spool is printed and it streams live from there. With ``-j 1`` every step
streams live. Lines that belong to no running step (late output of a
background process, scheduler notes) wait for the open group to close.

A service's group shows how it started: it closes when the service is ready,
with the ready line after it, and what the service prints from then on goes out
as lines of no group. A service runs until the steps that need it are done, so
keeping its group open would hold back every other group until the run ends.

Step output is prefixed (``step | ::set-output …``), so nothing a step prints
can be read by the runner as a workflow command.
"""

from __future__ import annotations

from tempfile import SpooledTemporaryFile

from flowrun.events import (
    OutputChunk,
    RunFinished,
    SchedulerNote,
    ServiceReady,
    StepFinished,
    StepStarted,
    StepStatus,
)
from flowrun.report.base import Event
from flowrun.report.live import clean_line
from flowrun.report.plain import PlainPrinter
from flowrun.report.summary import TAIL_LINES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["GitHubPrinter", "escape_data", "escape_property"]

_SPOOL_MEMORY = 1 << 20
_TAIL_BYTES = 16 * 1024
_MAX_TAIL_LINE = 500

Spool = SpooledTemporaryFile


def _spool() -> Spool[bytes]:
    return SpooledTemporaryFile(max_size=_SPOOL_MEMORY)


def escape_data(text: str) -> str:
    """Escape a workflow command's message (``%``, ``\\r``, ``\\n``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (data rules plus ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class GitHubPrinter(PlainPrinter):
    """Prefixed lines in non-interleaved log groups, then annotations; see the module docstring."""

    def __init__(self, stream: BinaryIO | None = None, *, quiet: bool = False, verbose: bool = False) -> None:
        super().__init__(stream, colour=False, quiet=quiet, verbose=verbose)
        self.events = None  # groups follow step starts, annotations the ends: everything
        self.front: str | None = None
        self._spools: dict[str, Spool[bytes]] = {}  # running steps in start order, waiting to be the front
        self._held: list[Spool[bytes]] = []  # complete groups and loose lines waiting for the front to end
        self._loose: Spool[bytes] | None = None  # the last of _held when it takes loose lines
        self._sink: Spool[bytes] | None = None  # where _write goes; None: the console
        self._tails: dict[str, bytes] = {}
        self._failures: list[tuple[StepFinished, bytes]] = []

    # -- where bytes go --------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.write(data)
        else:
            super()._write(data)

    def _route(self, step: str) -> Spool[bytes] | None:
        """The spool of a waiting step, None for the front (or when no group is open), else the held lines."""
        spool = self._spools.get(step)
        if spool is not None or step == self.front or self.front is None:
            return spool
        if self._loose is None:
            self._loose = _spool()
            self._held.append(self._loose)
        return self._loose

    def _into(self, step: str, event: Event) -> None:
        self._sink = self._route(step)
        try:
            super().handle(event)
        finally:
            self._sink = None

    def _dump(self, spool: Spool[bytes]) -> None:
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            super()._write(chunk)
        spool.close()

    # -- events ------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            self._tails[event.step] = (self._tails.get(event.step, b"") + event.data)[-_TAIL_BYTES:]
            self._into(event.step, event)
        elif isinstance(event, StepStarted):
            self._tails.pop(event.step, None)
            self._open(event)
            self._into(event.step, event)
        elif isinstance(event, StepFinished):
            self._finished_step(event)
        elif isinstance(event, ServiceReady):
            if event.step == self.front or event.step in self._spools:
                self._end_group(event.step, event)
            else:
                self._into(event.step, event)
        elif isinstance(event, SchedulerNote):
            self._into(event.step, event)
        elif isinstance(event, RunFinished):
            while self.front is not None:  # only if a step never reported its end
                self._flush(self.front)
                self._write(b"::endgroup::\n")
                self._close_front()
            self._annotate()
        else:
            super().handle(event)

    def _open(self, event: StepStarted) -> None:
        if self.quiet:
            return
        title = event.step if event.attempt <= 1 else f"{event.step} (attempt {event.attempt})"
        header = f"::group::{escape_data(title)}\n".encode()
        if self.front is None:
            self.front = event.step
            super()._write(header)
        else:
            spool = self._spools[event.step] = _spool()
            spool.write(header)

    def _finished_step(self, event: StepFinished) -> None:
        step = event.step
        if event.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) and not event.will_retry:
            self._failures.append((event, self._tails.get(step, b"")))
        if step == self.front or step in self._spools:
            self._end_group(step, event)
        else:  # no group (-q), or a ready service, which left its group
            self._into(step, event)

    def _end_group(self, step: str, event: StepFinished | ServiceReady) -> None:
        """Close ``step``'s group, its status line just after it; then what waited for the group goes out."""
        self._sink = self._spools.get(step)
        try:
            self._flush(step)
            self._write(b"::endgroup::\n")
            if isinstance(event, StepFinished):
                self._finished(event)
            else:
                super().handle(event)
        finally:
            self._sink = None
        if step == self.front:
            self._close_front()
        else:
            self._held.append(self._spools.pop(step))
            self._loose = None

    def _close_front(self) -> None:
        """The front step ended: print what waited, then let the next step stream live."""
        self.front, self._loose = None, None
        for spool in self._held:
            self._dump(spool)
        self._held.clear()
        if self._spools:
            step = next(iter(self._spools))
            self._dump(self._spools.pop(step))
            self.front = step

    def _annotate(self) -> None:
        for event, tail in self._failures:
            lines = tail.decode(errors="replace").rstrip("\r\n").split("\n")
            if len(tail) >= _TAIL_BYTES:
                lines = lines[1:]  # it may be cut
            lines = [clean_line(line, keep_colour=False)[:_MAX_TAIL_LINE] for line in lines[-TAIL_LINES:]]
            status = "timed out" if event.status is StepStatus.TIMED_OUT else "failed"
            message = "\n".join(lines) or event.reason or status
            kind = "warning" if event.allowed_failure else "error"
            title = f"{event.step} {status}" + (" (allowed)" if event.allowed_failure else "")
            super()._write(f"::{kind} title={escape_property(title)}::{escape_data(message)}\n".encode())
        self._failures.clear()
