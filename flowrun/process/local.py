"""LocalExecutor: the Linux fast path, pipelines run as child processes driven by loop callbacks.

No thread and no coroutine per step, and no signal handler. Each member's pidfd
and capture pipe (stdout and stderr share it, like a terminal) sit in the
executor's own epoll set, a single reader of the loop: registering costs one
syscall, not asyncio's bookkeeping. A readable pidfd makes the ``ChildReaper``
collect exits; timeouts and kill graces are ``call_later`` (``members.py``, shared
with the portable path). What a step leaves behind (its group after the leader
exited, processes carrying its tag) is remembered and killed by ``aclose()`` at
the end of the run, found through ``/proc`` and waited for through pidfds.
"""

from __future__ import annotations

import os
import select
from functools import partial

from flowrun.errors import ExecutorError
from flowrun.process.kill import ChildReaper, close_all, may_have_leftovers, sweep, tag_entry, wait_exit
from flowrun.process.latency import LatencyHint
from flowrun.process.members import Member, MemberExecutor

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

__all__ = ["LocalExecutor"]


class LocalExecutor(MemberExecutor):
    """Runs pipelines on this machine. Create it, ``launch`` from the loop, ``await aclose()``.

    - Use it from inside a running loop. Until ``aclose`` the process is a child
      subreaper and the executor reaps *every* child of the process (orphans
      too): nothing else may spawn and wait for children meanwhile.
    - ``sink.on_exit`` comes exactly once per pipeline, from a loop callback, when
      every member's own process has exited. ``sink.on_output`` may still come
      afterwards: processes a step left behind can write to its capture pipe
      until they end or ``aclose()`` kills them.
    - A member that could not start has ``error`` set, ``exit_code`` 127 (not
      found), 126 (not executable) or 1 (workdir, redirect file), and the error
      text is also sent as one output line. ``timed_out`` and ``cancelled`` may
      both be set when a cancel came during a timeout's grace.
    - Needs Linux 5.3+ (pidfds); ``flowrun.process.choose.local_executor()``
      picks ``PortableExecutor`` where this cannot run.
    """

    def __init__(self, *, libc_spawn: bool = True, new_session: bool = True) -> None:
        super().__init__(libc_spawn=libc_spawn, new_session=new_session)
        self._reaper: ChildReaper | None = None
        self._pidfds: dict[int, Member] = {}
        self._epoll = select.epoll()  # capture pipes and pidfds
        self._latency = LatencyHint()

    def _bind_os(self, loop: asyncio.AbstractEventLoop) -> None:
        _check_pidfd()
        self._reaper = ChildReaper.acquire()
        self._latency.apply()  # react to exits at once; steps keep the default slice (latency.py)
        loop.add_reader(self._epoll.fileno(), self._readable)

    def _watch(self, m: Member) -> None:
        self._reaper.watch(m.pid, partial(self._exited, m))  # type: ignore[union-attr]
        m.pidfd = os.pidfd_open(m.pid)  # before any reaping: the pid cannot be recycled yet
        self._pidfds[m.pidfd] = m
        self._epoll.register(m.pidfd, select.EPOLLIN)
        if m.capture >= 0:
            self._epoll.register(m.capture, select.EPOLLIN)

    def _readable(self) -> None:
        exited = 0
        for fd, _ in self._epoll.poll(0):
            m = self._captures.get(fd)
            if m is not None:
                self._drain(m, 1)
            else:
                m = self._pidfds.get(fd)
                if m is not None:
                    exited += 1
                    if m.exit_order < 0:  # epoll lists pidfds in the order they became readable
                        m.exit_order = self._exit_count
                        self._exit_count += 1
        if exited:
            self._reaper.reap(exited)  # type: ignore[union-attr]

    def _release(self, m: Member) -> None:
        del self._pidfds[m.pidfd]
        os.close(m.pidfd)  # the only reference: closing it also takes it out of the epoll set

    # a capture pipe's only reference is ours: closing it also takes it out of the epoll set
    # (MemberExecutor._close_capture)

    def _sweep_tag(self, tag: tuple[str, str]) -> None:
        close_all(sweep((), (tag_entry(tag),)))

    async def _kill_leftovers(self, groups: set[int], sessions: set[int]) -> None:
        assert self._loop is not None and self._reaper is not None
        rounds = 5 if groups or may_have_leftovers() else 0  # no child left (a subreaper): nothing to find
        for _ in range(rounds):  # again: something may have forked between scan and kill
            pidfds = sweep(groups, [tag_entry(tag) for tag in self._tags], sessions)
            if not pidfds:
                break
            await wait_exit(self._loop, pidfds, timeout=5.0)
            self._reaper.reap()
        self._reaper.reap()

    def _unbind(self) -> None:
        assert self._loop is not None and self._reaper is not None
        for m in list(self._pidfds.values()):  # unkillable (D state): give up on them
            self._reaper.forget(m.pid)
            os.close(m.pidfd)
        self._reaper.release()
        self._latency.restore()
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()

    def _close_unbound(self) -> None:
        self._epoll.close()


def _check_pidfd() -> None:
    """Exits are watched through pidfds: say so plainly where the kernel has none."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError) as exc:
        raise ExecutorError(
            f"this system cannot watch processes through pidfds ({exc}): the Linux process path needs "
            "Linux 5.3 or later (FLOWRUN_PROCESS=portable runs the portable one)"
        ) from None
