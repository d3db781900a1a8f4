"""The process table without ``/proc``: ``ps`` with environments, for the portable path.

A step's processes carry its tag (``FLOWRUN_STEP_ID=...``) in their environment.
Where there is no ``/proc/PID/environ`` (macOS, BSDs) ``ps`` can still show a
process's initial environment to its owner: ``ps -E`` on macOS and the BSDs,
``ps e`` in procps (Linux). Each line is ``PID PGID STAT COMMAND ENV...``; a tag
is one whitespace-separated word of it. Without a working ``ps`` the listing is
empty: groups are still killed (``killpg``), escapees that left theirs are not found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Collection
from dataclasses import dataclass

from flowrun.process.kill import process_exists

__all__ = ["Process", "alive", "kill_matching", "listing", "matching"]

_COLUMNS = "pid=,pgid=,stat=,command="
#: the BSD/macOS spelling first: procps rejects ``-E`` cleanly, and the reverse is not sure
_COMMANDS = (
    ("ps", "-A", "-ww", "-E", "-o", _COLUMNS),
    ("ps", "axeww", "-o", _COLUMNS),
)
_works: list[tuple[str, ...]] = []  # the command that worked here, once found
_BOUND = 10.0  # seconds a ps may take


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    pgid: int
    zombie: bool
    words: frozenset[str]  # argv words and NAME=value environment entries


def _run(argv: tuple[str, ...]) -> tuple[int, bytes] | None:
    """(ps's pid, its stdout), or None when it could not run or failed."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env={**os.environ, "LC_ALL": "C"})
    except OSError:
        return None
    try:
        out, _ = proc.communicate(timeout=_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return (proc.pid, out) if proc.returncode == 0 or out else None  # `ps -p` gone pids: exit 1, no lines


def _parse(ps_pid: int, out: bytes) -> list[Process]:
    me, found = os.getpid(), []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        pid = int(parts[0])
        if pid not in (me, ps_pid):
            found.append(Process(pid, int(parts[1]), parts[2].startswith("Z"), frozenset(parts[3:])))
    return found


def listing() -> list[Process]:
    """Every process we may see, with its environment; flowrun and the ps itself left out."""
    for argv in _works or _COMMANDS:
        got = _run(argv)
        if got is not None:
            if not _works:
                _works.append(argv)
            return _parse(*got)
    return []


def alive(pids: Collection[int]) -> list[int]:
    """Those of ``pids`` that still run (zombies are not running)."""
    if not pids:
        return []
    got = _run(("ps", "-o", "pid=,pgid=,stat=", "-p", ",".join(str(p) for p in sorted(pids))))
    if got is None:  # no ps: a zombie then counts as alive until it is reaped
        return [p for p in pids if process_exists(p)]
    return [p.pid for p in _parse(*got) if not p.zombie and p.pid in pids]



def matching(groups: Collection[int], tags: Collection[str], sessions: Collection[int] = ()) -> list[int]:
    """Live (not zombie) processes in one of ``groups`` or ``sessions`` (or the session of a group's id),
    or carrying one of ``tags`` (``NAME=value``). A step leads its session: one that moved to a group
    of its own without its tag is still in it (``getsid``: ps has no portable session column)."""
    if not groups and not tags and not sessions:
        return []
    tags = frozenset(tags)
    ids = frozenset(groups) | frozenset(sessions)
    return [p.pid for p in listing() if not p.zombie
            and (p.pgid in groups or not tags.isdisjoint(p.words) or (ids and _session(p.pid) in ids))]


def _session(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def kill_matching(groups: Collection[int], tags: Collection[str], sessions: Collection[int] = ()) -> list[int]:
    """SIGKILL what ``matching`` finds; return the pids signalled.

    Unlike the pidfd sweep, a pid is signalled by number: one recycled in the few
    milliseconds between the listing and the kill would be hit (the docs say so).
    """
    pids = matching(groups, tags, sessions)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return pids
