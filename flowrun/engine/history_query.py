"""What ``flowrun history`` shows: the last runs, or one step across runs, as table rows and a JSON document.

The engine prints nothing: the CLI prints these rows as columns, or the document.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable

from flowrun.durations import format_duration
from flowrun.engine.history_rows import chunks
from flowrun.engine.history_schema import Damaged, NewerSchema, connect, history_path
from flowrun.errors import FlowrunError, UsageError, did_you_mean
from flowrun.events import StepStatus
from flowrun.records import record
from flowrun.report.jsonreport import iso_utc

__all__ = ["DOCUMENT_SCHEMA", "HistoryView", "StepInRun", "flaky", "flaky_evidence", "history_view"]

DOCUMENT_SCHEMA = "flowrun.history"
#: failures of the step itself; ``cancelled`` is an interrupt's doing, ``skipped`` never ran
_FAILED = frozenset({StepStatus.FAILED.value, StepStatus.TIMED_OUT.value})
_STATUS_ORDER = [s.value for s in StepStatus if s.is_final]
_INTERRUPTED = {129, 130, 143}


@record(frozen=True)
class StepInRun:
    """One recorded row of a step, with its run."""

    run_id: str
    run_started: float
    status: str
    started: float | None = None
    duration: float | None = None
    exit_code: int | None = None
    attempts: int = 0
    fingerprint: str | None = None


@record(frozen=True)
class HistoryView:
    """The answer: ``message`` alone when nothing is recorded; ``note`` is a line under the table."""

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    document: dict[str, object]
    message: str | None = None
    note: str | None = None


def flaky_evidence(rows: Iterable[StepInRun]) -> tuple[str, str, str] | None:
    """(failed run, later succeeded run, fingerprint) for the first such pair, else None.

    The rule: a row ``success`` with fingerprint F whose run started after a run in
    which the step, with the same F, ended ``failed`` or ``timed_out``. Rows without a
    fingerprint never match (nothing says their inputs were the same), ``cancelled``,
    ``skipped`` and ``cached`` rows are not failures nor successes, and a retry that
    succeeded within one run is not counted (that is one run).
    """
    failed_in: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r.run_started, r.run_id)):
        if row.fingerprint is None:
            continue
        if row.status in _FAILED:
            failed_in.setdefault(row.fingerprint, row.run_id)
        elif row.status == StepStatus.SUCCESS.value and row.fingerprint in failed_in:
            return failed_in[row.fingerprint], row.run_id, row.fingerprint
    return None


def flaky(rows: Iterable[StepInRun]) -> bool:
    """Did the step fail and then, in a later run, succeed with one fingerprint? (see ``flaky_evidence``)."""
    return flaky_evidence(rows) is not None


def history_view(base_dir: str, step: str | None = None, limit: int = 20) -> HistoryView:
    """The last ``limit`` runs, newest first, or ``step`` in the last ``limit`` runs that recorded it.

    Raises ``UsageError`` for a step never recorded, ``FlowrunError`` for a history that cannot be read.
    """
    path = history_path(base_dir)
    empty = {"schema": DOCUMENT_SCHEMA, "version": 1, **({"step": step, "flaky": False} if step else {}), "runs": []}
    if not os.path.exists(path):
        return HistoryView((), [], empty, message=f"no runs recorded yet ({path} does not exist)")
    try:
        conn = connect(path)
    except NewerSchema as exc:
        raise FlowrunError(f"{path} was written by a newer flowrun ({exc})") from None
    except (sqlite3.Error, OSError, Damaged) as exc:
        raise FlowrunError(f"cannot read the history {path}: {exc} (the next `flowrun up` moves a damaged one "
                           "aside)") from None
    try:
        if conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None:
            return HistoryView((), [], empty, message=f"no runs recorded yet in {path}")
        return _runs(conn, limit) if step is None else _step(conn, step, limit)
    except sqlite3.Error as exc:
        raise FlowrunError(f"cannot read the history {path}: {exc}") from None
    finally:
        conn.close()


def _runs(conn: sqlite3.Connection, limit: int) -> HistoryView:
    runs = conn.execute("SELECT id, started, ended, exit_code, targets, params, workflow FROM runs"
                        " ORDER BY started DESC, id DESC LIMIT ?", (limit,)).fetchall()
    counts: dict[str, dict[str, int]] = {run[0]: {} for run in runs}
    for chunk in chunks(list(counts)):
        for run_id, status, count in conn.execute("SELECT run_id, status, count(*) FROM steps WHERE run_id IN"
                                                  f" ({', '.join('?' * len(chunk))}) GROUP BY run_id, status", chunk):
            counts[run_id][status] = count
    rows, documents = [], []
    for run_id, started, ended, exit_code, targets, params, workflow in runs:
        ordered = dict(sorted(counts[run_id].items(), key=lambda item: _status_rank(item[0])))
        duration = None if ended is None else max(0.0, ended - started)
        rows.append((run_id, _local(started), "" if duration is None else format_duration(duration), _result(exit_code),
                     ", ".join(f"{n} {status}" for status, n in ordered.items())))
        documents.append({"id": run_id, "workflow": workflow, **_times(started, ended), "exit_code": exit_code,
                          "result": _result(exit_code), "targets": json.loads(targets), "params": json.loads(params),
                          "counts": ordered})
    return HistoryView(("run", "started", "duration", "result", "steps"), rows,
                       {"schema": DOCUMENT_SCHEMA, "version": 1, "runs": documents})


def _step(conn: sqlite3.Connection, step: str, limit: int) -> HistoryView:
    # every run, newest first, and one primary-key seek into steps for each: no index by name needed
    found = [StepInRun(*row) for row in conn.execute(
        "SELECT r.id, r.started, s.status, s.started, s.duration, s.exit_code, s.attempts, s.fingerprint"
        " FROM runs r JOIN steps s ON s.run_id = r.id AND s.name = ? ORDER BY r.started DESC, r.id DESC", (step,))]
    if not found:
        names = [name for (name,) in conn.execute("SELECT name FROM step_stats")]
        hint = did_you_mean(step, names)
        raise UsageError(f"no step {step!r} in the history" + (f" — {hint}" if hint else ""))
    evidence = flaky_evidence(found)
    shown = found[:limit]
    rows = [(r.run_id, _local(r.started) if r.started is not None else "", r.status,
             "" if r.duration is None else format_duration(r.duration), _text(r.exit_code), str(r.attempts))
            for r in shown]
    note = None
    if evidence:
        failed, succeeded, fingerprint = evidence
        note = (f"flaky: {step} failed in run {failed} and succeeded in the later run {succeeded} "
                f"with the same fingerprint ({fingerprint[:12]})")
    document = {
        "schema": DOCUMENT_SCHEMA, "version": 1, "step": step, "flaky": evidence is not None,
        "flaky_runs": None if evidence is None else {"failed": evidence[0], "succeeded": evidence[1],
                                                     "fingerprint": evidence[2]},
        "runs": [{"run_id": r.run_id, "run_started": iso_utc(r.run_started),
                  "run_started_epoch": round(r.run_started, 3), "status": r.status,
                  "started": iso_utc(r.started), "started_epoch": None if r.started is None else round(r.started, 3),
                  "duration": None if r.duration is None else round(r.duration, 3),
                  "exit_code": r.exit_code, "attempts": r.attempts, "fingerprint": r.fingerprint} for r in shown],
    }
    return HistoryView(("run", "started", "status", "duration", "exit", "attempts"), rows, document, note=note)


def _status_rank(status: str) -> int:
    return _STATUS_ORDER.index(status) if status in _STATUS_ORDER else len(_STATUS_ORDER)


def _result(exit_code: int | None) -> str:
    if exit_code is None:
        return "unfinished"
    if exit_code == 0:
        return "success"
    if exit_code == 1:
        return "failed"
    return "interrupted" if exit_code in _INTERRUPTED else f"exit {exit_code}"


def _times(started: float | None, ended: float | None) -> dict[str, object]:
    return {"started": iso_utc(started), "started_epoch": None if started is None else round(started, 3),
            "ended": iso_utc(ended), "ended_epoch": None if ended is None else round(ended, 3),
            "duration": None if started is None or ended is None else round(max(0.0, ended - started), 3)}


def _local(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _text(value: object) -> str:
    return "" if value is None else str(value)
