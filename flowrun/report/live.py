"""TTY console output: a rich live view of the running steps, step output scrolling above it.

The live region, redrawn ``REFRESH_PER_SECOND`` times a second, shows one line per
running step (spinner, name, elapsed, time left before its timeout; at most
``MAX_RUNNING_LINES``, then ``+N more``) and a progress bar with the counts of steps
done, running and waiting. A service's line says ``starting`` (with the spinner)
until it is ready, then ``ready · up 12.3s`` (its uptime since ready, a steady dot
for the spinner). Output lines scroll above it behind a coloured ``name |``.

The engine's thread only splits complete lines off each chunk and queues them; a
ticker thread decodes them (``errors="replace"``), cleans them and prints the whole
queue in one ``console.print`` of pre-built segments per tick (no markup: ``[bold]``
prints literally). Past ``_BACKLOG`` queued bytes the engine's thread prints them
itself, so a slow terminal slows the run instead of filling memory. A line shows what
follows its last ``\\r``; colour codes pass (reset at the line end), other escape
sequences and control characters are dropped. ``-q``: no live region, no output lines.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
from typing import TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.style import Style

from flowrun.events import (
    FINAL_FAILURES,
    RunFinished,
    RunStarted,
    ServiceReady,
    StepFinished,
    StepStarted,
    StepStatus,
)
from flowrun.report.base import Event
from flowrun.report.board import MAX_RUNNING_LINES, Board, Running
from flowrun.report.eta import Estimate
from flowrun.report.plain import PlainPrinter

__all__ = ["MAX_RUNNING_LINES", "REFRESH_PER_SECOND", "LiveView", "clean_line"]

REFRESH_PER_SECOND = 10
_BACKLOG = 1 << 18
_PALETTE = ("cyan", "yellow", "green", "magenta", "blue",
            "bright_cyan", "bright_yellow", "bright_green", "bright_magenta", "bright_blue")
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\|$)|[PX^_][^\x1b]*(?:\x1b\\|$)"
                     r"|[ -/]*[0-~])?")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_line(line: str, keep_colour: bool = True) -> str:
    """What a line should show on a terminal that no step output may take over."""
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    if "\x1b" in line:
        def keep(match: re.Match[str]) -> str:
            return match.group(0) if keep_colour and _SGR.fullmatch(match.group(0)) else ""
        line = _ESCAPE.sub(keep, line)
    line = _CONTROL.sub("", line)
    return line + "\x1b[0m" if "\x1b" in line else line


class _Lines(PlainPrinter):
    """The plain printer's line logic (partial lines, -q/-v, status texts), its lines handed to the view."""

    def __init__(self, view: LiveView, quiet: bool, verbose: bool) -> None:
        super().__init__(None, quiet=quiet, verbose=verbose)
        self.view, self.step, self.style = view, "", ""

    def handle(self, event: Event) -> None:
        self.step, self.style = getattr(event, "step", ""), _status_style(event)
        super().handle(event)

    def prefix(self, step: str) -> bytes:
        return b""

    def _write(self, data: bytes) -> None:  # complete output lines of self.step
        self.view.enqueue(self.step, data.removesuffix(b"\n"), "")

    def line(self, step: str, text: str) -> None:
        self.view.enqueue(step, text, self.style)


class _Segments:
    """Pre-built segments, printed as they are (no markup, no wrapping by rich)."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return self.segments


class LiveView:
    """The TTY reporter; see the module docstring."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, verbose: bool = False) -> None:
        self.stream, self.quiet, self.verbose = stream, quiet, verbose
        self.console = Console(file=stream, force_terminal=True, highlight=False)
        self.keep_colour = self.console.color_system is not None and not self.console.no_color
        self.steps: tuple[str, ...] = ()
        self.running: dict[str, Running] = {}
        self.width, self.done, self.failed, self.started, self.closed = 0, 0, 0, time.time(), False
        self.live: Live | None = None
        #: the time left, once the history knows the steps (SPEC §10)
        self.estimate: Estimate | None = None
        self._lock, self._paint_lock = threading.Lock(), threading.RLock()
        self._queue: list[tuple[str, bytes | str, str]] = []
        self._queued = 0
        self._styles: dict[str, Style] = {}
        self._prefixes: dict[str, Segment] = {}
        self._lines = _Lines(self, quiet, verbose)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- events ------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.steps, self.started = event.steps, event.at or time.time()
            if event.expected:
                self.estimate = Estimate(event.steps, event.expected, event.paths, event.jobs)
            self.width = min(32, max((len(s) for s in event.steps), default=0))
            self._styles = {name: Style(color=_PALETTE[i % len(_PALETTE)]) for i, name in enumerate(event.steps)}
            if not self.quiet and self.live is None:
                self._start()
        elif isinstance(event, StepStarted | StepFinished | ServiceReady):
            with self._lock:
                if isinstance(event, StepStarted):
                    self.running[event.step] = Running(event.step, event.at, event.timeout, event.attempt,
                                                       event.service)
                    if self.estimate is not None:
                        self.estimate.start(event.step, event.at)
                elif isinstance(event, StepFinished):
                    self.running.pop(event.step, None)
                    if not event.will_retry:
                        self.done += 1
                        if self.estimate is not None:
                            self.estimate.finish(event.step)
                        self.failed += event.status in FINAL_FAILURES and not event.allowed_failure
                else:  # a service is ready (the attempt that started, not one that a retry replaced)
                    item = self.running.get(event.step)
                    if item is not None and item.attempt == event.attempt:
                        item.ready = event.at
        self._lines.handle(event)
        if isinstance(event, RunFinished):
            self.stop()
        elif self.live is None:
            self._paint()

    def enqueue(self, step: str, payload: bytes | str, style: str) -> None:
        """Queue lines (without their last newline) for the next tick."""
        with self._lock:
            self._queue.append((step, payload, style))
            self._queued += len(payload)
            full = self._queued > _BACKLOG
        if full:
            self._paint()

    def snapshot(self) -> tuple[list[Running], int, int, int]:
        """The running steps and the counts done, failed and in all, as one moment saw them."""
        with self._lock:
            return list(self.running.values()), self.done, self.failed, len(self.steps)

    def time_left(self, now: float) -> float | None:
        """The estimate of the seconds left, None while the history does not know every step left."""
        if self.estimate is None:
            return None
        with self._lock:
            return self.estimate.left(now)

    # -- painting ------------------------------------------------------------------
    def style(self, step: str) -> Style:
        return self._styles.get(step) or Style(color=_PALETTE[sum(step.encode()) % len(_PALETTE)])

    def _prefix(self, step: str) -> Segment:
        segment = self._prefixes.get(step)
        if segment is None:
            label = clean_line(step, keep_colour=False).ljust(self.width) + " |"
            segment = self._prefixes[step] = Segment(label, self.style(step))
        return segment

    def _segments(self, batch: list[tuple[str, bytes | str, str]]) -> list[Segment]:
        segments: list[Segment] = []
        add = segments.append
        for step, payload, style in batch:
            text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
            lines = text.split("\n")
            if _NEEDS_CLEANING.search(text):
                lines = [clean_line(line, self.keep_colour) for line in lines]
            prefix, body_style = self._prefix(step), Style.parse(style) if style else None
            for line in lines:
                add(prefix)
                add(Segment(" " + line, body_style))
                add(Segment.line())
        return segments

    def _paint(self) -> None:
        with self._paint_lock:
            with self._lock:
                batch, self._queue, self._queued = self._queue, [], 0
            if self.closed:
                return
            try:
                if batch:
                    self.console.print(_Segments(self._segments(batch)), end="", soft_wrap=True)
                elif self.live is not None:
                    self.live.refresh()
            except (OSError, ValueError):  # the terminal went away; the run goes on
                self.closed = True

    def _start(self) -> None:
        self.live = Live(Board(self), console=self.console, auto_refresh=False, transient=True,
                         refresh_per_second=REFRESH_PER_SECOND, redirect_stdout=False, redirect_stderr=False)
        try:
            self.live.start(refresh=True)
        except (OSError, ValueError):
            self.closed = True
        self._thread = threading.Thread(target=self._tick, name="flowrun-live", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _tick(self) -> None:
        while not self._stopping.wait(1 / REFRESH_PER_SECOND):
            self._paint()

    def stop(self) -> None:
        """Print what is left, erase the live region and show the cursor again."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._paint()
        live, self.live = self.live, None
        if live is not None:
            atexit.unregister(self.stop)
            try:
                live.stop()
            except (OSError, ValueError):
                self.closed = True


def _status_style(event: Event) -> str:
    if not isinstance(event, StepFinished):
        return "green" if isinstance(event, ServiceReady) else "dim"
    if event.status is StepStatus.SKIPPED:
        return "dim"
    if event.allowed_failure or event.will_retry:
        return "yellow"
    return "bold red" if event.status in FINAL_FAILURES else "green"
