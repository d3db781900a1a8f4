"""Per-step log files under ``.flowrun/runs/<run-id>/`` (folder 0700, files 0600).

Output is appended as it arrives, so memory does not grow with output size.
"""

from __future__ import annotations

import functools
import os
import re
import time

from flowrun.errors import FlowrunError, UsageError
from flowrun.events import OutputChunk, RunFinished, RunStarted, StepFinished
from flowrun.report.base import Event

__all__ = [
    "DEFAULT_KEEP_RUNS",
    "DONE_MARKER",
    "PID_FILE",
    "STEPS_FILE",
    "LogWriter",
    "log_file_name",
    "new_run_id",
    "prune_runs",
    "runs_dir",
]

#: how many runs' logs are kept (FLOWRUN_KEEP_RUNS overrides)
DEFAULT_KEEP_RUNS = 20
#: written into a run's folder when the run has ended (``flowrun logs -f`` stops there)
DONE_MARKER = "run.done"
#: the run's step names, one a line
STEPS_FILE = "steps.txt"
#: pid of the flowrun that writes the run (a follower stops if it died)
PID_FILE = "flowrun.pid"

_UNSAFE = r"[^A-Za-z0-9_.,=-]"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,=-")


@functools.lru_cache(maxsize=65536)
def log_file_name(step: str) -> str:
    """A file name for a step's log that cannot escape the run folder or collide."""
    safe = re.sub(_UNSAFE, "_", step) if not _SAFE.issuperset(step) else step
    if safe != step or safe in (".", "..") or safe.startswith("."):
        import hashlib  # only names that needed escaping pay for it

        digest = hashlib.sha256(step.encode()).hexdigest()[:8]
        safe = f"{safe.lstrip('.') or '_'}-{digest}"
    return safe + ".log"


def new_run_id() -> str:
    """Sortable and unique: ``20261125T122843.048213-3f9a1c`` (runs of one second sort in order)."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}-{os.urandom(3).hex()}"  # (uuid would import platform)


def runs_dir(base_dir: str) -> str:
    return os.path.join(base_dir, ".flowrun", "runs")


def _private_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def prune_runs(base_dir: str, keep: int) -> list[str]:
    """Delete the oldest run folders so that at most ``keep`` remain; returns what went."""
    folder = runs_dir(base_dir)
    try:
        runs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    except FileNotFoundError:
        return []
    doomed = runs[: max(0, len(runs) - max(1, keep))]
    doomed = [name for name in doomed if not run_in_progress(os.path.join(folder, name))]
    for name in doomed:
        _remove_tree(os.path.join(folder, name))
    return doomed


def run_in_progress(folder: str) -> bool:
    """Is the flowrun writing this run folder still running? (A run that crashed never ends.)"""
    if os.path.exists(os.path.join(folder, DONE_MARKER)):
        return False
    try:
        with open(os.path.join(folder, PID_FILE), encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(path: str) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` for a run folder.

    Not shutil itself: importing it imports bz2 and lzma, 3-4 ms of every run
    once the oldest run folder goes at each start. Symlinks are removed, never
    followed; a run folder is private to its user, so nothing can swap one in.
    """
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


class LogWriter:
    """Writes each step's raw output bytes to its own log file, as they arrive."""

    events = (OutputChunk, StepFinished, RunStarted, RunFinished)

    def __init__(self, base_dir: str, run_id: str, keep_runs: int | None = None) -> None:
        if keep_runs is None:
            text = os.environ.get("FLOWRUN_KEEP_RUNS", str(DEFAULT_KEEP_RUNS))
            try:
                keep_runs = int(text)
            except ValueError:
                raise UsageError(f"FLOWRUN_KEEP_RUNS must be a whole number, got {text!r}") from None
        root = os.path.join(base_dir, ".flowrun")
        self.dir = os.path.join(runs_dir(base_dir), run_id)
        try:
            _private_dir(root)
            _private_dir(runs_dir(base_dir))
            prune_runs(base_dir, keep_runs - 1)  # room for this run
            _private_dir(self.dir)
        except OSError as exc:  # a read-only checkout, a folder of another user
            raise FlowrunError(f"cannot write the run's log folder {self.dir}: {exc.strerror or exc}") from None
        self._fds: dict[str, int] = {}

    def path(self, step: str) -> str:
        return os.path.join(self.dir, log_file_name(step))

    def _fd(self, step: str) -> int:
        fd = self._fds.get(step)
        if fd is None:
            fd = os.open(self.path(step), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self._fds[step] = fd
        return fd

    def handle(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            data = memoryview(event.data)
            fd = self._fd(event.step)
            while data:
                data = data[os.write(fd, data):]
        elif isinstance(event, StepFinished):
            fd = self._fds.pop(event.step, None)
            if fd is not None:
                os.close(fd)
        elif isinstance(event, RunStarted):
            # the run's step list; a step that printed nothing has no log file
            with open(os.path.join(self.dir, STEPS_FILE), "w", encoding="utf-8") as handle:
                handle.write("".join(name + "\n" for name in event.steps))
            os.chmod(os.path.join(self.dir, STEPS_FILE), 0o600)
            fd = os.open(os.path.join(self.dir, PID_FILE), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.close(fd)
        elif isinstance(event, RunFinished):
            self.close()
            marker = os.open(os.path.join(self.dir, DONE_MARKER), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.write(marker, f"{event.exit_code}\n".encode())
            os.close(marker)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
