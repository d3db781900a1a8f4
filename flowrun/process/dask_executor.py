"""DaskExecutor: each pipeline is one Dask task, run on a worker by flowrun's own process code (SPEC §11).

The client side of ``flowrun.process.dask_worker``. ``launch`` submits the
pipeline (plain data: its ``LaunchSpec``s, flowrun's version, the attempt's key)
with the members' ``resources``; the worker sends output and, last, the outcomes
as events on the run's topic, which ``subscribe_topic`` delivers on this loop to
the pipeline's sink. A cancel reaches the workers through ``Client.run``. A
task that ends without its last event (its worker lost, another flowrun there,
Dask gave up) becomes outcomes with that reason in ``error``. ``distributed`` is
imported by this module and ``dask_worker`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flowrun.errors import UsageError
from flowrun.process.executor import FileSink, FileSource, LaunchSpec, MemberOutcome, PipelineSink, PipelineSpec
from flowrun.records import replace

if "ssl" in sys.modules and sys.modules["ssl"] is None:  # the command marks ssl absent (cli.run_console): Dask needs it
    del sys.modules["ssl"]
try:
    from distributed import Client, LocalCluster
    from distributed.scheduler import KilledWorker
except ImportError:  # pragma: no cover - exercised by a test with distributed blocked
    raise UsageError("the dask executor needs distributed: pip install 'flowrun[dask]'") from None

from flowrun.process.dask_worker import AttemptRefused, cancel_attempts, flowrun_version, spec_data, task_function

__all__ = ["CONNECT_TIMEOUT", "DaskExecutor"]

#: how long ``open`` waits for a scheduler (SPEC §11: exit 2 within 30 s)
CONNECT_TIMEOUT = 5.0
#: how long a finished task's last event may trail its result
_END_GRACE = 3.0


class _Remote:
    """The handle of one attempt's task."""

    __slots__ = ("cancelled", "end", "ended", "executor", "future", "key", "names", "received", "sink", "started",
                 "total")

    def __init__(self, executor: DaskExecutor, key: str, names: tuple[str, ...], sink: PipelineSink) -> None:
        self.executor, self.key, self.names, self.sink = executor, key, names, sink
        self.future: Any = None
        self.received, self.total = 0, -1
        self.end: list[list[Any]] | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.started = time.time()
        self.cancelled = False

    def cancel(self, force: bool = False) -> None:
        self.cancelled = True
        self.executor._cancel(self.key, force)


class DaskExecutor:
    """Runs pipelines on a Dask cluster; ``await DaskExecutor.open(...)``, ``launch`` from the loop, ``aclose``."""

    def __init__(self, client: Any, cluster: Any = None, *, base_dir: str = "", workdir: str | None = None,
                 version: str | None = None) -> None:
        self.client, self.cluster = client, cluster
        self.base_dir, self.workdir = base_dir, workdir
        self.version = version or flowrun_version()
        self.topic = f"flowrun-{uuid.uuid4().hex}"
        self._count = 0
        self._attempts: dict[str, _Remote] = {}
        self._cancels: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._task = task_function()
        client.subscribe_topic(self.topic, self._event)

    @classmethod
    async def open(cls, address: str | None, *, base_dir: str = "", workdir: str | None = None, jobs: int = 1,
                   timeout: float = CONNECT_TIMEOUT) -> DaskExecutor:
        """Connect to ``address``, or start a LocalCluster on 127.0.0.1; an unreachable scheduler is a UsageError."""
        logging.getLogger("distributed").setLevel(logging.ERROR)  # flowrun says what went wrong, in one line
        cluster = None
        if address is None:
            workers = max(1, min(os.cpu_count() or 1, jobs))
            cluster = await LocalCluster(n_workers=workers, threads_per_worker=-(-jobs // workers), processes=True,
                                         host="127.0.0.1", dashboard_address=None, asynchronous=True,
                                         silence_logs=logging.ERROR)
            target: Any = cluster
        else:
            target = address
        try:
            client = await asyncio.wait_for(
                Client(target, asynchronous=True, timeout=timeout, set_as_default=False), timeout + 1)
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                await cluster.close()
            raise UsageError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({exc})") from None
        return cls(client, cluster, base_dir=base_dir, workdir=workdir)

    # -- starting ---------------------------------------------------------------
    def launch(self, pipeline: PipelineSpec, sink: PipelineSink) -> _Remote:
        self._count += 1
        key = f"{self.topic}-{self._count}"
        members = tuple(self._portable(m) for m in pipeline.members)
        handle = _Remote(self, key, tuple(m.name for m in members), sink)
        resources: dict[str, float] = {}
        for m in members:
            for name, amount in (m.resources or {}).items():
                resources[name] = resources.get(name, 0) + amount  # a pipeline's members run at once
        payload = {"version": self.version, "key": key, "topic": self.topic, "members": [spec_data(m) for m in members]}
        handle.future = self.client.submit(self._task, payload, key=key, pure=False, resources=resources or None)
        self._attempts[key] = handle
        task = asyncio.get_running_loop().create_task(self._watch(handle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return handle

    def _portable(self, spec: LaunchSpec) -> LaunchSpec:
        """The spec as a worker runs it: paths under the workflow's folder moved to workdir."""
        if not self.workdir:
            return spec
        env = dict(spec.env)
        move = self._moved
        stdin, stdout, stderr = spec.stdin, spec.stdout, spec.stderr
        if isinstance(stdin, FileSource):
            stdin = FileSource(move(stdin.path))
        if isinstance(stdout, FileSink):
            stdout = replace(stdout, path=move(stdout.path))
        if isinstance(stderr, FileSink):
            stderr = replace(stderr, path=move(stderr.path))
        return replace(spec, env={k: move(v) for k, v in env.items()}, cwd=move(spec.cwd),
                       stdin=stdin, stdout=stdout, stderr=stderr)

    def _moved(self, path: str) -> str:
        base = self.base_dir
        if path == base or path.startswith(base + os.sep):
            return str(self.workdir) + path[len(base):]
        return path

    # -- hearing back ---------------------------------------------------------------
    def _event(self, event: tuple[float, Mapping[str, Any]]) -> None:
        message = event[1]
        handle = self._attempts.get(message["k"])
        if handle is None:
            return
        for step, data in message["o"]:
            handle.sink.on_output(step, data)
        handle.received += 1
        if "end" in message:
            handle.end, handle.total = message["end"], message["n"] + 1
        if handle.end is not None and handle.received >= handle.total:
            self._finish(handle, handle.end)

    async def _watch(self, handle: _Remote) -> None:
        future, loop = handle.future, asyncio.get_running_loop()
        done = loop.create_future()
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(_set, done))  # called in Dask's thread
        await done
        if not handle.ended.done():
            if future.status == "finished":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(handle.ended), _END_GRACE)
                if not handle.ended.done():  # the last event never came: the result has the outcomes too
                    self._finish(handle, await future)
            elif future.status == "error":
                self._fail(handle, _reason(await future.exception()))
            elif handle.cancelled:  # dropped before it started (_broadcast)
                self._finish(handle, [[n, None, None, handle.started, time.time(), False, True, None, None]
                                      for n in handle.names])
            else:
                self._fail(handle, f"dask: the task was {future.status}")
        future.release()
        with contextlib.suppress(Exception):
            await self.client.unpublish_dataset(handle.key)

    def _finish(self, handle: _Remote, end: list[list[Any]]) -> None:
        if handle.ended.done():
            return
        handle.ended.set_result(None)
        del self._attempts[handle.key]
        outcomes = tuple([MemberOutcome(n, code, sig, started, ended, timed_out, cancelled, error, exit_order=order)
                          for n, code, sig, started, ended, timed_out, cancelled, error, order in end])
        handle.sink.on_exit(outcomes)

    def _fail(self, handle: _Remote, reason: str) -> None:
        now = time.time()
        self._finish(handle, [[n, None, None, handle.started, now, False, False, reason, None] for n in handle.names])

    # -- stopping ------------------------------------------------------------------------
    def _cancel(self, key: str, force: bool) -> None:
        if not self._cancels:
            asyncio.get_running_loop().call_soon(self._send_cancels)
        self._cancels[key] = force or self._cancels.get(key, False)

    def _send_cancels(self) -> None:
        cancels, self._cancels = self._cancels, {}
        for force in (False, True):
            keys = [key for key, forced in cancels.items() if forced is force]
            if keys:
                task = asyncio.get_running_loop().create_task(self._broadcast(keys, force))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _broadcast(self, keys: list[str], force: bool) -> None:
        """Tell every worker; a task no worker has taken yet (queued, or no worker has its resources) is dropped."""
        with contextlib.suppress(Exception):
            await self.client.run(cancel_attempts, keys, force)
            taken = {key for held in (await self.client.processing()).values() for key in held}
            waiting = [self._attempts[k].future for k in keys if k in self._attempts and k not in taken]
            if waiting:
                await self.client.cancel(waiting)

    async def aclose(self) -> None:
        """Stop what still runs (SIGKILL), wait for it (bounded), close the client and our own cluster."""
        if self._attempts:
            for handle in list(self._attempts.values()):
                handle.cancel(force=True)
            await asyncio.wait([h.ended for h in self._attempts.values()], timeout=10)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        self.client.unsubscribe_topic(self.topic)
        await self.client.close()
        if self.cluster is not None:
            await self.cluster.close()


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _reason(exc: BaseException | None) -> str:
    """Why a task failed, as a step's reason."""
    if isinstance(exc, AttemptRefused):
        return str(exc)
    if isinstance(exc, KilledWorker):
        return "worker lost"
    text = f"{exc}"
    if isinstance(exc, ImportError) and "flowrun" in text:
        return text if text.startswith("flowrun is not") else f"flowrun is not installed on the worker ({text})"
    return f"dask: {type(exc).__name__}: {text}"
