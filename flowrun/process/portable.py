"""PortableExecutor: the local process path on any POSIX system (macOS, BSDs, Linux without pidfds).

Same engine-facing logic as the Linux path (``members.py``: wiring, spawn,
timeouts, kill_signal → kill_grace → SIGKILL to the group, the end-of-run
clean-up); only the OS facilities differ:

- exits: SIGCHLD wakes the loop (``loop.add_signal_handler``, the loop's own
  wake-up fd), then ``waitpid(pid, WNOHANG)`` for each child we started, so the
  statuses of children that are not ours are never taken. Where the loop cannot
  take signals (not the main thread) a thread per child blocks in ``waitpid``
  as asyncio's ThreadedChildWatcher does.
- capture pipes: ``loop.add_reader`` (kqueue on macOS, whatever the loop uses).
- fan-out: the relay's bounded copy, never tee/splice.
- leftovers: no child subreaper, so orphans go to init; processes that left
  their group are found by their tag through ``ps`` (``pslist.py``) and
  signalled by pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from flowrun.process import pslist
from flowrun.process.kill import tag_entry
from flowrun.process.members import Member, MemberExecutor

__all__ = ["ExitWatcher", "PortableExecutor"]

#: how often the end of a run looks again for leftovers that were killed (they exit at once)
_POLL = 0.01


class ExitWatcher:
    """Reaps the children it was told about, by pid, and hands statuses to their callbacks.

    One per event loop, shared by every executor of that loop (SIGCHLD has one
    handler): ``acquire(loop)`` / ``release()``. Loops in other threads wait with a
    thread per child; each watcher asks only for its own pids, so they never meet.
    """

    _by_loop: ClassVar[dict[asyncio.AbstractEventLoop, ExitWatcher]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watchers: dict[int, Callable[[int], None]] = {}
        self._users = 0
        self._previous = signal.getsignal(signal.SIGCHLD)  # an embedding program's own handler comes back
        try:
            loop.add_signal_handler(signal.SIGCHLD, self.poll)
            self.signals = True
        except (ValueError, RuntimeError):  # not the main thread: a waiting thread per child
            self.signals = False

    @classmethod
    def acquire(cls, loop: asyncio.AbstractEventLoop) -> ExitWatcher:
        watcher = cls._by_loop.get(loop)
        if watcher is None:
            watcher = cls._by_loop[loop] = cls(loop)
        watcher._users += 1
        return watcher

    def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            self.poll()
            if self.signals:
                self._loop.remove_signal_handler(signal.SIGCHLD)
                if self._previous not in (None, signal.SIG_DFL):
                    signal.signal(signal.SIGCHLD, self._previous)
            ExitWatcher._by_loop.pop(self._loop, None)

    def watch(self, pid: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(wait_status)`` from the loop once ``pid`` has exited (and was reaped)."""
        self._watchers[pid] = callback
        if not self.signals:
            threading.Thread(target=self._wait_one, args=(pid,), name="flowrun-waitpid", daemon=True).start()
        # else: a child that already ended sent its SIGCHLD; the loop polls before it waits again

    def forget(self, pid: int) -> None:
        self._watchers.pop(pid, None)

    def poll(self) -> None:
        """Reap every watched child that has exited; in watch order (a pipeline's consumers first).

        Without signals each child has its own waiting thread, which reports it: nothing to do here.
        """
        if not self.signals:
            return
        done = []
        for pid in list(self._watchers):
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # someone else reaped it: its status is lost
                got, status = pid, 255 << 8
            if got:
                done.append((pid, status))
        for pid, status in done:
            self._dispatch(pid, status)

    def _dispatch(self, pid: int, status: int) -> None:
        callback = self._watchers.pop(pid, None)
        if callback is None:
            return
        try:
            callback(status)
        except Exception as exc:  # a sink's bug must not stop reaping
            self._loop.call_exception_handler({"message": "flowrun: exit callback failed", "exception": exc})

    def _wait_one(self, pid: int) -> None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 255 << 8
        try:
            self._loop.call_soon_threadsafe(self._dispatch, pid, status)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


class PortableExecutor(MemberExecutor):
    """``LocalExecutor``'s contract on any POSIX system; see the module docstring for what differs.

    Unlike the Linux path it waits only for its own children (by pid), so other
    code of the process may start and wait for children meanwhile.
    """

    zero_copy = False

    def __init__(self, *, libc_spawn: bool = True, new_session: bool = True) -> None:
        super().__init__(libc_spawn=libc_spawn, new_session=new_session)
        self._watcher: ExitWatcher | None = None
        self._members: dict[int, Member] = {}  # pid → running member

    def _bind_os(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watcher = ExitWatcher.acquire(loop)

    def _watch(self, m: Member) -> None:
        self._members[m.pid] = m
        self._watcher.watch(m.pid, partial(self._exited, m))  # type: ignore[union-attr]
        if m.capture >= 0:
            self._loop.add_reader(m.capture, self._drain, m, 1)  # type: ignore[union-attr]

    def _release(self, m: Member) -> None:
        del self._members[m.pid]

    def _close_capture(self, m: Member) -> None:
        self._loop.remove_reader(m.capture)  # type: ignore[union-attr]
        super()._close_capture(m)

    def _sweep_tag(self, tag: tuple[str, str]) -> None:
        pslist.kill_matching((), (os.fsdecode(tag_entry(tag)),))

    async def _kill_leftovers(self, groups: set[int], sessions: set[int]) -> None:
        """Kill what is in the groups or carries a tag (``ps``), then wait for it to be gone."""
        tags = [os.fsdecode(tag_entry(tag)) for tag in self._tags]
        watcher = self._watcher
        assert watcher is not None
        for _ in range(5):  # again: something may have forked between listing and kill
            pids = pslist.kill_matching(groups, tags, sessions)
            if not pids:
                break
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while pids and loop.time() < deadline:
                await asyncio.sleep(_POLL)
                watcher.poll()  # our own children among them: reap them (a zombie is not gone)
                pids = pslist.alive(pids)
        deadline = asyncio.get_running_loop().time() + 5.0
        while True:  # our own members got SIGKILL: report each once it is reaped
            watcher.poll()
            if not self._members or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(_POLL)

    def _unbind(self) -> None:
        watcher = self._watcher
        assert watcher is not None
        for pid in list(self._members):  # unkillable: give up on them
            watcher.forget(pid)
        watcher.release()
