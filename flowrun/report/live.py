"""TTY console output: a rich live view of the running steps, step output scrolling above it.

The live region (redrawn at most ``REFRESH_PER_SECOND`` times a second) shows one
line per running step — spinner, name, elapsed time, time left before its
timeout — capped at ``MAX_RUNNING_LINES`` with ``+N more``, then a progress bar
with the counts of steps done, running and waiting. Step output scrolls above it,
each line prefixed by the step's coloured ``name |`` (docker compose style).

Throughput: the engine's thread only splits complete lines off the chunks it
gets and queues them; a ticker thread decodes (``errors="replace"``), cleans and
prints everything queued in one ``console.print`` per tick, as pre-built
segments (no markup parsing, so ``[bold]`` prints literally). When more than
``_BACKLOG`` bytes wait, the engine's thread prints them itself: a slow
terminal slows the run down rather than filling memory.

Output cleaning: a line shows what follows its last ``\\r`` (progress bars);
colour codes (SGR) pass through and are reset at the end of the line; other
escape sequences and control characters are dropped, so no step can move the
cursor or garble the view. ``-q`` prints no live region and no output lines.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.segment import Segment
from rich.spinner import Spinner
from rich.style import Style
from rich.table import Table
from rich.text import Text

from flowrun.durations import format_duration
from flowrun.events import (
    FINAL_FAILURES,
    OutputChunk,
    RunFinished,
    RunStarted,
    SchedulerNote,
    StepFinished,
    StepStarted,
    StepStatus,
)
from flowrun.report.base import Event
from flowrun.report.plain import PlainPrinter

__all__ = ["MAX_RUNNING_LINES", "REFRESH_PER_SECOND", "LiveView", "clean_line"]

REFRESH_PER_SECOND = 10
MAX_RUNNING_LINES = 10
_BACKLOG = 1 << 20
_MAX_PARTIAL = 64 * 1024
_PALETTE = ("cyan", "yellow", "green", "magenta", "blue",
            "bright_cyan", "bright_yellow", "bright_green", "bright_magenta", "bright_blue")
_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\|$)|[PX^_][^\x1b]*(?:\x1b\\|$)|[ -/]*[0-~])?"
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_line(line: str, keep_colour: bool = True) -> str:
    """What a line should show on a terminal that no step output may take over."""
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    line = _CONTROL.sub("", line)
    if "\x1b" in line:
        def keep(match: re.Match[str]) -> str:
            return match.group(0) if keep_colour and _SGR.fullmatch(match.group(0)) else ""
        line = _ESCAPE.sub(keep, line)
        if "\x1b" in line:
            line += "\x1b[0m"
    return line


def _clock(seconds: float) -> str:
    return f"{max(seconds, 0.0):.1f}s" if seconds < 60 else format_duration(seconds)


@dataclass
class _Running:
    step: str
    started: float
    timeout: float | None
    attempt: int
    spinner: Spinner = field(default_factory=lambda: Spinner("dots"))


class _StatusLines(PlainPrinter):
    """The plain printer's status, command and note lines, captured instead of written."""

    def __init__(self, quiet: bool, verbose: bool) -> None:
        super().__init__(None, quiet=quiet, verbose=verbose)
        self.captured: list[tuple[str, str]] = []

    def line(self, step: str, text: str) -> None:
        self.captured.append((step, text))


class _Board:
    """The live region: running steps, then the progress line."""

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        view, now = self.view, time.time()
        with view._lock:
            running = list(view.running.values())
            done, failed, total = view.done, view.failed, len(view.steps)
        cap = max(1, min(MAX_RUNNING_LINES, options.size.height - 3))
        shown = running if len(running) <= cap else running[: cap - 1]
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=max(8, min(view.width, options.max_width // 2)))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True)
        for item in shown:
            elapsed = now - item.started
            left = Text()
            if item.timeout is not None:
                remaining = item.timeout - elapsed
                if remaining > 0:
                    style = "yellow" if remaining < max(10.0, item.timeout / 10) else "dim"
                    left = Text(f"timeout in {_clock(remaining)}", style=style)
                else:
                    left = Text("timing out", style="bold red")
            if item.attempt > 1:
                left.append(f" (attempt {item.attempt})", style="dim")
            grid.add_row(item.spinner, Text(item.step, style=view.style(item.step)), Text(_clock(elapsed)), left)
        if shown:
            yield grid
        if len(shown) < len(running):
            yield Text(f"  +{len(running) - len(shown)} more running", style="dim", no_wrap=True)
        counts = Text(f"{done}/{total} done · {len(running)} running · {max(total - done - len(running), 0)} waiting")
        if failed:
            counts.append(f" · {failed} failed", style="bold red")
        counts.append(f"  {_clock(now - view.started)}", style="dim")
        line = Table.grid(padding=(0, 1))
        line.add_row(ProgressBar(total=max(total, 1), completed=done, width=30), counts)
        yield line


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
        self.width = 0
        self.running: dict[str, _Running] = {}
        self.done = self.failed = 0
        self.started = time.time()
        self.closed = False
        self.live: Live | None = None
        self._lock = threading.Lock()
        self._paint_lock = threading.RLock()
        self._queue: list[tuple[str, bytes | str, str]] = []
        self._queued = 0
        self._partial: dict[str, bytes] = {}
        self._styles: dict[str, Style] = {}
        self._prefixes: dict[str, Segment] = {}
        self._status = _StatusLines(quiet, verbose)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- events ------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            if not self.quiet:
                self._output(event.step, event.data)
            return
        if isinstance(event, RunStarted):
            self.steps, self.started = event.steps, time.time()
            self.width = min(32, max((len(s) for s in event.steps), default=0))
            self._styles = {name: Style(color=_PALETTE[i % len(_PALETTE)]) for i, name in enumerate(event.steps)}
            if not self.quiet:
                self._start()
            return
        if isinstance(event, StepFinished):
            rest = self._partial.pop(event.step, b"")
            if rest and not self.quiet:
                self._enqueue(event.step, rest, "")
        with self._lock:
            if isinstance(event, StepStarted):
                self.running[event.step] = _Running(event.step, event.at, event.timeout, event.attempt)
            elif isinstance(event, StepFinished):
                self.running.pop(event.step, None)
                if not event.will_retry:
                    self.done += 1
                    self.failed += event.status in FINAL_FAILURES and not event.allowed_failure
        if isinstance(event, StepStarted | StepFinished | SchedulerNote):
            self._status.handle(event)
            style = _status_style(event)
            for step, text in self._status.captured:
                self._enqueue(step, text, style)
            self._status.captured.clear()
        if isinstance(event, RunFinished):
            self.stop()
        elif self.live is None:
            self._paint()

    def _output(self, step: str, data: bytes) -> None:
        pending = self._partial.pop(step, b"") + data
        cut = pending.rfind(b"\n")
        if cut < 0:
            if len(pending) >= _MAX_PARTIAL:
                self._enqueue(step, pending, "")
            else:
                self._partial[step] = pending
            return
        self._enqueue(step, pending[:cut], "")
        if cut + 1 < len(pending):
            self._partial[step] = pending[cut + 1:]

    def _enqueue(self, step: str, payload: bytes | str, style: str) -> None:
        with self._lock:
            self._queue.append((step, payload, style))
            self._queued += len(payload)
            full = self._queued > _BACKLOG
        if full:
            self._paint()

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
        if self.live is not None:
            return
        self.live = Live(_Board(self), console=self.console, auto_refresh=False, transient=True,
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
    if isinstance(event, StepFinished):
        if event.status is StepStatus.SUCCESS or event.allowed_failure:
            return "green" if not event.allowed_failure else "yellow"
        if event.status in FINAL_FAILURES:
            return "yellow" if event.will_retry else "bold red"
        return "dim"
    return "dim"
