"""The Dask worker's side of the dask executor (SPEC §11): one task runs one attempt's pipeline.

A task hands its pipeline to the worker process's *runner*: one thread with its
own asyncio loop, where each attempt gets a fresh local executor
(``choose.local_executor``). So shells, environment, timeouts, ``kill_signal``/``kill_grace``, pipes and process-tree
kills are those of a local run, and the attempt's ``aclose()`` kills whatever it
left behind the moment it ends. One loop per worker process, not one per task:
an executor reaps every child of its process, which two loops in two task
threads could not share.

Before anything starts, the attempt's key is claimed on the scheduler
(``publish_dataset`` without ``override`` is atomic there): Dask starts the task
of a lost worker again elsewhere, and that second start finds the claim and
refuses (``AttemptRefused``), so an attempt never runs twice. Output goes back
with ``Worker.log_event`` in batches (64 KiB, or every 0.1 s), and the outcomes
with the last event. Cancels come from the client through ``Client.run``
(``cancel_attempts``); an attempt whose task Dask cancelled (the client went
away) is stopped as for a cancel. Its own ``timeout`` holds in any case.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from distributed import get_client, get_worker

from flowrun.process.choose import local_executor
from flowrun.process.executor import (
    FileSink,
    FileSource,
    LaunchSpec,
    MemberOutcome,
    PipelineHandle,
    PipelineSpec,
    StepSource,
    TextSource,
)
from flowrun.process.kill import tag_entry

__all__ = [
    "AttemptRefused",
    "cancel_attempts",
    "flowrun_version",
    "outcome_data",
    "run_attempt",
    "spec_data",
    "spec_from_data",
    "task_function",
]

#: output is sent when this much is waiting, or this long after its first byte
FLUSH_BYTES, FLUSH_SECONDS = 65536, 0.1
#: how often an attempt checks that Dask still wants its task
_ORPHAN_CHECK = 0.5
_version: str | None = None


class AttemptRefused(Exception):
    """The task cannot run here: a second start of an attempt (its worker was lost), another flowrun."""


def flowrun_version() -> str:
    """This process's flowrun (the installed package's version), sent with every task and checked."""
    global _version
    if _version is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _version = version("flowrun")
        except PackageNotFoundError:
            _version = "unknown"
    return _version


def outcome_data(o: MemberOutcome) -> list[Any]:
    return [o.name, o.exit_code, o.signal, o.started, o.ended, o.timed_out, o.cancelled, o.error, o.exit_order]


class _Output:
    """One attempt's output, batched into ``log_event`` messages numbered from 0."""

    def __init__(self, loop: asyncio.AbstractEventLoop, worker: Any, topic: str, key: str) -> None:
        self.loop, self.worker, self.topic, self.key = loop, worker, topic, key
        self.chunks: list[list[Any]] = []
        self.size = 0
        self.sent = 0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, step: str, data: bytes) -> None:
        chunks = self.chunks
        if chunks and chunks[-1][0] == step:
            chunks[-1][1] += data
        else:
            chunks.append([step, bytearray(data)])
        self.size += len(data)
        if self.size >= FLUSH_BYTES:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self, end: list[list[Any]] | None = None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.chunks and end is None:
            return
        message: dict[str, Any] = {"k": self.key, "n": self.sent, "o": [[s, bytes(d)] for s, d in self.chunks]}
        if end is not None:
            message["end"] = end
        self.chunks, self.size = [], 0
        self.sent += 1
        self.worker.log_event(self.topic, message)


class _Sink:
    __slots__ = ("done", "output")

    def __init__(self, output: _Output, done: asyncio.Future[tuple[MemberOutcome, ...]]) -> None:
        self.output, self.done = output, done

    def on_output(self, step: str, data: bytes) -> None:
        self.output.add(step, data)

    def on_exit(self, outcomes: tuple[MemberOutcome, ...]) -> None:
        if not self.done.done():
            self.done.set_result(outcomes)


class _Runner:
    """The worker process's loop thread; every attempt runs in it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.attempts: dict[str, PipelineHandle] = {}
        #: keys cancelled before their task started here (bounded)
        self.cancelled: OrderedDict[str, bool] = OrderedDict()
        threading.Thread(target=self.loop.run_forever, name="flowrun-runner", daemon=True).start()
        atexit.register(self.shutdown)
        # kills what the attempts still run if this process dies (flowrun/process/guard.py)
        self.guard = subprocess.Popen([sys.executable, "-m", "flowrun.process.guard"], stdin=subprocess.PIPE,
                                      start_new_session=True, close_fds=True)

    def _tell(self, sign: str, entries: list[str]) -> None:
        if entries:
            with contextlib.suppress(OSError):
                lines = "".join(f"{sign}{e}\n" for e in entries)
                os.write(self.guard.stdin.fileno(), lines.encode())  # type: ignore[union-attr]

    async def run(self, worker: Any, key: str, topic: str, spec: PipelineSpec) -> list[list[Any]]:
        loop = asyncio.get_running_loop()
        if key in self.cancelled:  # cancelled before it reached this worker: start nothing
            del self.cancelled[key]
            now = time.time()
            end = [outcome_data(MemberOutcome(m.name, None, None, now, now, cancelled=True)) for m in spec.members]
            _Output(loop, worker, topic, key).flush(end)
            return end
        entries = [tag_entry(m.tag).hex() for m in spec.members if m.tag is not None]
        self._tell("+", entries)
        executor = local_executor()  # the fast Linux path where the worker has it, else the portable one
        output = _Output(loop, worker, topic, key)
        sink = _Sink(output, loop.create_future())
        try:
            handle = executor.launch(spec, sink)
            self.attempts[key] = handle
            check = loop.call_later(_ORPHAN_CHECK, self._orphan_check, worker, key)
            try:
                outcomes = await sink.done
            finally:
                check.cancel()
                self.attempts.pop(key, None)
        finally:
            await executor.aclose()  # what the attempt left behind ends with it
            self._tell("-", entries)
        end = [outcome_data(o) for o in outcomes]
        output.flush(end)
        return end

    def _orphan_check(self, worker: Any, key: str) -> None:
        handle = self.attempts.get(key)
        if handle is None:
            return
        task = worker.state.tasks.get(key)
        if task is None or task.state not in ("executing", "long-running"):
            handle.cancel(False)  # Dask gave the task up (its client is gone): stop it as for a cancel
        else:
            self.loop.call_later(_ORPHAN_CHECK, self._orphan_check, worker, key)

    def cancel(self, keys: Iterable[str], force: bool) -> None:
        for key in keys:
            handle = self.attempts.get(key)
            if handle is not None:
                handle.cancel(force)
            else:
                self.cancelled[key] = force or self.cancelled.get(key, False)
                while len(self.cancelled) > 10_000:
                    self.cancelled.popitem(last=False)

    def shutdown(self) -> None:
        """The worker process ends: SIGKILL every attempt still running, and wait for them (bounded)."""
        if not self.attempts or self.loop.is_closed():
            return

        async def stop() -> None:
            for handle in list(self.attempts.values()):
                handle.cancel(True)
            for _ in range(50):
                if not self.attempts:
                    return
                await asyncio.sleep(0.1)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)


_runner: _Runner | None = None
_runner_lock = threading.Lock()


def _the_runner() -> _Runner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = _Runner()
        return _runner


def run_attempt(payload: dict[str, Any]) -> list[list[Any]]:
    """The Dask task: check the version, claim the attempt, run its pipeline; returns its outcomes' data."""
    if payload["version"] != flowrun_version():
        raise AttemptRefused(f"the worker has flowrun {flowrun_version()}, this run needs {payload['version']}")
    worker = get_worker()
    key = payload["key"]
    try:
        get_client().publish_dataset(**{key: worker.address}, override=False)
    except KeyError:
        raise AttemptRefused("worker lost") from None
    runner = _the_runner()
    spec = PipelineSpec(tuple([spec_from_data(m) for m in payload["members"]]))
    future = asyncio.run_coroutine_threadsafe(runner.run(worker, key, payload["topic"], spec), runner.loop)
    return future.result()


def task_function() -> Callable[[dict[str, Any]], list[list[Any]]]:
    """What the client submits: a function Dask sends by value, so a worker without flowrun can say so.

    The payload is plain data (``spec_data``): a worker that cannot import flowrun
    must still be able to read the task, or the message alone would end it.
    """

    def flowrun_attempt(payload: dict[str, Any]) -> list[list[Any]]:
        try:
            from flowrun.process.dask_worker import run_attempt
        except ImportError as exc:
            raise ImportError(f"flowrun is not installed on the worker ({exc})") from None
        return run_attempt(payload)

    return flowrun_attempt


def spec_data(spec: LaunchSpec) -> dict[str, Any]:
    """A LaunchSpec as plain data (no flowrun class): its streams as tagged lists."""
    data = {f: getattr(spec, f) for f in ("name", "cwd", "timeout", "kill_signal", "kill_grace")}
    data["argv"], data["env"], data["tag"] = list(spec.argv), dict(spec.env), spec.tag and list(spec.tag)
    data["stdin"] = _stream(spec.stdin)
    data["stdout"], data["stderr"] = _stream(spec.stdout), _stream(spec.stderr)
    return data


def _stream(value: Any) -> Any:
    if isinstance(value, FileSource):
        return ["in", value.path]
    if isinstance(value, TextSource):
        return ["text", value.text]
    if isinstance(value, StepSource):
        return ["step", value.producer]
    if isinstance(value, FileSink):
        return ["out", value.path, value.append, value.mode]
    return value  # None, "capture", "stdout"


def spec_from_data(data: dict[str, Any]) -> LaunchSpec:
    streams = {}
    for name in ("stdin", "stdout", "stderr"):
        value = data[name]
        if isinstance(value, list):
            kind, *rest = value
            value = {"in": FileSource, "text": TextSource, "step": StepSource, "out": FileSink}[kind](*rest)
        streams[name] = value
    tag = data["tag"]
    return LaunchSpec(data["name"], tuple(data["argv"]), data["env"], data["cwd"], streams["stdin"],
                      streams["stdout"], streams["stderr"], data["timeout"], data["kill_signal"],
                      data["kill_grace"], tuple(tag) if tag else None)


def cancel_attempts(keys: list[str], force: bool, dask_worker: Any = None) -> None:
    """Run on every worker by ``Client.run``: stop these attempts (force: SIGKILL now)."""
    runner = _the_runner()
    runner.loop.call_soon_threadsafe(runner.cancel, keys, force)
