"""The one place that picks the local process path: the fast Linux one where it works, else the portable one.

``FLOWRUN_PROCESS`` overrides the choice: ``portable`` forces the POSIX path
(any system), ``linux`` the pidfd path (an error where this system cannot run
it), ``auto`` or unset lets detection decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flowrun.errors import UsageError, one_of
from flowrun.process.detect import features
from flowrun.process.executor import Executor

__all__ = ["PATHS", "PROCESS_VAR", "local_executor", "process_path"]

PROCESS_VAR = "FLOWRUN_PROCESS"
#: the values ``FLOWRUN_PROCESS`` takes
PATHS = ("auto", "linux", "portable")


def process_path(environ: Mapping[str, str] | None = None) -> str:
    """``linux`` or ``portable``: what ``local_executor`` builds here. Raises UsageError for a bad setting."""
    wanted = (os.environ if environ is None else environ).get(PROCESS_VAR, "").strip().lower() or "auto"
    if wanted not in PATHS:
        raise UsageError(f"{PROCESS_VAR}={wanted!r} is not a process path — {one_of(wanted, PATHS)}")
    found = features()
    if wanted == "linux" and not found.fast_path:
        raise UsageError(
            f"{PROCESS_VAR}=linux: this system cannot run the Linux process path ({'; '.join(found.missing)}); "
            f"unset it or use {PROCESS_VAR}=portable"
        )
    if wanted == "auto":
        return "linux" if found.fast_path else "portable"
    return wanted


def local_executor(environ: Mapping[str, str] | None = None) -> Executor:
    """A new executor for this machine, on the path ``process_path`` names."""
    if process_path(environ) == "linux":
        from flowrun.process.local import LocalExecutor

        return LocalExecutor()
    from flowrun.process.portable import PortableExecutor

    return PortableExecutor()
