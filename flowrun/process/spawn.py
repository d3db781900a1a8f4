"""Starting a step's process: glibc ``posix_spawn`` (vfork path) through ctypes.

The child leads a new session, gets its stdio by dup2, every other fd closed,
its cwd, and default SIGPIPE/SIGXFSZ with an empty signal mask. Where glibc lacks
what is needed, ``subprocess.Popen(start_new_session=True)`` is the fallback.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import itertools
import os
import signal
import subprocess
from collections.abc import Iterable

__all__ = ["Spawner", "close_all"]

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


#: ``KEY=VALUE`` bytes by (key, value): steps share almost all of their environment
_ENV_ENTRIES: dict[tuple[str, str], bytes] = {}


def _env_entry(key: str, value: str) -> bytes:
    entry = _ENV_ENTRIES.get((key, value))
    if entry is None:
        entry = f"{key}={value}".encode("utf-8", "surrogateescape")
        if len(_ENV_ENTRIES) < 1024:  # the shared entries come first; per-step ones need no cache
            _ENV_ENTRIES[key, value] = entry
    return entry


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
        envp = _block([_env_entry(k, v) for k, v in env.items()])
        args = _block([os.fsencode(a) for a in argv])
        path = os.fsencode(argv[0])
        spawn = libc.posix_spawnp  # searches PATH in the child, after chdir, like execvp
        if env.get("PATH") != os.environ.get("PATH") and "/" not in argv[0]:
            path, spawn = os.fsencode(_which(argv[0], env.get("PATH", os.defpath), cwd)), libc.posix_spawn
        libc.posix_spawn_file_actions_init(actions)
        try:
            for target, fd in enumerate(fds):
                libc.posix_spawn_file_actions_adddup2(actions, fd, target)
            if cwd != _getcwd():  # a getcwd here is cheaper than a chdir in the child
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


def _getcwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # our own folder was removed
        return None


def _which(cmd: str, path: str, cwd: str) -> str:
    """execvp's search through the *child's* PATH; relative entries are from its cwd."""
    denied = False
    for folder in path.split(os.pathsep):
        candidate = os.path.join(cwd, folder or ".", cmd)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = True
    raise (PermissionError(13, "Permission denied", cmd) if denied else FileNotFoundError(2, "Not found", cmd))


def close_all(fds: Iterable[int]) -> None:
    """Close fds, ignoring the ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
