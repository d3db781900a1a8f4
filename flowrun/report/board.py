"""The live view's region: one line per running step, then a progress line (see ``live``).

A step's line: spinner, name, elapsed, time left before its timeout. The progress
line ends with ``about 1m20s left`` once the history knows every step still to
finish (``eta.Estimate``). A service's
line: ``starting`` with the spinner until it is ready, then a steady dot and
``ready · up 12.3s``, its uptime since ready (SPEC §8).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from flowrun.durations import format_duration
from flowrun.records import field, record

if TYPE_CHECKING:
    from flowrun.report.live import LiveView

__all__ = ["MAX_RUNNING_LINES", "Board", "Running"]

MAX_RUNNING_LINES = 10
#: in place of the spinner once a service is ready
_READY_MARK = Text("●", style="green")


def _clock(seconds: float) -> str:
    return f"{max(seconds, 0.0):.1f}s" if seconds < 60 else format_duration(seconds)


@record
class Running:
    """A running step as its line shows it."""

    step: str
    started: float
    timeout: float | None
    attempt: int
    service: bool = False
    #: when a service was ready (wall time); None while it is starting
    ready: float | None = None
    spinner: Spinner = field(default_factory=lambda: Spinner("dots"))


class Board:
    """The live region: running steps, then the progress line."""

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        view, now = self.view, time.time()
        running, done, failed, total = view.snapshot()
        cap = max(1, min(MAX_RUNNING_LINES, options.size.height - 3))
        shown = running if len(running) <= cap else running[: cap - 1]
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=max(8, min(view.width, options.max_width // 2)))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True)
        for item in shown:
            name = Text(item.step, style=view.style(item.step))
            state = _service_state(item, now) if item.service else _time_left(item, now)
            mark = _READY_MARK if item.ready is not None else item.spinner
            grid.add_row(mark, name, Text(_clock(now - item.started)), state)
        if shown:
            yield grid
        if len(shown) < len(running):
            yield Text(f"  +{len(running) - len(shown)} more running", style="dim", no_wrap=True)
        waiting = max(total - done - len(running), 0)
        counts = Text(f"{done}/{total} done · {len(running)} running · {waiting} waiting",
                      no_wrap=True, overflow="ellipsis")
        if failed:
            counts.append(f" · {failed} failed", style="bold red")
        left = view.time_left(now)
        if left is not None:
            counts.append(f" · about {_clock(left)} left", style="cyan")
        counts.append(f"  {_clock(now - view.started)}", style="dim")
        line = Table.grid(padding=(0, 1))
        line.add_row(ProgressBar(total=max(total, 1), completed=done, width=min(30, options.max_width // 3)), counts)
        yield line


def _time_left(item: Running, now: float) -> Text:
    """``timeout in 4.2s`` (yellow when little is left), ``timing out``, or nothing."""
    left = Text()
    if item.timeout is not None:
        remaining = item.timeout - (now - item.started)
        if remaining <= 0:
            left = Text("timing out", style="bold red")
        else:
            style = "yellow" if remaining < max(10.0, item.timeout / 10) else "dim"
            left = Text(f"timeout in {_clock(remaining)}", style=style)
    if item.attempt > 1:
        left.append(f" (attempt {item.attempt})", style="dim")
    return left


def _service_state(item: Running, now: float) -> Text:
    """``starting`` until the service is ready, then ``ready · up 12.3s`` (instead of the time left)."""
    if item.ready is None:
        state = Text("starting", style="yellow")
    else:
        state = Text("ready", style="green")
        state.append(f" · up {_clock(now - item.ready)}", style="dim")
    if item.attempt > 1:
        state.append(f" (attempt {item.attempt})", style="dim")
    return state
