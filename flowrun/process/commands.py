"""Where a command named without a slash is found on PATH, remembered while nothing there changes.

``posix_spawnp`` searches PATH in the vfork child: each folder before the one
holding the command costs a failed ``execve``, and flowrun waits for all of them
(the call returns only once the child has exec'd). So the search is done once in
flowrun, as a shell's command hash does (``hash`` in bash), but it never goes
stale: an inotify watch on every folder of PATH (up to a relative one, which
is left to the child), and on every folder above them, forgets everything
remembered as soon as an entry is created, removed, renamed or changes mode there.
A folder that does not exist yet is covered by its parent's watch; a symlink
switched to another target by its parent's. The search itself is ``which``, the
one the spawner also uses for a step's own PATH.

The inotify queue is checked (``epoll_wait`` with no timeout) before each answer,
so a change a finished step made is always seen by the steps started after it.
Any change also forgets which folders are watched: a folder removed and made
again is a new folder, and its watch is added again at the next search.
Changes the kernel does not report (another machine writing to an NFS folder)
are not seen; a remembered path that has gone away makes the spawn fail, and
the caller then searches again (``forget``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import select

__all__ = ["CommandPaths", "which"]

_IN_NONBLOCK, _IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
#: attrib, moved from/to, create, delete, delete self, move self; only folders
_WATCH_MASK = 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x01000000


class CommandPaths:
    """``find(cmd, PATH)``: the file ``execvp`` would run, or None. ``close()`` at the end."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self._fd = -2  # not opened yet; -1: inotify is not available, nothing is remembered
        self._watched: set[str] = set()
        self._known: dict[tuple[str, str], str] = {}
        self._changes = select.epoll()  # readable when the inotify queue holds events

    def find(self, cmd: str, path: str) -> str | None:
        """The executable ``cmd`` resolves to on ``path``, as ``execvp`` searches; None if there is none.

        None also where flowrun cannot know: a relative folder on ``path`` before the command's.
        """
        if self._fd == -2:
            self._open()
        if self._fd < 0:
            return None
        if self._changes.poll(0):  # no exception and no buffer when nothing happened
            self._forget_changes()
        found = self._known.get((cmd, path))
        if found is not None:
            return found
        folders = path.split(os.pathsep)
        absolute = os.pathsep.join(itertools.takewhile(os.path.isabs, folders))
        if not absolute:
            return None  # relative to each step's own folder: left to the child's search
        remember = all(self._watch(folder) for folder in absolute.split(os.pathsep))  # before looking
        try:
            found = which(cmd, absolute, "/")
        except OSError:
            return None  # not there, or after a relative folder: the child searches as execvp would
        if remember:
            self._known[(cmd, path)] = found
        return found

    def forget(self) -> None:
        self._known.clear()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._changes.close()
        self._known.clear()

    def __del__(self) -> None:  # a raw fd is not closed by the garbage collector: an inotify instance is scarce
        with contextlib.suppress(Exception):
            self.close()

    def _open(self) -> None:
        try:
            fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        except AttributeError:  # a C library without inotify
            fd = -1
        self._fd = fd if fd >= 0 else -1  # out of inotify instances: the child searches every time
        if self._fd >= 0:
            self._changes.register(self._fd, select.EPOLLIN)

    def _watch(self, folder: str) -> bool:
        """Watch ``folder`` (when it exists) and every folder above it; False if one cannot be watched."""
        added: list[str] = []
        folder = folder.rstrip("/") or "/"  # not normpath: the kernel resolves "..", through symlinks
        while folder not in self._watched:
            if self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _WATCH_MASK) >= 0:
                added.append(folder)
            elif ctypes.get_errno() not in (errno.ENOENT, errno.ENOTDIR):  # those: the parent's watch sees it
                return False  # unreadable, or out of watches: this search is not remembered
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        self._watched.update(added)  # only whole chains: a watched folder's parents are watched
        return True

    def _forget_changes(self) -> None:
        self._known.clear()
        self._watched.clear()  # a removed folder's watch is gone with it
        while True:
            try:
                if not os.read(self._fd, 65536):
                    break
            except BlockingIOError:
                break


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
