"""The GitHub Actions job summary: Markdown appended to the file ``$GITHUB_STEP_SUMMARY`` names.

GitHub shows that file on the run's page. ``report.choose.step_summary_reporters``
adds this reporter only when the variable is set, whatever ``--output`` is. It
sits behind the run's ``Masker`` like every reporter, and the log tails it
quotes are read from the step logs, which hold masked bytes: no secret's value
reaches the summary.

Shape (docs/format.md, *GitHub job summary*): a heading with the workflow's name
and verdict, a line of counts (cached and skipped always shown) and the run's
duration, the steps table (step, status, duration, attempts), then one collapsed
``<details>`` block per failed, timed-out or cancelled step holding the last
lines of its log in a fenced code block.

Nothing a step is named or prints can change the Markdown around it: table
cells backslash-escape every ASCII punctuation character (CommonMark lets any of
them be escaped, and GFM reads ``\\|`` as a literal pipe), HTML parts are
HTML-escaped, and a log tail's fence is longer than any run of backticks in it.
Each run appends; the file is GitHub's, shared by every step of the job.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable

from flowrun.durations import format_duration
from flowrun.events import StepStatus
from flowrun.report.record import FINAL_STATES, RunRecord, RunRecorder, StepRecord
from flowrun.report.summary import TAIL_LINES, log_tail

__all__ = ["JobSummary", "code_block", "markdown_text"]

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# escape sequences (CSI, OSC, two-character ones) and the other control characters but tab
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SHOWN = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED)
_MAX_LINE = 500


def markdown_text(text: str) -> str:
    """``text`` as literal inline Markdown (a table cell): punctuation escaped, on one line."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def _plain(line: str) -> str:
    """A log line without what would draw on a terminal (colours, cursor moves, carriage returns)."""
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return _CONTROL.sub("", _ESCAPES.sub("", line))[:_MAX_LINE]


def code_block(lines: Iterable[str], info: str = "text") -> str:
    """A fenced code block whose fence is longer than any backtick run inside (CommonMark 4.5)."""
    body = list(lines)
    longest = max((len(run) for line in body for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + info, *body, fence])


class JobSummary(RunRecorder):
    """Appends the run's Markdown summary to ``path`` (``$GITHUB_STEP_SUMMARY``) when it ends."""

    kind = "GitHub job summary"

    def write(self, text: str | Iterable[str]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text if isinstance(text, str) else "".join(text))

    def render(self, record: RunRecord) -> str:
        name = record.workflow or "workflow"
        if record.exit_code == 0:
            verdict = "succeeded"
        elif record.interrupted_by:
            verdict = f"interrupted by {record.interrupted_by} (exit {record.exit_code})"
        else:
            verdict = f"failed (exit {record.exit_code})"
        parts = [f"### flowrun: {markdown_text(name)} {verdict}", "", self._counts(record), ""]
        if record.steps:
            parts += ["| step | status | duration | attempts |", "|:--|:--|--:|--:|"]
            parts += [self._row(step) for step in record.steps.values()]
            parts.append("")
        for step in record.steps.values():
            if step.status in _SHOWN:
                parts += [self._failure(step), ""]
        return "\n".join(parts) + "\n"

    @staticmethod
    def _counts(record: RunRecord) -> str:
        counts = record.counts()
        shown = [f"{counts[state]} {state.replace('_', ' ')}" for state in FINAL_STATES
                 if counts[state] or state in ("cached", "skipped")]
        total = len(record.steps)
        return f"{total} step{'s' if total != 1 else ''}: " + ", ".join(shown) + \
            f" in {format_duration(record.duration)}"

    @staticmethod
    def _status(step: StepRecord) -> str:
        status = step.status.value.replace("_", " ")
        if step.allowed_failure:
            status += " (allowed)"
        if step.exit_code not in (None, 0) and step.status is not StepStatus.TIMED_OUT:
            status += f" (exit {step.exit_code})"
        return status

    def _row(self, step: StepRecord) -> str:
        took = format_duration(step.duration) if step.duration is not None else "-"
        attempts = str(step.attempts) if step.attempts else "-"
        return f"| {markdown_text(step.name)} | {markdown_text(self._status(step))} | {took} | {attempts} |"

    def _failure(self, step: StepRecord) -> str:
        title = f"<code>{html.escape(step.name)}</code> {html.escape(self._status(step))}"
        if step.reason and not step.reason.startswith("exit code"):  # that one the status says
            title += f": {html.escape(' '.join(step.reason.split()))}"
        tail = [_plain(line) for line in log_tail(step.log, TAIL_LINES)]
        body = code_block(tail) if tail else "_no output_"
        caption = f"last {len(tail)} lines of its log" if tail else ""
        lines = [f"<details><summary>{title}</summary>", ""]
        if caption:
            lines += [caption, ""]
        return "\n".join([*lines, body, "", "</details>"])
