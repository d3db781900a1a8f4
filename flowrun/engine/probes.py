"""Readiness probes of a service (SPEC §8): tcp, http, cmd, run, log.

A ``Prober`` tries its probe, waits ``interval`` after each failed try (20 ms
after a refused connection: nothing listens yet), and calls
``on_ready`` once, on the first success. Sockets are the loop's own (asyncio
streams), so a hanging server is cut off at ``probe_timeout`` and a stopped
service leaves no thread behind; ``cmd``/``run`` probes are processes started
through the executor like any step's, SIGKILLed with their group when they
outlive ``probe_timeout``. A ``log`` probe makes no tries: it reads the lines the
service writes.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

from flowrun.process.executor import Executor, LaunchSpec, MemberOutcome, PipelineHandle, PipelineSpec
from flowrun.process.loop import running_loop

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio
    from typing import Protocol
else:
    Protocol = object  # the protocols are plain base classes at run time

__all__ = ["Prober", "ReadySpec"]

#: a log line longer than this is searched in pieces of this size
_MAX_LINE = 1 << 16
#: the wait after a refused connection: nothing listens yet, and a refused connect costs the server
#: nothing, so it is tried again soon; any answer that is not "ready" waits ``interval``
_REFUSED_WAIT = 0.02
#: how much of a failed probe's own output is kept to explain it
_KEEP_OUTPUT = 200


class ReadySpec(Protocol):
    """A service's ``ready:`` (``spec.service.Ready``, or ``spec.runtime.ReadyProbe`` from the plan cache)."""

    tcp: str | None
    http: str | None
    cmd: list[str] | None
    run: str | None
    log: str | None
    interval: float
    timeout: float
    probe_timeout: float

    @property
    def probe(self) -> str: ...


def _split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def _tcp(address: str) -> None:
    import asyncio  # a tcp/http probe runs on asyncio's loop (flowrun.engine.run chooses it)

    host, port = _split_host_port(address)
    _, writer = await asyncio.open_connection(host, port)
    writer.close()


async def _http(url: str) -> None:
    """A GET; only its status line is read. 2xx and 3xx are ready."""
    import asyncio
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: flowrun-probe\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    words = line.split()
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
        raise ConnectionError("no HTTP answer" if not line else f"not an HTTP answer: {line[:60]!r}")
    status = int(words[1])
    if not 200 <= status < 400:
        raise ConnectionError(f"HTTP {status}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class _ProcessSink:
    """Where a ``cmd``/``run`` probe reports: its output is kept briefly, only to explain a failure."""

    __slots__ = ("output", "prober")

    def __init__(self, prober: Prober) -> None:
        self.prober, self.output = prober, b""

    def on_output(self, step: str, data: bytes) -> None:
        self.output = (self.output + data)[-_KEEP_OUTPUT:]

    def on_exit(self, outcomes: tuple[MemberOutcome, ...]) -> None:
        self.prober._process_ended(outcomes[0], self.output)


class Prober:
    """Probes one attempt of one service until it is ready or ``stop()`` is called."""

    def __init__(
        self, ready: ReadySpec, on_ready: Callable[[], None], *, executor: Executor,
        probe_spec: Callable[[], LaunchSpec], address: str | None = None,
    ) -> None:
        self.ready = ready
        #: the tcp/http address, ``${{ params.N }}`` rendered
        self.address = address if address is not None else (ready.tcp or ready.http or "")
        self.kind = ready.probe
        self.on_ready, self.executor, self.probe_spec = on_ready, executor, probe_spec
        self.last = ""  # why the last try failed, for "not ready within ..."
        self.tries = 0
        self._done = False
        self._loop = running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._process: PipelineHandle | None = None
        self._partial = b""
        self._pattern = re.compile(ready.log.encode()) if ready.log is not None else None

    def start(self) -> None:
        if self.kind != "log":
            self._try()

    def stop(self) -> None:
        """No more tries; a try under way is cut off (a probe process is SIGKILLed)."""
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._process is not None:
            self._process.cancel(force=True)
            self._process = None

    # -- log ---------------------------------------------------------------
    def output(self, data: bytes) -> None:
        """A chunk of the service's output: ready when a whole line matches."""
        if self._done or self._pattern is None:
            return
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        search = self._pattern.search
        for line in lines:
            if search(line.rstrip(b"\r")):
                self._ready()
                return

    # -- tries -------------------------------------------------------------
    def _try(self) -> None:
        self._timer = None
        if self._done:
            return
        self.tries += 1
        if self.kind in ("cmd", "run"):
            spec = self.probe_spec()
            spec.kill_signal = int(signal.SIGKILL)  # a probe keeps no state: its whole group goes at once
            self._process = self.executor.launch(PipelineSpec((spec,)), _ProcessSink(self))
            return
        import asyncio

        probe = _tcp(self.address) if self.kind == "tcp" else _http(self.address)
        self._task = self._loop.create_task(asyncio.wait_for(probe, self.ready.probe_timeout))
        self._task.add_done_callback(self._socket_ended)

    def _socket_ended(self, task: asyncio.Task[None]) -> None:
        if task is not self._task or self._done:
            return
        self._task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            self._ready()
        else:
            self._failed(_describe(exc), refused=isinstance(exc, ConnectionRefusedError))

    def _process_ended(self, outcome: MemberOutcome, output: bytes) -> None:
        self._process = None
        if self._done:
            return
        if outcome.exit_code == 0 and not outcome.timed_out:
            self._ready()
            return
        if outcome.timed_out:
            why = f"probe still running after {self.ready.probe_timeout:g}s"
        elif outcome.error:
            why = outcome.error
        elif outcome.signal is not None:
            why = f"probe killed by {signal.Signals(outcome.signal).name}"
        else:
            why = f"probe exited {outcome.exit_code}"
        text = output.decode(errors="replace").strip().splitlines()
        self._failed(f"{why}: {text[-1][:120]}" if text else why)

    def _failed(self, why: str, refused: bool = False) -> None:
        """Try again after ``interval``; after a refused connection, sooner."""
        self.last = why
        wait = min(self.ready.interval, _REFUSED_WAIT) if refused else self.ready.interval
        self._timer = self._loop.call_later(wait, self._try)

    def _ready(self) -> None:
        self.stop()
        self.on_ready()
