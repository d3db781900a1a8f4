"""A step's process tree after its birth: signal, sweep, subreap, reap.

Every step leads its own session (see ``spawn.py``), so ``killpg`` reaches its
whole tree unless a descendant calls ``setsid``; those escapees still carry the
step's environment tag and are found in ``/proc/*/environ``. flowrun makes itself
a child subreaper, so orphans of a step are re-parented to it (not to init) and
reaped here, along with the steps themselves (pidfd wake-ups).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
from collections.abc import Callable, Collection

from flowrun.process.loop import running_loop
from flowrun.process.spawn import close_all

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio
    from typing import ClassVar

__all__ = [
    "ChildReaper",
    "close_all",
    "group_exists",
    "may_have_leftovers",
    "process_exists",
    "set_child_subreaper",
    "signal_group",
    "sweep",
    "tag_entry",
    "wait_exit",
]

_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


def _prctl(option: int, arg: ctypes.c_ulong | ctypes._Pointer) -> int:  # type: ignore[type-arg]
    """libc's prctl, or -1 where there is none (not Linux)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return -1
    zero = ctypes.c_ulong(0)
    return int(prctl(ctypes.c_int(option), arg, zero, zero, zero))


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


def _load_killpg() -> Callable[[int, int], int] | None:
    try:
        killpg = ctypes.CDLL(None, use_errno=True).killpg
    except (OSError, AttributeError):
        return None
    killpg.argtypes = [ctypes.c_int, ctypes.c_int]
    return killpg  # type: ignore[no-any-return]


_KILLPG = _load_killpg()


def process_exists(pid: int) -> bool:
    """True while the process (or a zombie of it) exists, ours to signal or not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_exists(pgid: int) -> bool:
    """True while any process (zombies included) is in the group.

    Asked after every step's exit: libc's ``killpg`` reports ESRCH as a return
    value, where ``os.killpg`` raises, and building that exception cost ~5 µs
    of the ~13 µs this takes between two steps.
    """
    if _KILLPG is not None and pgid > 0:
        return _KILLPG(pgid, 0) == 0 or ctypes.get_errno() != errno.ESRCH  # EPERM: it exists
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


def _matches(pid: str, groups: Collection[int], tags: Collection[bytes], sessions: Collection[int] = ()) -> bool:
    if groups or sessions:
        stat = _read(f"/proc/{pid}/stat")
        fields = stat[stat.rfind(b")") + 2 :].split(b" ", 4)  # state ppid pgrp session ...
        if len(fields) < 5 or fields[0] in (b"Z", b"X"):
            return False  # gone, or a zombie waiting for its parent to reap it
        session = int(fields[3])
        if int(fields[2]) in groups or session in groups or session in sessions:  # a step leads its session
            return True
    if tags:
        environ = _read(f"/proc/{pid}/environ")
        if environ and not tags.isdisjoint(environ.split(b"\0")):  # type: ignore[attr-defined]
            return True
    return False


def may_have_leftovers() -> bool:
    """Could a process some step started still be alive? False only when this process is a
    child subreaper and has no child at all (alive or unreaped; one ``waitid``, nothing reaped).

    While flowrun is a child subreaper, every process a step started, whatever group or
    session it moved to, stays below flowrun: when its parent dies it becomes flowrun's
    child. So with no child left, no process carries a step's tag, and ``aclose`` need
    not read ``/proc/*/environ`` (a few ms on a machine with hundreds of processes).
    """
    flag = ctypes.c_int(0)
    if _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.pointer(flag)) != 0 or not flag.value:
        return True
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def sweep(groups: Collection[int], tags: Collection[bytes], sessions: Collection[int] = ()) -> list[int]:
    """SIGKILL every live process in one of ``groups`` or ``sessions`` (or the session of a group's id),
    or carrying one of ``tags``.

    A step leads its own session, so one that moved to a group of its own (``setpgid``,
    a script's job control) without its tag is still found by its session.

    Returns a pidfd per process signalled, for the caller to wait on and close.
    Each match is re-checked through its pidfd, so a recycled pid is never hit.
    """
    tags = frozenset(tags)
    groups = frozenset(groups)
    sessions = frozenset(sessions)
    pidfds: list[int] = []
    if not tags and not groups and not sessions:
        return pidfds
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me or not _matches(name, groups, tags, sessions):
            continue
        try:
            pidfd = os.pidfd_open(int(name))
        except OSError:
            continue
        if not _matches(name, groups, tags, sessions):  # the pid was recycled before pidfd_open
            os.close(pidfd)
            continue
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        pidfds.append(pidfd)
    return pidfds


async def wait_exit(loop: asyncio.AbstractEventLoop, pidfds: list[int], timeout: float) -> None:
    """Wait until every pidfd reports its process exited (or timeout), then close them."""
    pending = set(pidfds)
    done = loop.create_future()

    def exited(fd: int) -> None:
        loop.remove_reader(fd)
        pending.discard(fd)
        if not pending and not done.done():
            done.set_result(None)

    def timed_out() -> None:
        if not done.done():
            done.set_result(None)

    for fd in pidfds:
        loop.add_reader(fd, exited, fd)
    timer = loop.call_later(timeout, timed_out)  # either loop's futures: no asyncio.wait_for
    try:
        await done
    finally:
        timer.cancel()
        for fd in pending:
            loop.remove_reader(fd)
        close_all(pidfds)


class ChildReaper:
    """Reaps every child of the process and hands statuses to watchers.

    No SIGCHLD handler: each executor watches its children's pidfds and calls
    ``reap()`` when one becomes readable. ``waitpid(-1)`` then also collects
    adopted orphans (we are a subreaper; their statuses are dropped), so while a
    reaper is in use nothing else in the process may wait for its own children.
    One per process, shared (``acquire``/``release``) by every executor.
    """

    _shared: ClassVar[ChildReaper | None] = None

    def __init__(self) -> None:
        self._watchers: dict[int, Callable[[int], None]] = {}
        self._users = 0
        self._was_subreaper = False

    @classmethod
    def acquire(cls) -> ChildReaper:
        """The process's reaper; the first user makes the process a child subreaper."""
        reaper = cls._shared = cls._shared or cls()
        if reaper._users == 0:
            reaper._was_subreaper = set_child_subreaper(True)
        reaper._users += 1
        return reaper

    def release(self) -> None:
        """Undo ``acquire``; the last user reaps what is left and restores the subreaper flag."""
        self._users -= 1
        if self._users == 0:
            self.reap()
            set_child_subreaper(self._was_subreaper)

    def watch(self, pid: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(wait_status)`` once ``pid`` has been reaped."""
        self._watchers[pid] = callback

    def forget(self, pid: int) -> None:
        """Stop watching ``pid`` (its status will be dropped)."""
        self._watchers.pop(pid, None)

    def reap(self, expected: int = 0) -> None:
        """Collect exited children now, then dispatch.

        Collecting first bounds the work: a callback that launches a step whose
        child exits at once is seen on the next wake-up, not in a loop that would
        starve the event loop. ``expected``: stop after that many (the caller
        saw that many exit notices; one ``waitpid`` less per wake-up), 0 = all.
        A child left for later still has its notice pending, so it comes back.
        """
        statuses = []
        while not expected or len(statuses) < expected:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            statuses.append((pid, status))
        for pid, status in statuses:
            callback = self._watchers.pop(pid, None)
            if callback is None:
                continue  # an adopted orphan
            try:
                callback(status)
            except Exception as exc:  # a sink's bug must not stop reaping
                running_loop().call_exception_handler(
                    {"message": "flowrun: exit callback failed", "exception": exc}
                )
