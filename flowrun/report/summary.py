"""The end-of-run summary: a table of steps and the log tails of failed steps.

A service's status cell adds its time to ready (``success (ready 310ms)``, or
``(never ready)``); a service flowrun had to stop with SIGKILL gets a note under
the table (SPEC §8), so it shows whatever the run's outcome.
"""

from __future__ import annotations

import os
from collections import deque

from flowrun.durations import format_duration
from flowrun.events import RunFinished, RunStarted, StepFinished, StepStatus
from flowrun.report.base import Event

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["SIGKILL_REASON", "Summary", "log_tail"]

TAIL_LINES = 20
_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED)
#: how the engine's reason starts for a service that did not stop on its kill_signal
SIGKILL_REASON = "stopped with SIGKILL"


def log_tail(path: str | None, lines: int = TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log, read from its end (logs can be huge)."""
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        data = handle.read()
    text = data.decode(errors="replace").splitlines()
    return list(deque(text, maxlen=lines))


class Summary:
    """Collects step ends; prints the table when the run finishes."""

    events = (StepFinished, RunStarted, RunFinished)

    def __init__(self, stream: TextIO, *, rich_table: bool = False, log_path: object = None,
                 quiet: bool = False) -> None:
        self.stream, self.rich_table, self.log_path, self.quiet = stream, rich_table, log_path, quiet
        self.rows: dict[str, StepFinished] = {}
        self.order: tuple[str, ...] = ()

    def handle(self, event: Event) -> None:
        if isinstance(event, StepFinished) and not event.will_retry:
            self.rows[event.step] = event
        elif isinstance(event, RunStarted):
            self.order = event.steps
        elif isinstance(event, RunFinished):
            try:
                self.render(event)
            except (BrokenPipeError, OSError):
                pass

    def _table_rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for name in self.order:
            ev = self.rows.get(name)
            if ev is None:
                continue
            took = format_duration(ev.ended - ev.started) if ev.started and ev.ended else "-"
            status = ev.status.value + (" (allowed)" if ev.allowed_failure else "")
            if ev.service:
                status += " (never ready)" if ev.ready_after is None else f" (ready {format_duration(ev.ready_after)})"
            code = "" if ev.exit_code is None else str(ev.exit_code)
            rows.append((name, status, took, code, str(ev.attempt) if ev.attempt else "-"))
        return rows

    def _notes(self) -> None:
        """``note: service api stopped with SIGKILL …`` (it ignored its kill_signal for kill_grace), even with -q."""
        notes = [f"note: service {name} {ev.reason}" for name in self.order
                 if (ev := self.rows.get(name)) is not None and ev.service and ev.reason.startswith(SIGKILL_REASON)]
        if notes and self.rich_table:
            from rich.console import Console

            console = Console(file=self.stream)
            for note in notes:
                console.print(note, style="yellow", markup=False, highlight=False)
        elif notes:
            self.stream.write("".join(note + "\n" for note in notes))

    def render(self, finished: RunFinished) -> None:
        out = self.stream
        failed = any(ev.status in _FAILED for ev in self.rows.values())
        rows = self._table_rows() if self.rich_table or not self.quiet or failed else []
        if self.rich_table:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="flowrun summary", title_justify="left")
            for col in ("step", "status", "duration", "exit", "attempts"):
                table.add_column(col, justify="right" if col in ("duration", "exit", "attempts") else "left")
            colours = {"success": "green", "failed": "red", "timed_out": "red", "cancelled": "yellow",
                       "skipped": "dim", "cached": "cyan"}
            for row in rows:
                colour = colours.get(row[1].split()[0], "")
                table.add_row(row[0], f"[{colour}]{row[1]}[/]" if colour else row[1], *row[2:])
            Console(file=out).print(table)
        elif not self.quiet or failed:
            widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                      for i, h in enumerate(("step", "status", "duration", "exit", "attempts"))]
            header = ("step", "status", "duration", "exit", "attempts")
            out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
            for r in rows:
                out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
        self._notes()
        for name in self.order:
            ev = self.rows.get(name)
            if ev is None or ev.status not in _FAILED or ev.allowed_failure:
                continue
            path = self.log_path(name) if callable(self.log_path) else None
            tail = log_tail(path)
            out.write(f"\n--- {name}: {ev.status.value}" + (f" ({ev.reason})" if ev.reason else "") + "\n")
            if tail:
                out.write(f"    last {len(tail)} lines of {path}:\n")
                for line in tail:
                    out.write(f"    {line}\n")
        counts: dict[str, int] = {}
        for ev in self.rows.values():
            counts[ev.status.value] = counts.get(ev.status.value, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        verdict = "ok" if finished.exit_code == 0 else f"exit {finished.exit_code}"
        if finished.interrupted_by:
            verdict += f", interrupted by {finished.interrupted_by}"
        out.write(f"\nflowrun: {parts} — {verdict}\n")
        out.flush()
