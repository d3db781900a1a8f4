"""What this system lets the process layer do, found by trying it (never by its name).

The fast path (``local.py``) needs four things: pidfds (``os.pidfd_open`` that
works on our own pid: Linux 5.3+), an epoll set, ``/proc/PID/environ`` to find a
step's processes that left its group, and the child-subreaper flag (``prctl``)
so orphans come back to flowrun. Each is tried once per process; where any is
missing the portable path (``portable.py``) runs instead.
"""

from __future__ import annotations

import ctypes
import functools
import os
import select

from flowrun.records import record

__all__ = ["Features", "features"]

_PR_GET_CHILD_SUBREAPER = 37


@record(frozen=True)
class Features:
    """The Linux facilities found here: each is an empty string when present, else why not."""

    pidfd: str
    epoll: str
    proc_environ: str
    subreaper: str

    @property
    def missing(self) -> list[str]:
        """What the fast path needs and this system lacks, one phrase each."""
        return [why for why in (self.pidfd, self.epoll, self.proc_environ, self.subreaper) if why]

    @property
    def fast_path(self) -> bool:
        return not self.missing


def _pidfd() -> str:
    if not hasattr(os, "pidfd_open"):
        return "no os.pidfd_open"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        return f"pidfd_open fails ({exc.strerror or exc})"
    return ""


def _epoll() -> str:
    if not hasattr(select, "epoll"):
        return "no select.epoll"
    try:
        select.epoll().close()
    except OSError as exc:
        return f"epoll_create fails ({exc.strerror or exc})"
    return ""


def _proc_environ() -> str:
    try:
        fd = os.open("/proc/self/environ", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return "no readable /proc/self/environ"
    os.close(fd)
    return ""


def _subreaper() -> str:
    """Asking for the flag is enough: a kernel that answers PR_GET_CHILD_SUBREAPER can set it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return "no prctl"
    value, zero = ctypes.c_int(0), ctypes.c_ulong(0)
    if prctl(ctypes.c_int(_PR_GET_CHILD_SUBREAPER), ctypes.pointer(value), zero, zero, zero) != 0:
        return "no child subreaper (prctl PR_GET_CHILD_SUBREAPER fails)"
    return ""


@functools.cache
def features() -> Features:
    """This system's facilities, tried once per process."""
    return Features(_pidfd(), _epoll(), _proc_environ(), _subreaper())
