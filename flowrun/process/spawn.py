"""Starting a step's process: glibc ``posix_spawn`` (vfork path) through ctypes.

The child leads a new session, gets its stdio by dup2, every other fd closed,
its cwd, an empty signal mask and every signal at its default action except the
ones ignored when flowrun started. A command named without a slash is searched
for on PATH by the child, as ``execvp`` does (by flowrun when the step's PATH is
not flowrun's own). Where glibc lacks what is needed,
``subprocess.Popen(start_new_session=True)`` is the fallback.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import os
import signal
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import subprocess  # only where libc has no posix_spawn: imported then

__all__ = ["Spawner", "close_all"]

_SPAWN_FLAGS = 0x04 | 0x08  # POSIX_SPAWN_SETSIGDEF | SETSIGMASK
_SETSID, _SETPGROUP = 0x80, 0x02
_PTR = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"
#: file-action sets kept by ``Spawner._file_actions``
_KEPT_ACTIONS = 16
_NOTHING: frozenset[str] = frozenset()


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


def _block(strings: Sequence[str]) -> tuple[array.array[int], array.array[int]]:
    """A NULL-terminated ``char *[]`` over one buffer, encoded in one call: no ctypes object per string."""
    if not strings:
        return array.array("B"), array.array(_PTR, [0])
    text = "\0".join(strings)
    if text.count("\0") != len(strings) - 1:
        raise ValueError("embedded null byte")
    raw = (text + "\0").encode("utf-8", "surrogateescape")
    blob = array.array("B", raw)
    address = blob.buffer_info()[0]
    ptrs = array.array(_PTR, [address])
    if len(raw) == len(text) + 1:  # ASCII: byte offsets are character offsets
        for string in strings[:-1]:
            address += len(string) + 1
            ptrs.append(address)
    else:
        for i in range(len(raw) - 1):
            if raw[i] == 0:
                ptrs.append(address + i + 1)
    ptrs.append(0)
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
        self._actions: dict[tuple[int | str | None, ...], ctypes.Array[ctypes.c_char]] = {}
        self._shared: Mapping[str, str] | None = None  # see _envp
        self._shared_size = 0
        self._shared_blocks: dict[frozenset[str], tuple[array.array[int], array.array[int]]] = {}
        # read once: flowrun never changes its own folder or PATH while steps run
        self._own_cwd = _getcwd()
        self._own_path = os.environ.get("PATH")
        if self._libc is not None:
            self._attr = ctypes.create_string_buffer(1024)  # > sizeof(posix_spawnattr_t)
            self._attr_address = ctypes.addressof(self._attr)
            self._pid = ctypes.c_int()
            self._pid_address = ctypes.addressof(self._pid)
            sigdef, nomask = ctypes.create_string_buffer(128), ctypes.create_string_buffer(128)
            self._libc.sigemptyset(nomask)
            self._libc.sigemptyset(sigdef)
            for sig in _signals_to_default():
                self._libc.sigaddset(sigdef, sig)
            self._libc.posix_spawnattr_init(self._attr)
            self._libc.posix_spawnattr_setsigdefault(self._attr, sigdef)
            self._libc.posix_spawnattr_setsigmask(self._attr, nomask)
            flags = _SPAWN_FLAGS | (_SETSID if new_session else _SETPGROUP)  # pgroup 0: its own group
            self._libc.posix_spawnattr_setflags(self._attr, ctypes.c_short(flags))

    def spawn(self, argv: tuple[str, ...], env: Mapping[str, str], cwd: str, fds: tuple[int, int, int]) -> int:
        """Return the child's pid; raise OSError (``filename`` is cwd when it is to blame)."""
        low: list[int] = []
        if min(fds) < 3:  # dup2 onto 0-2 must not clobber a source still needed: move those up first
            low = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) if fd < 3 else -1 for fd in fds]
            fds = tuple(d if d >= 0 else fd for d, fd in zip(low, fds, strict=True))  # type: ignore[assignment]
        try:
            if self._libc is None:
                import subprocess

                p = subprocess.Popen(
                    argv, stdin=fds[0], stdout=fds[1], stderr=fds[2], cwd=cwd, env=env,
                    start_new_session=self._new_session, process_group=None if self._new_session else 0,
                    close_fds=True,
                )  # fmt: skip
                self._popens[p.pid] = p
                return p.pid
            return self._posix_spawn(argv, env, cwd, fds)
        finally:
            if low:
                close_all(d for d in low if d >= 0)

    def _posix_spawn(self, argv: tuple[str, ...], env: Mapping[str, str], cwd: str, fds: tuple[int, ...]) -> int:
        libc = self._libc
        assert libc is not None
        shared, own = self._env_parts(env)
        blob, ptrs = _block((*argv, *own))  # argv and the step's own variables, encoded in one go
        n = len(argv)
        args = ptrs[:n]
        args.append(0)
        envp = ptrs[n:] if shared is None else shared[1] + ptrs[n:]
        path = os.fsencode(argv[0])
        spawn = libc.posix_spawnp  # searches PATH in the child, after chdir, like execvp
        if "/" not in argv[0]:
            step_path = env.get("PATH")
            if step_path != self._own_path:  # posix_spawnp would search flowrun's PATH, not the step's
                found = which(argv[0], os.defpath if step_path is None else step_path, cwd)
                path, spawn = os.fsencode(found), libc.posix_spawn
        chdir = cwd if cwd != self._own_cwd else None  # saves a chdir in the child
        err = spawn(
            self._pid_address, path, self._file_actions(fds, chdir), self._attr_address,
            args.buffer_info()[0], envp.buffer_info()[0],
        )  # fmt: skip
        del blob  # alive until here: the pointers point into it
        if err:
            usable = os.path.isdir(cwd) and os.access(cwd, os.X_OK)
            raise OSError(err, os.strerror(err), argv[0] if usable else cwd)
        return self._pid.value

    def _env_parts(
        self, env: Mapping[str, str]
    ) -> tuple[tuple[array.array[int], array.array[int]] | None, list[str]]:
        """(the kept shared part of ``env`` as (blob, pointers without NULL) or None, the rest as ``K=V``).

        The engine passes a step's environment as ``StepEnv(own, shared)``, the
        shared map being the same for every step of a run. Its entries are encoded
        once and kept (less those ``own`` replaces); each spawn then encodes only its
        own few. That also keeps each spawn from reading the whole environment.
        """
        if not isinstance(env, ChainMap) or len(env.maps) != 2:
            return None, [f"{key}={value}" for key, value in env.items()]
        own, shared = env.maps
        if shared is not self._shared or len(shared) != self._shared_size:
            self._shared, self._shared_size, self._shared_blocks = shared, len(shared), {}
        replaced = _NOTHING if own.keys().isdisjoint(shared) else frozenset(own.keys() & shared.keys())
        kept = self._shared_blocks.get(replaced)
        if kept is None:
            if len(self._shared_blocks) >= _KEPT_ACTIONS:
                self._shared_blocks.clear()
            blob, ptrs = _block([f"{key}={value}" for key, value in shared.items() if key not in replaced])
            kept = self._shared_blocks[replaced] = (blob, ptrs[:-1])  # without its NULL: own entries follow
        return kept, [f"{key}={value}" for key, value in own.items()]

    def _file_actions(self, fds: tuple[int, ...], chdir: str | None) -> int:
        """The address of a ``posix_spawn_file_actions_t`` for these fds and folder.

        Built once per key and kept (a few, least recently used first out): a run's
        pipes reuse the same fd numbers, so most spawns find theirs.
        """
        key = (*fds, chdir)
        cached = self._actions.pop(key, None)
        if cached is None:
            libc = self._libc
            assert libc is not None
            cached = ctypes.create_string_buffer(1024)  # > sizeof(posix_spawn_file_actions_t)
            address = ctypes.addressof(cached)
            libc.posix_spawn_file_actions_init(address)
            for target, fd in enumerate(fds):
                libc.posix_spawn_file_actions_adddup2(address, fd, target)
            if chdir is not None:
                libc.posix_spawn_file_actions_addchdir_np(address, os.fsencode(chdir))
            libc.posix_spawn_file_actions_addclosefrom_np(address, 3)
            if len(self._actions) >= _KEPT_ACTIONS:
                oldest = self._actions.pop(next(iter(self._actions)))
                libc.posix_spawn_file_actions_destroy(ctypes.addressof(oldest))
        self._actions[key] = cached
        return ctypes.addressof(cached)

    def reaped(self, pid: int, status: int) -> None:
        """Tell the Popen fallback its child was reaped (no "still running" warning)."""
        p = self._popens.pop(pid, None) if self._popens else None
        if p is not None:
            p.returncode = os.waitstatus_to_exitcode(status)


def _signals_to_default() -> list[int]:
    """Signals a child starts with at their default action: all but those ignored now.

    Python ignores SIGPIPE and SIGXFSZ itself, so those are reset too. A signal
    ignored by whoever started flowrun (``nohup``'s SIGHUP) stays ignored, as a
    shell passes it on. Listing the signals is also faster: for a signal *not*
    listed, glibc's vfork child asks for its action first, and the parent waits
    on every one of those system calls (``posix_spawn`` returns after the exec).
    """
    own = {signal.SIGPIPE, signal.SIGXFSZ}
    return sorted(
        sig for sig in signal.valid_signals()
        if sig not in (signal.SIGKILL, signal.SIGSTOP)
        and (sig in own or signal.getsignal(sig) != signal.SIG_IGN)
    )  # fmt: skip


def which(cmd: str, path: str, cwd: str) -> str:
    """execvp's search through the *child's* PATH; relative entries are from its cwd."""
    denied = False
    for folder in path.split(os.pathsep):
        candidate = os.path.join(cwd, folder or ".", cmd)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = True
    raise (PermissionError(13, "Permission denied", cmd) if denied else FileNotFoundError(2, "Not found", cmd))


def _getcwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # our own folder was removed
        return None


def close_all(fds: Iterable[int]) -> None:
    """Close fds, ignoring the ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
