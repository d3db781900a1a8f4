"""A step's process tree from birth to reaping: spawn, signal, sweep, subreap, reap.

Every step leads its own session (``posix_spawn`` with SETSID), so ``killpg``
reaches its whole tree unless a descendant calls ``setsid``; those escapees still
carry the step's environment tag and are found in ``/proc/*/environ``. flowrun
makes itself a child subreaper, so orphans of a step are re-parented to it (not
to init) and reaped here.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import fcntl
import itertools
import os
import signal
import subprocess
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import ClassVar

__all__ = [
    "ChildReaper",
    "Spawner",
    "close_all",
    "group_exists",
    "set_child_subreaper",
    "signal_group",
    "sweep",
    "tag_entry",
    "wait_exit",
]

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _prctl(option: int, arg: ctypes.c_ulong | ctypes._Pointer) -> int:  # type: ignore[type-arg]
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    return int(libc.prctl(ctypes.c_int(option), arg, zero, zero, zero))


_SPAWN_FLAGS = 0x04 | 0x08  # POSIX_SPAWN_SETSIGDEF | SETSIGMASK
_SETSID, _SETPGROUP = 0x80, 0x02
_PTR = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"


def _load_libc() -> ctypes.CDLL | None:
    """glibc with the posix_spawn extensions we need (chdir: 2.29, closefrom: 2.34)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for name in ("posix_spawn_file_actions_addchdir_np", "posix_spawn_file_actions_addclosefrom_np"):
            getattr(libc, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p if "chdir" in name else ctypes.c_int]
    except (OSError, AttributeError):
        return None
    ptr = ctypes.c_void_p
    libc.posix_spawn_file_actions_adddup2.argtypes = [ptr, ctypes.c_int, ctypes.c_int]
    libc.posix_spawn_file_actions_init.argtypes = [ptr]  # addresses, not 32-bit ints
    libc.posix_spawn_file_actions_destroy.argtypes = [ptr]
    for name in ("posix_spawn", "posix_spawnp"):
        getattr(libc, name).argtypes = [ptr, ctypes.c_char_p, ptr, ptr, ptr, ptr]
    return libc


def _block(strings: list[bytes]) -> tuple[bytes, array.array[int]]:
    """A NULL-terminated ``char *[]`` over one buffer: no ctypes object per string."""
    blob = b"\0".join(strings) + b"\0"
    if blob.count(0) != len(strings) + (not strings):
        raise ValueError("embedded null byte")
    base = ctypes.cast(ctypes.c_char_p(blob), ctypes.c_void_p).value or 0
    ptrs = array.array(_PTR, itertools.accumulate([len(x) + 1 for x in strings], initial=base))
    ptrs[-1] = 0
    return blob, ptrs


class Spawner:
    """Starts a child in its own session with fds 0-2 set, every other fd closed.

    glibc's ``posix_spawn`` (a CLONE_VFORK child, exec errors reported back) with
    chdir and closefrom file actions; ``subprocess.Popen`` where that is missing.
    Either way SIGPIPE and SIGXFSZ are back to default in the child.
    """

    def __init__(self, use_libc: bool = True, new_session: bool = True) -> None:
        self._new_session = new_session
        self._libc = _load_libc() if use_libc else None
        self._popens: dict[int, subprocess.Popen[bytes]] = {}
        if self._libc is not None:
            self._attr = ctypes.create_string_buffer(1024)  # > sizeof(posix_spawnattr_t)
            self._actions = ctypes.create_string_buffer(1024)
            self._pid = ctypes.c_int()
            sigdef, nomask = ctypes.create_string_buffer(128), ctypes.create_string_buffer(128)
            self._libc.sigemptyset(nomask)
            self._libc.sigemptyset(sigdef)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; children must not
                self._libc.sigaddset(sigdef, sig)
            self._libc.posix_spawnattr_init(self._attr)
            self._libc.posix_spawnattr_setsigdefault(self._attr, sigdef)
            self._libc.posix_spawnattr_setsigmask(self._attr, nomask)
            flags = _SPAWN_FLAGS | (_SETSID if new_session else _SETPGROUP)  # pgroup 0: its own group
            self._libc.posix_spawnattr_setflags(self._attr, ctypes.c_short(flags))

    def spawn(self, argv: tuple[str, ...], env: dict[str, str], cwd: str, fds: tuple[int, int, int]) -> int:
        """Return the child's pid; raise OSError (``filename`` is cwd when it is to blame)."""
        low = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) if fd < 3 else -1 for fd in fds]  # dup2 must not clobber
        try:
            fds = tuple(d if d >= 0 else fd for d, fd in zip(low, fds, strict=True))  # type: ignore[assignment]
            if self._libc is None:
                p = subprocess.Popen(
                    argv, stdin=fds[0], stdout=fds[1], stderr=fds[2], cwd=cwd, env=env,
                    start_new_session=self._new_session, process_group=None if self._new_session else 0,
                    close_fds=True,
                )  # fmt: skip
                self._popens[p.pid] = p
                return p.pid
            return self._posix_spawn(argv, env, cwd, fds)
        finally:
            close_all(d for d in low if d >= 0)

    def _posix_spawn(self, argv: tuple[str, ...], env: dict[str, str], cwd: str, fds: tuple[int, ...]) -> int:
        libc, actions = self._libc, ctypes.addressof(self._actions)
        assert libc is not None
        envp = _block([f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in env.items()])
        args = _block([os.fsencode(a) for a in argv])
        path = os.fsencode(argv[0])
        spawn = libc.posix_spawnp  # searches PATH in the child, after chdir, like execvp
        if env.get("PATH") != os.environ.get("PATH") and "/" not in argv[0]:
            path, spawn = os.fsencode(_which(argv[0], env.get("PATH", os.defpath), cwd)), libc.posix_spawn
        libc.posix_spawn_file_actions_init(actions)
        try:
            for target, fd in enumerate(fds):
                libc.posix_spawn_file_actions_adddup2(actions, fd, target)
            libc.posix_spawn_file_actions_addchdir_np(actions, os.fsencode(cwd))
            libc.posix_spawn_file_actions_addclosefrom_np(actions, 3)
            err = spawn(
                ctypes.addressof(self._pid), path, actions, ctypes.addressof(self._attr),
                args[1].buffer_info()[0], envp[1].buffer_info()[0],
            )  # fmt: skip
        finally:
            libc.posix_spawn_file_actions_destroy(actions)
        if err:
            usable = os.path.isdir(cwd) and os.access(cwd, os.X_OK)
            raise OSError(err, os.strerror(err), argv[0] if usable else cwd)
        return self._pid.value

    def reaped(self, pid: int, status: int) -> None:
        """Tell the Popen fallback its child was reaped (no "still running" warning)."""
        p = self._popens.pop(pid, None)
        if p is not None:
            p.returncode = os.waitstatus_to_exitcode(status)


def _which(cmd: str, path: str, cwd: str) -> str:
    """execvp's search through the *child's* PATH; relative entries are from its cwd."""
    for folder in path.split(os.pathsep):
        candidate = os.path.join(cwd, folder or ".", cmd)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(2, "No such file or directory", cmd)


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


async def wait_exit(loop: asyncio.AbstractEventLoop, pidfds: list[int], timeout: float) -> None:
    """Wait until every pidfd reports its process exited (or timeout), then close them."""
    pending = set(pidfds)
    done = loop.create_future()

    def exited(fd: int) -> None:
        loop.remove_reader(fd)
        pending.discard(fd)
        if not pending and not done.done():
            done.set_result(None)

    for fd in pidfds:
        loop.add_reader(fd, exited, fd)
    try:
        await asyncio.wait_for(done, timeout)
    except TimeoutError:
        pass
    finally:
        for fd in pending:
            loop.remove_reader(fd)
        close_all(pidfds)


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
        """Collect every exited child now (the SIGCHLD handler), then dispatch.

        Collecting first bounds the work: a callback that launches a step whose
        child exits at once is seen on the next SIGCHLD, not in an endless loop
        that would starve the event loop (and overflow its signal wake-up pipe).
        """
        statuses = []
        while True:
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
                self._loop.call_exception_handler({"message": "flowrun: exit callback failed", "exception": exc})
