"""Pick the console reporters for an output mode (``--output``)."""

from __future__ import annotations

import sys

from flowrun.report.base import Reporter
from flowrun.report.logs import log_file_name
from flowrun.report.plain import PlainPrinter
from flowrun.report.summary import Summary

__all__ = ["console_reporters"]


def console_reporters(mode: str, *, quiet: bool = False, verbose: bool = False, base_dir: str = ".") -> list[Reporter]:
    """Reporters that print a run: prefixed lines, then the summary."""
    tty = mode == "tty"
    printer = PlainPrinter(sys.stdout, colour=tty, quiet=quiet, verbose=verbose)
    summary = _SummaryWithLogs(sys.stdout, rich_table=tty, quiet=quiet)
    return [printer, summary]


class _SummaryWithLogs(Summary):
    """A Summary that learns the log folder from the RunStarted event."""

    def handle(self, event):  # type: ignore[no-untyped-def]
        from flowrun.events import RunStarted

        if isinstance(event, RunStarted) and event.log_dir:
            folder = event.log_dir
            self.log_path = lambda step: f"{folder}/{log_file_name(step)}"
        super().handle(event)
