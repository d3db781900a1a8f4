"""The run as the history keeps it (SPEC §10): one ``History.record`` call when the run has ended.

Also what ``--resume`` reads back: the last run's selection and parameters, and
the steps that succeeded in it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from flowrun.engine.history import History, RunRow, StepRow
from flowrun.errors import UsageError
from flowrun.events import StepStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.incremental import Incremental
    from flowrun.engine.result import RunResult

__all__ = ["close_history", "last_selection", "open_history", "record_run", "resumed_steps", "steering", "warn"]


def warn(message: str) -> None:
    """A warning that never fails the run (a damaged or unwritable history)."""
    try:
        print(f"flowrun: warning: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


#: set by the ``flowrun`` command, which ends its process with ``os._exit`` right after the run:
#: the history's connection is then left open (``History.leave_open``: no WAL checkpoint per run)
ends_process = False


def close_history(history: History) -> None:
    if ends_process:
        history.leave_open()
    else:
        history.close()


def open_history(base_dir: str) -> History | None:
    return History.open(base_dir, warn)


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if len(data) > 1 << 16:  # OpenSSL's is several times faster on a big file
        import hashlib

        return hashlib.sha256(data).hexdigest()
    try:  # CPython's own: hashlib would load OpenSSL, ~3 ms of every start
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - another Python (3.12 calls it _sha2)
        from hashlib import sha256
    return sha256(data).hexdigest()


def record_run(
    history: History, result: RunResult, *, workflow_file: str, targets: list[str], params: dict[str, str],
    incremental: Incremental | None, outputs: dict[str, dict[str, str]], mask: Callable[[str], str],
) -> None:
    """Write the whole run in one transaction; a step whose outputs hold a secret gets no fingerprint."""
    steps = []
    for record in result.steps.values():
        shown = {k: mask(v) for k, v in outputs.get(record.name, {}).items()}
        secret = shown != outputs.get(record.name, {})
        fingerprint = result_value = None
        files: list = []
        if incremental is not None and not secret and record.status in (StepStatus.SUCCESS, StepStatus.CACHED):
            fingerprint = incremental.fingerprints.get(record.name)
            result_value = incremental.results.get(record.name)
            files = incremental.output_files.get(record.name, [])
        steps.append(StepRow(record.name, str(record.status), record.exit_code, record.attempts, record.started,
                             record.duration, fingerprint, result_value, shown, files))
    run = RunRow(result.run_id, result.started or 0.0, result.ended, result.exit_code(), list(targets),
                 {k: mask(v) for k, v in params.items()}, file_hash(workflow_file) if workflow_file else None,
                 os.path.basename(workflow_file) or None)
    if incremental is None:
        history.record(run, steps, {})
    else:
        history.record(run, steps, incremental.new_stats, incremental.new_sets)


def last_selection(workflow: object) -> tuple[list[str], dict[str, str]]:
    """``--resume``: the last recorded run's targets and parameters (exit 2 when there is none)."""
    history = open_history(workflow.base_dir)  # type: ignore[attr-defined]
    past = history.last_run(_name(workflow)) if history is not None else None
    if history is not None:
        history.close()
    if past is None:
        raise UsageError("--resume: no run of this workflow is recorded yet (.flowrun/history.db)")
    return list(past.targets), dict(past.params)


def steering(
    workflow: object, plan: object, history: History | None, params: dict[str, str], *, force: bool, resume: bool,
) -> tuple[dict[str, float], Callable[[object], Incremental] | None]:
    """What the history tells a run: expected durations (to order ready steps), and the incremental part
    (None when no step has ``sources:``/``outputs:`` and nothing is resumed)."""
    durations = history.durations() if history is not None else {}
    instances = plan.instances.values()  # type: ignore[attr-defined]
    resumed = resumed_steps(history, workflow) if resume else {}
    if not resumed and not any(inst.step.sources or inst.step.outputs for inst in instances):
        return durations, None
    from flowrun.engine.incremental import Incremental

    given = {**workflow.dotenv_values, **workflow.env, **params}  # type: ignore[attr-defined]

    def make(scheduler: object) -> Incremental:
        return Incremental(scheduler, history, force=force, resumed=resumed, given_env=given)  # type: ignore[arg-type]

    return durations, make


def _name(workflow: object) -> str | None:
    """The workflow file's name in its folder: two files in one folder share one history."""
    return os.path.basename(workflow.path) or None  # type: ignore[attr-defined]


def resumed_steps(history: History | None, workflow: object) -> dict[str, str]:
    """The steps that succeeded (or were cached) in this file's last recorded run, and that run's id."""
    past = history.last_run(_name(workflow)) if history is not None else None
    if past is None:
        return {}
    return {name: past.id for name, status in past.steps.items() if status in ("success", "cached")}
