"""Process-tree control: group signals, tagged survivors, subreaper, SIGCHLD reaping.

Every step leads its own session, so ``killpg`` reaches its whole tree unless a
descendant calls ``setsid``; those escapees still carry the step's environment
tag and are found in ``/proc/*/environ``. flowrun makes itself a child subreaper,
so orphans of a step are re-parented to it (not to init) and reaped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import ClassVar

__all__ = [
    "ChildReaper",
    "close_all",
    "group_exists",
    "set_child_subreaper",
    "signal_group",
    "sweep",
    "tag_entry",
]

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _prctl(option: int, arg: ctypes.c_ulong | ctypes._Pointer) -> int:  # type: ignore[type-arg]
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    return int(libc.prctl(ctypes.c_int(option), arg, zero, zero, zero))


def set_child_subreaper(enabled: bool) -> bool:
    """Set PR_SET_CHILD_SUBREAPER; return the previous setting (False if unsupported)."""
    previous = ctypes.c_int(0)
    if _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.pointer(previous)) != 0:
        return False
    _prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(int(enabled)))
    return bool(previous.value)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group, then SIGCONT so stopped members act on it.

    Returns False when the group no longer exists.
    """
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    if sig not in (signal.SIGKILL, signal.SIGCONT, signal.SIGSTOP):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGCONT)
    return True


def group_exists(pgid: int) -> bool:
    """True while any process (zombies included) is in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tag_entry(tag: tuple[str, str]) -> bytes:
    """The ``NAME=value`` bytes looked for in ``/proc/PID/environ``."""
    return os.fsencode(tag[0]) + b"=" + os.fsencode(tag[1])


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _matches(pid: str, groups: Collection[int], tags: Collection[bytes]) -> bool:
    if groups:
        stat = _read(f"/proc/{pid}/stat")
        fields = stat[stat.rfind(b")") + 2 :].split(b" ", 3)  # state ppid pgrp ...
        if len(fields) < 4 or fields[0] in (b"Z", b"X"):
            return False  # gone, or a zombie waiting for its parent to reap it
        if int(fields[2]) in groups:
            return True
    if tags:
        environ = _read(f"/proc/{pid}/environ")
        if environ and not tags.isdisjoint(environ.split(b"\0")):  # type: ignore[attr-defined]
            return True
    return False


def sweep(groups: Collection[int], tags: Collection[bytes], sig: int = signal.SIGKILL) -> list[int]:
    """Signal every process in one of ``groups`` or carrying one of ``tags``.

    Returns a pidfd per process signalled, for the caller to wait on and close.
    Each match is re-checked through its pidfd, so a recycled pid is never hit.
    """
    tags = frozenset(tags)
    groups = frozenset(groups)
    pidfds: list[int] = []
    if not tags and not groups:
        return pidfds
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me or not _matches(name, groups, tags):
            continue
        try:
            pidfd = os.pidfd_open(int(name))
        except OSError:
            continue
        if not _matches(name, groups, tags):  # the pid was recycled before pidfd_open
            os.close(pidfd)
            continue
        try:
            signal.pidfd_send_signal(pidfd, sig)
            if sig != signal.SIGKILL:
                signal.pidfd_send_signal(pidfd, signal.SIGCONT)
        except OSError:
            pass
        pidfds.append(pidfd)
    return pidfds


def close_all(fds: Iterable[int]) -> None:
    """Close fds, ignoring the ones already closed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class ChildReaper:
    """Reaps every child of the process on SIGCHLD; hands statuses to watchers.

    One per event loop, shared by every executor on it. ``waitpid(-1)`` also
    reaps adopted orphans (we are a subreaper), whose statuses are dropped: while
    a reaper is active, nothing else in the process may wait for its own children.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChildReaper]] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watchers: dict[int, Callable[[int], None]] = {}
        self._users = 0
        self._was_subreaper = False
        self._previous: object = None

    @classmethod
    def acquire(cls, loop: asyncio.AbstractEventLoop) -> ChildReaper:
        """The loop's reaper, installed (SIGCHLD handler, subreaper) on first use."""
        reaper = cls._by_loop.get(loop)
        if reaper is None:
            reaper = cls._by_loop[loop] = cls(loop)
        if reaper._users == 0:
            reaper._previous = signal.getsignal(signal.SIGCHLD)
            loop.add_signal_handler(signal.SIGCHLD, reaper.reap)
            reaper._was_subreaper = set_child_subreaper(True)
        reaper._users += 1
        return reaper

    def release(self) -> None:
        """Undo ``acquire``; the last user restores the previous SIGCHLD handler."""
        self._users -= 1
        if self._users > 0:
            return
        self.reap()
        self._loop.remove_signal_handler(signal.SIGCHLD)
        if callable(self._previous) or self._previous == signal.SIG_IGN:
            signal.signal(signal.SIGCHLD, self._previous)  # type: ignore[arg-type]
        set_child_subreaper(self._was_subreaper)
        self._by_loop.pop(self._loop, None)

    def watch(self, pid: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(wait_status)`` from the loop once ``pid`` has been reaped."""
        self._watchers[pid] = callback

    def reap(self) -> None:
        """Collect every exited child now (the SIGCHLD handler)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self._watchers.pop(pid, None)
            if callback is None:
                continue  # an adopted orphan
            try:
                callback(status)
            except Exception as exc:  # a sink's bug must not stop reaping
                self._loop.call_exception_handler({"message": "flowrun: exit callback failed", "exception": exc})
