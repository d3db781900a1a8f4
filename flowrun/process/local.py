"""LocalExecutor: pipelines run as child processes of flowrun, driven by loop callbacks.

No thread and no coroutine per step, and no signal handler. Each member's pidfd
and capture pipe (stdout and stderr share it, like a terminal) sit in the
executor's own epoll set, a single reader of the loop: registering costs one
syscall, not asyncio's bookkeeping. A readable pidfd makes the ``ChildReaper``
collect exits; timeouts and kill graces are ``call_later``. What a step leaves
behind (its group after the leader exited, processes carrying its tag) is
remembered and killed by ``aclose()`` at the end of the run.
"""

from __future__ import annotations

import os
import select
import signal
import time
from functools import partial

from flowrun.errors import ExecutorError
from flowrun.process.executor import LaunchSpec, MemberOutcome, PipelineHandle, PipelineSink, PipelineSpec
from flowrun.process.kill import (
    ChildReaper,
    close_all,
    group_exists,
    may_have_leftovers,
    signal_group,
    sweep,
    tag_entry,
    wait_exit,
)
from flowrun.process.latency import LatencyHint
from flowrun.process.loop import running_loop
from flowrun.process.pipes import CapturePipes, FanoutRelay, MemberFds, TextFeeder, wire
from flowrun.process.spawn import Spawner
from flowrun.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

__all__ = ["LocalExecutor"]

#: Reads when draining a capture pipe at a member's exit / at aclose: bounded, so a
#: chatty leftover cannot stall the loop.
_DRAIN_READS, _FINAL_READS = 16, 256
_READ_SIZE = 65536


@record(slots=True, eq=False)
class _Member:
    spec: LaunchSpec
    pipeline: _Pipeline
    pid: int = 0
    pidfd: int = -1
    started: float = 0.0
    ended: float = 0.0
    #: wait status once reaped; the exit code to report when ``error`` is set
    status: int | None = None
    error: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    group_gone: bool = False
    exit_order: int = -1  # see MemberOutcome.exit_order
    capture: int = -1
    timer: asyncio.TimerHandle | None = None
    grace: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self.pid > 0 and self.status is None

    def outcome(self) -> MemberOutcome:
        code = sig = None
        if self.error is not None:
            code = self.status
        elif self.status is not None and os.WIFSIGNALED(self.status):
            sig = os.WTERMSIG(self.status)
        elif self.status is not None:
            code = os.WEXITSTATUS(self.status)
        return MemberOutcome(
            self.spec.name, code, sig, self.started, self.ended, self.timed_out, self.cancelled, self.error,
            exit_order=self.exit_order if self.exit_order >= 0 else None,
        )


class _Pipeline:
    """The handle ``launch`` returns."""

    def __init__(self, executor: LocalExecutor, spec: PipelineSpec, sink: PipelineSink) -> None:
        self._executor = executor
        self.sink = sink
        self.members = [_Member(m, self) for m in spec.members]
        self.remaining = len(self.members)

    def cancel(self, force: bool = False) -> None:
        """Stop every member still running: kill_signal, grace, SIGKILL (force: SIGKILL now)."""
        for m in self.members:
            if m.running:
                m.cancelled = True
                self._executor._terminate(m, force)
            elif force and m.grace is not None:
                self._executor._kill_now(m)

    def member_done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._executor._running.discard(self)
            self.sink.on_exit(tuple([m.outcome() for m in self.members]))


class LocalExecutor:
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
    """

    def __init__(self, *, libc_spawn: bool = True, new_session: bool = True) -> None:
        self._spawner = Spawner(use_libc=libc_spawn, new_session=new_session)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaper: ChildReaper | None = None
        self._closed = False
        self._devnull = -1
        self._running: set[_Pipeline] = set()
        self._exit_count = 0
        self._lingering: set[int] = set()  # groups that outlived their leader
        self._tags: set[tuple[str, str]] = set()  # encoded only if a sweep needs them
        self._captures: dict[int, _Member] = {}
        self._pidfds: dict[int, _Member] = {}
        self._epoll = select.epoll()  # capture pipes and pidfds
        self._graces: set[_Member] = set()
        self._relays: list[FanoutRelay] = []
        self._feeders: list[TextFeeder] = []
        self._latency = LatencyHint()
        self._capture_pipes = CapturePipes()

    def launch(self, pipeline: PipelineSpec, sink: PipelineSink) -> PipelineHandle:
        """Start every member (consumers first); never raises for a member's spawn error."""
        if self._closed:
            raise ExecutorError("launch() after aclose()")
        loop = self._loop or self._bind()
        try:
            wiring = wire(pipeline, self._devnull, self._capture_pipes)
        except OSError as exc:
            raise ExecutorError(f"cannot set up pipes: {exc}") from exc
        p = _Pipeline(self, pipeline, sink)
        for i in wiring.order:
            self._start(p.members[i], wiring.members[i])
        if wiring.relays:
            self._relays = [r for r in self._relays if r.alive]
            for relay in wiring.relays:
                relay.start()
                self._relays.append(relay)
        if wiring.feeds:
            self._feeders = [f for f in self._feeders if not f.done]
            self._feeders.extend(TextFeeder(loop, fd, data) for fd, data in wiring.feeds)
        self._running.add(p)
        try:  # the next launch's capture pipe, made now that this one's processes run
            self._capture_pipes.refill()
        except OSError:
            pass  # out of fds: the next launch tries again and reports it
        for m in p.members:  # members that never started end now, but not re-entrantly
            if m.error is not None:
                loop.call_soon(sink.on_output, m.spec.name, m.error.encode() + b"\n")
                loop.call_soon(p.member_done)
        return p

    def _bind(self) -> asyncio.AbstractEventLoop:
        _check_pidfd()
        self._loop = running_loop()
        self._reaper = ChildReaper.acquire()
        self._latency.apply()  # react to exits at once; steps keep the default slice (latency.py)
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._loop.add_reader(self._epoll.fileno(), self._readable)
        return self._loop

    def _start(self, m: _Member, f: MemberFds) -> None:
        spec = m.spec
        m.started = time.time()
        env = spec.env
        if spec.tag is not None:
            self._tags.add(spec.tag)
            if env.get(spec.tag[0]) != spec.tag[1]:
                env = {**env, spec.tag[0]: spec.tag[1]}
        if f.error is None and not spec.argv:
            f.error = "empty command"
        if f.error is None:
            try:
                m.pid = self._spawner.spawn(spec.argv, env, spec.cwd, (f.stdin, f.stdout, f.stderr))
            except (OSError, ValueError) as exc:
                f.error, m.status = _spawn_error(spec, exc)
        close_all(f.owned)  # only the children hold these now
        if f.error is not None:
            m.error, m.status = f.error, 1 if m.status is None else m.status
            m.ended = time.time()
            if f.capture >= 0:
                os.close(f.capture)
            return
        assert self._loop is not None and self._reaper is not None
        self._reaper.watch(m.pid, partial(self._exited, m))
        m.pidfd = os.pidfd_open(m.pid)  # before any reaping: the pid cannot be recycled yet
        self._pidfds[m.pidfd] = m
        self._epoll.register(m.pidfd, select.EPOLLIN)
        if f.capture >= 0:
            m.capture = f.capture
            self._captures[m.capture] = m
            self._epoll.register(m.capture, select.EPOLLIN)
        if spec.timeout is not None:
            m.timer = self._loop.call_later(spec.timeout, self._timed_out, m)

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

    def _exited(self, m: _Member, status: int) -> None:
        m.ended = time.time()
        if m.exit_order < 0:  # reaped without its pidfd's notice (at the end of the run)
            m.exit_order = self._exit_count
            self._exit_count += 1
        m.status = status
        del self._pidfds[m.pidfd]
        self._spawner.reaped(m.pid, status)
        if m.timer is not None:
            m.timer.cancel()
            m.timer = None
        if group_exists(m.pid):
            self._lingering.add(m.pid)
        else:
            m.group_gone = True  # its pgid may be recycled: never signal it again
        if m.capture >= 0:
            self._drain(m, _DRAIN_READS)
        try:
            m.pipeline.member_done()  # the next step may start here: the pidfd can wait
        finally:
            os.close(m.pidfd)  # the only reference: closing it also takes it out of the epoll set

    def _drain(self, m: _Member, reads: int) -> None:
        """Deliver what is readable now; EOF closes the pipe."""
        for _ in range(reads):
            if m.capture < 0:
                return
            try:
                data = os.read(m.capture, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_capture(m)
                return
            m.pipeline.sink.on_output(m.spec.name, data)

    def _close_capture(self, m: _Member) -> None:
        del self._captures[m.capture]
        os.close(m.capture)  # the only reference: closing it also takes it out of the epoll set
        m.capture = -1

    def _timed_out(self, m: _Member) -> None:
        m.timer = None
        m.timed_out = True
        self._terminate(m, force=False)

    def _terminate(self, m: _Member, force: bool) -> None:
        """kill_signal to the group now, SIGKILL after kill_grace (or at once)."""
        assert self._loop is not None
        if force or m.spec.kill_signal == signal.SIGKILL:
            self._kill_now(m)
        elif m.grace is None:
            signal_group(m.pid, m.spec.kill_signal)
            m.grace = self._loop.call_later(m.spec.kill_grace, self._kill_now, m)
            self._graces.add(m)

    def _kill_now(self, m: _Member) -> None:
        """SIGKILL the member's group and every process carrying its tag."""
        if m.grace is not None:
            m.grace.cancel()
            m.grace = None
            self._graces.discard(m)
        if not m.group_gone:
            signal_group(m.pid, signal.SIGKILL)
        if m.spec.tag is not None:
            close_all(sweep((), (tag_entry(m.spec.tag),)))

    async def aclose(self) -> None:
        """Kill every group launched and every tagged process, reap them, close all fds."""
        if self._closed:
            return
        self._closed = True
        if self._loop is None or self._reaper is None:
            self._epoll.close()
            self._capture_pipes.close()
            return
        groups = self._stop_timers_and_running()
        for pgid in groups:
            signal_group(pgid, signal.SIGKILL)
        for _ in range(5 if groups or may_have_leftovers() else 0):  # again: something may have forked meanwhile
            pidfds = sweep(groups, [tag_entry(tag) for tag in self._tags])
            if not pidfds:
                break
            await wait_exit(self._loop, pidfds, timeout=5.0)
            self._reaper.reap()
        self._reaper.reap()
        for m in list(self._captures.values()):
            self._drain(m, _FINAL_READS)
            if m.capture >= 0:
                self._close_capture(m)
        for feeder in self._feeders:
            feeder.close()
        for relay in self._relays:
            relay.stop()
        for m in list(self._pidfds.values()):  # unkillable (D state): give up on them
            self._reaper.forget(m.pid)
            os.close(m.pidfd)
        self._reaper.release()
        self._latency.restore()
        self._capture_pipes.close()
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        os.close(self._devnull)

    def _stop_timers_and_running(self) -> set[int]:
        """Cancel pending timeouts and graces; return every group to kill."""
        for m in self._graces:
            m.grace.cancel()  # type: ignore[union-attr]
            m.grace = None
        self._graces.clear()
        groups = set(self._lingering)
        for p in self._running:
            for m in p.members:
                if m.running:
                    m.cancelled = True
                    groups.add(m.pid)
                    if m.timer is not None:
                        m.timer.cancel()
        return groups


def _check_pidfd() -> None:
    """Exits are watched through pidfds: say so plainly where the kernel has none."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError) as exc:
        raise ExecutorError(
            f"this system cannot watch processes through pidfds ({exc}): flowrun needs Linux 5.3 or later"
        ) from None


def _spawn_error(spec: LaunchSpec, exc: Exception) -> tuple[str, int]:
    """Turn a spawn exception into (message, exit code) as a shell would."""
    cmd = spec.argv[0]
    if isinstance(exc, OSError) and exc.filename == spec.cwd and cmd != spec.cwd:
        if isinstance(exc, FileNotFoundError):
            return f"workdir does not exist: {spec.cwd}", 1
        if isinstance(exc, NotADirectoryError):
            return f"workdir is not a directory: {spec.cwd}", 1
        return f"cannot enter workdir {spec.cwd}: {exc.strerror}", 1
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {cmd}", 127
    if isinstance(exc, PermissionError):
        return f"permission denied: {cmd}", 126
    if isinstance(exc, OSError):
        return f"cannot run {cmd}: {exc.strerror or exc}", 126
    return f"cannot run {cmd!r}: {exc}", 127
