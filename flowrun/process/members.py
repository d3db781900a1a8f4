"""What both local executors share: members, pipelines, launch, output, timeouts, kill and the end of a run.

``LocalExecutor`` (``local.py``, Linux pidfds) and ``PortableExecutor``
(``portable.py``, any POSIX system) differ only in how they learn that a child
exited or that a capture pipe is readable, and in how they find processes that
left a step's group. Everything the engine can observe is decided here, once:
the wiring (``pipes.py``), spawning (``spawn.py``), what an outcome holds, the
``kill_signal`` → ``kill_grace`` → SIGKILL sequence and the end-of-run clean-up.
A subclass provides ``_bind_os``, ``_watch``, ``_release``, ``_close_capture``,
``_sweep_tag``, ``_kill_leftovers`` and ``_unbind``.
"""

from __future__ import annotations

import os
import signal
import time

from flowrun.errors import ExecutorError
from flowrun.process.executor import LaunchSpec, MemberOutcome, PipelineHandle, PipelineSink, PipelineSpec
from flowrun.process.kill import close_all, group_exists, process_exists, signal_group
from flowrun.process.loop import running_loop
from flowrun.process.pipes import CapturePipes, FanoutRelay, MemberFds, TextFeeder, wire
from flowrun.process.spawn import Spawner
from flowrun.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

__all__ = ["FINAL_READS", "Member", "MemberExecutor", "Pipeline", "spawn_error"]

#: Reads when draining a capture pipe at a member's exit / at aclose: bounded, so a
#: chatty leftover cannot stall the loop.
DRAIN_READS, FINAL_READS = 16, 256
_READ_SIZE = 65536


@record(slots=True, eq=False)
class Member:
    spec: LaunchSpec
    pipeline: Pipeline
    pid: int = 0
    #: the pidfd (fast path), or -1
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


class Pipeline:
    """The handle ``launch`` returns."""

    def __init__(self, executor: MemberExecutor, spec: PipelineSpec, sink: PipelineSink) -> None:
        self._executor = executor
        self.sink = sink
        self.members = [Member(m, self) for m in spec.members]
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


class MemberExecutor:
    """The engine-facing half of a local executor; see ``LocalExecutor`` for the contract."""

    #: fan-out through tee/splice where the kernel has them (else the relay copies)
    zero_copy = True

    def __init__(self, *, libc_spawn: bool = True, new_session: bool = True) -> None:
        self._spawner = Spawner(use_libc=libc_spawn, new_session=new_session)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._devnull = -1
        self._running: set[Pipeline] = set()
        self._exit_count = 0
        self._lingering: set[int] = set()  # groups that outlived their leader
        self._sessions: set[int] = set()  # sessions of ended steps whose group is gone (members may remain)
        self._tags: set[tuple[str, str]] = set()  # encoded only if a sweep needs them
        self._captures: dict[int, Member] = {}
        self._graces: set[Member] = set()
        self._relays: list[FanoutRelay] = []
        self._feeders: list[TextFeeder] = []
        self._capture_pipes = CapturePipes()

    # --- what a subclass provides -------------------------------------------------

    def _bind_os(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watching exits and capture pipes (first launch)."""
        raise NotImplementedError

    def _watch(self, m: Member) -> None:
        """``m`` was spawned (``m.capture`` set if it has one): watch its exit and its capture pipe."""
        raise NotImplementedError

    def _release(self, m: Member) -> None:
        """``m`` was reaped and reported: drop what watched its exit."""

    def _close_capture(self, m: Member) -> None:
        del self._captures[m.capture]
        os.close(m.capture)
        m.capture = -1

    def _sweep_tag(self, tag: tuple[str, str]) -> None:
        """SIGKILL every process carrying ``tag`` (it may have left the group)."""
        raise NotImplementedError

    async def _kill_leftovers(self, groups: set[int], sessions: set[int]) -> None:
        """End of run: ``groups`` got SIGKILL; kill what is in them, in ``sessions`` or one of
        those groups' sessions, or carries a tag; wait for all of it, reap."""
        raise NotImplementedError

    def _unbind(self) -> None:
        """End of run, after the final drain: stop watching, give up on the unkillable."""

    def _close_unbound(self) -> None:
        """aclose() before any launch."""

    # --- launch -------------------------------------------------------------------

    def launch(self, pipeline: PipelineSpec, sink: PipelineSink) -> PipelineHandle:
        """Start every member (consumers first); never raises for a member's spawn error."""
        if self._closed:
            raise ExecutorError("launch() after aclose()")
        loop = self._loop or self._bind()
        try:
            wiring = wire(pipeline, self._devnull, self._capture_pipes, self.zero_copy)
        except OSError as exc:
            raise ExecutorError(f"cannot set up pipes: {exc}") from exc
        p = Pipeline(self, pipeline, sink)
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
        loop = running_loop()
        self._bind_os(loop)
        self._loop = loop
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return loop

    def _start(self, m: Member, f: MemberFds) -> None:
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
                f.error, m.status = spawn_error(spec, exc)
        close_all(f.owned)  # only the children hold these now
        if f.error is not None:
            m.error, m.status = f.error, 1 if m.status is None else m.status
            m.ended = time.time()
            if f.capture >= 0:
                os.close(f.capture)
            return
        if f.capture >= 0:
            m.capture = f.capture
            self._captures[m.capture] = m
        self._watch(m)
        if spec.timeout is not None:
            m.timer = self._loop.call_later(spec.timeout, self._timed_out, m)  # type: ignore[union-attr]

    # --- exits and output ---------------------------------------------------------

    def _exited(self, m: Member, status: int) -> None:
        m.ended = time.time()
        if m.exit_order < 0:  # no earlier notice said when (reaped at the end of the run, or no pidfd)
            m.exit_order = self._exit_count
            self._exit_count += 1
        m.status = status
        self._spawner.reaped(m.pid, status)
        if m.timer is not None:
            m.timer.cancel()
            m.timer = None
        if group_exists(m.pid):
            self._lingering.add(m.pid)
        else:
            m.group_gone = True  # its pgid may be recycled: never signal it again
            self._sessions.add(m.pid)  # but a process that moved to a group of its own is still in its session
        if m.capture >= 0:
            self._drain(m, DRAIN_READS)
        try:
            m.pipeline.member_done()  # the next step may start here
        finally:
            self._release(m)

    def _drain(self, m: Member, reads: int) -> None:
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

    # --- timeouts and kill --------------------------------------------------------

    def _timed_out(self, m: Member) -> None:
        m.timer = None
        m.timed_out = True
        self._terminate(m, force=False)

    def _terminate(self, m: Member, force: bool) -> None:
        """kill_signal to the group now, SIGKILL after kill_grace (or at once)."""
        assert self._loop is not None
        if force or m.spec.kill_signal == signal.SIGKILL:
            self._kill_now(m)
        elif m.grace is None:
            signal_group(m.pid, m.spec.kill_signal)
            m.grace = self._loop.call_later(m.spec.kill_grace, self._kill_now, m)
            self._graces.add(m)

    def _kill_now(self, m: Member) -> None:
        """SIGKILL the member's group and every process carrying its tag."""
        if m.grace is not None:
            m.grace.cancel()
            m.grace = None
            self._graces.discard(m)
        if not m.group_gone:
            signal_group(m.pid, signal.SIGKILL)
        if m.spec.tag is not None:
            self._sweep_tag(m.spec.tag)

    # --- the end of the run -------------------------------------------------------

    async def aclose(self) -> None:
        """Kill every group launched and every tagged process, reap them, close all fds."""
        if self._closed:
            return
        self._closed = True
        if self._loop is None:
            self._close_unbound()
            self._capture_pipes.close()
            return
        groups = self._stop_timers_and_running()
        for pgid in groups:
            signal_group(pgid, signal.SIGKILL)
        # a session whose leader's pid is alive again is someone else's (the pid was recycled)
        await self._kill_leftovers(groups, {sid for sid in self._sessions if not process_exists(sid)})
        for m in list(self._captures.values()):
            self._drain(m, FINAL_READS)
            if m.capture >= 0:
                self._close_capture(m)
        for feeder in self._feeders:
            feeder.close()
        for relay in self._relays:
            relay.stop()
        self._unbind()
        self._capture_pipes.close()
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



def spawn_error(spec: LaunchSpec, exc: Exception) -> tuple[str, int]:
    """Turn a spawn exception into (message, exit code) as a shell would."""
    cmd = spec.argv[0]
    if isinstance(exc, OSError) and exc.filename == spec.cwd and cmd != spec.cwd:
        if isinstance(exc, FileNotFoundError):
            return f"workdir does not exist: {spec.cwd}", 1
        if isinstance(exc, NotADirectoryError):
            return f"workdir is not a directory: {spec.cwd}", 1
        return f"cannot enter workdir {spec.cwd}: {exc.strerror or exc}", 1
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {cmd}", 127
    if isinstance(exc, PermissionError):
        return f"permission denied: {cmd}", 126
    if isinstance(exc, OSError):
        return f"cannot run {cmd}: {exc.strerror or exc}", 126
    return f"cannot run {cmd!r}: {exc}", 127
