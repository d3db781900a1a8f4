"""Pick the console reporters for an output mode (``--output``).

``tty``: the rich live view (``LiveView``) and the summary as a rich table.
``plain``: prefixed lines without colour, flushed per line (``PlainPrinter``).
``github``: plain lines in ``::group::`` blocks and ``::error`` annotations
(``GitHubPrinter``). In every mode the summary comes last, after the printer
has finished (the live view is stopped by then).

``step_summary_reporters`` adds, in any mode, the GitHub Actions job summary
(``JobSummary``) where ``GITHUB_STEP_SUMMARY`` names a file; elsewhere it costs
nothing, not even its import.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from flowrun.events import RunStarted
from flowrun.report.base import Event, Reporter
from flowrun.report.logs import log_file_name
from flowrun.report.plain import PlainPrinter
from flowrun.report.summary import Summary

__all__ = ["MODES", "console_reporters", "step_summary_reporters"]

MODES = ("tty", "plain", "github")


def console_reporters(mode: str, *, quiet: bool = False, verbose: bool = False, base_dir: str = ".") -> list[Reporter]:
    """Reporters that print a run in ``mode`` (tty, plain or github): the printer, then the summary."""
    printer: Reporter
    # each mode imports only what it draws with (rich's live view costs ~70 ms to import)
    if mode == "tty":
        from flowrun.report.live import LiveView

        printer = LiveView(sys.stdout, quiet=quiet, verbose=verbose)
    elif mode == "github":
        from flowrun.report.github import GitHubPrinter

        printer = GitHubPrinter(sys.stdout, quiet=quiet, verbose=verbose)
    elif mode == "plain":
        printer = PlainPrinter(sys.stdout, quiet=quiet, verbose=verbose)
    else:
        raise ValueError(f"unknown output mode {mode!r}: expected one of {', '.join(MODES)}")
    summary = _SummaryWithLogs(sys.stdout, rich_table=mode == "tty", quiet=quiet)
    return [printer, summary]


def step_summary_reporters(environ: Mapping[str, str]) -> list[Reporter]:
    """The job summary reporter when ``environ`` has ``GITHUB_STEP_SUMMARY`` (GitHub sets it), else none."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return []
    from flowrun.report.jobsummary import JobSummary

    return [JobSummary(path)]


class _SummaryWithLogs(Summary):
    """A Summary that learns the log folder from the RunStarted event."""

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted) and event.log_dir:
            folder = event.log_dir
            self.log_path = lambda step: f"{folder}/{log_file_name(step)}"
        super().handle(event)
