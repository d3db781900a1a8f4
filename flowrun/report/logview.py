"""``flowrun logs``: print the logs of the last run (or a given one) with step prefixes."""

from __future__ import annotations

import os
import sys
import time

from flowrun.errors import UsageError
from flowrun.report.logs import STEPS_FILE, log_file_name, run_in_progress, runs_dir

__all__ = ["latest_run", "print_logs"]

_FOLLOW_INTERVAL = 0.1


def latest_run(base_dir: str) -> str | None:
    folder = runs_dir(base_dir)
    try:
        runs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    except FileNotFoundError:
        return None
    return runs[-1] if runs else None


class _Tail:
    """Prints one log file's complete lines with a prefix, remembering where it stopped."""

    def __init__(self, path: str, prefix: bytes | None) -> None:
        """``prefix=None`` prints the bytes exactly as logged (``flowrun logs STEP``)."""
        self.path, self.prefix, self.offset, self.partial = path, prefix, 0, b""

    def pump(self, out: object, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        if self.prefix is None:
            out.write(data)  # type: ignore[attr-defined]
            out.flush()  # type: ignore[attr-defined]
            return
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        if lines:
            out.write(b"".join(self.prefix + line + b"\n" for line in lines))  # type: ignore[attr-defined]
            out.flush()  # type: ignore[attr-defined]


def _steps_of(folder: str) -> list[str] | None:
    """The run's step names in plan order (None: not written yet, or an older run)."""
    try:
        with open(os.path.join(folder, STEPS_FILE), encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return None


def print_logs(base_dir: str, *, step: str | None = None, run_id: str | None = None, follow: bool = False) -> int:
    """Print one step's log raw, or every log prefixed like ``up``; ``follow`` waits for the run's end."""
    run = run_id or latest_run(base_dir)
    if run is None:
        raise UsageError(f"no runs yet under {runs_dir(base_dir)}")
    if run in (".", "..") or "/" in run or os.sep in run:  # a run id names a folder in the runs folder, no other
        raise UsageError(f"not a run id: {run!r}")
    folder = os.path.join(runs_dir(base_dir), run)
    if not os.path.isdir(folder):
        raise UsageError(f"no run {run!r} under {runs_dir(base_dir)}")
    steps = _steps_of(folder)
    if step is not None and steps is not None and step not in steps:
        raise UsageError(f"no step {step!r} in run {run}")
    out = sys.stdout.buffer
    tails: dict[str, _Tail] = {}

    def scan() -> None:
        if step is not None:
            name = log_file_name(step)
            if name not in tails and (follow or os.path.exists(os.path.join(folder, name))):
                tails[name] = _Tail(os.path.join(folder, name), None)
            return
        files = {f for f in os.listdir(folder) if f.endswith(".log")}
        # step names, not file names (a name with '/' or ' ' is logged under a safe file name), in plan order
        named = [(log_file_name(n), n) for n in steps or () if log_file_name(n) in files]
        named += sorted((f, f[:-4]) for f in files - {f for f, _ in named})
        width = max((len(n) for _, n in named), default=0)
        for file, name in named:
            if file not in tails:
                tails[file] = _Tail(os.path.join(folder, file), name.ljust(width).encode() + b" | ")

    scan()
    if step is not None and not tails:
        if steps is None:
            raise UsageError(f"no step {step!r} in run {run}")
        return 0  # the step printed nothing
    while True:
        done = not run_in_progress(folder)
        scan()
        for tail in tails.values():
            tail.pump(out, final=done or not follow)
        if done or not follow:
            return 0
        time.sleep(_FOLLOW_INTERVAL)  # plain files give no readiness events: poll like `tail -f`
