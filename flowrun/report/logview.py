"""``flowrun logs``: print the logs of the last run (or a given one) with step prefixes."""

from __future__ import annotations

import os
import sys

from flowrun.errors import UsageError
from flowrun.report.logs import log_file_name, runs_dir

__all__ = ["latest_run", "print_logs"]


def latest_run(base_dir: str) -> str | None:
    folder = runs_dir(base_dir)
    try:
        runs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    except FileNotFoundError:
        return None
    return runs[-1] if runs else None


def print_logs(base_dir: str, *, step: str | None = None, run_id: str | None = None) -> int:
    run = run_id or latest_run(base_dir)
    if run is None:
        raise UsageError(f"no runs yet under {runs_dir(base_dir)}")
    folder = os.path.join(runs_dir(base_dir), run)
    if not os.path.isdir(folder):
        raise UsageError(f"no run {run!r} under {runs_dir(base_dir)}")
    if step is not None:
        path = os.path.join(folder, log_file_name(step))
        if not os.path.exists(path):
            raise UsageError(f"no log for step {step!r} in run {run}")
        with open(path, "rb") as handle:
            sys.stdout.buffer.write(handle.read())
        sys.stdout.flush()
        return 0
    names = sorted(f for f in os.listdir(folder) if f.endswith(".log"))
    width = max((len(n) - 4 for n in names), default=0)
    out = sys.stdout.buffer
    for name in names:
        prefix = name[:-4].ljust(width).encode() + b" | "
        with open(os.path.join(folder, name), "rb") as handle:
            for line in handle:
                out.write(prefix + line.rstrip(b"\n") + b"\n")
    out.flush()
    return 0
