"""A real Dask cluster for the dask executor's tests: `dask scheduler` and two `dask worker`s as processes.

The cluster's processes are started without ``FLOWRUN_TEST_TAG`` (they outlive
each test on purpose); the steps they run get the tag from flowrun's step
environment, so the leftover check still sees what a step leaves on a worker.
Workers have nannies: a worker killed by a test comes back, as on a real cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import TEST_TAG_VAR
from tests.integration.harness import free_port

__all__ = ["Cluster", "running_cluster", "worker_parent"]


@dataclass
class Cluster:
    address: str
    client: Any
    #: the nannies' pids: the plain worker (2 threads) and the gpu one (1 thread, resources gpu=1)
    plain: int
    gpu: int

    def wait_for_both(self) -> None:
        self.client.wait_for_workers(2, timeout=60)


def worker_parent(pid: int) -> int:
    """The parent of ``pid`` (a worker process's parent is its nanny)."""
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


@contextlib.contextmanager
def running_cluster(log_dir: Path) -> Iterator[Cluster]:
    from distributed import Client

    env = {k: v for k, v in os.environ.items() if k != TEST_TAG_VAR}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    commands = [
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        [*dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "2", "--no-dashboard",
         "--name", "plain"],
        [*dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
         "--name", "gpu", "--resources", "gpu=1"],
    ]
    procs: list[subprocess.Popen[bytes]] = []
    client = None
    try:
        for i, command in enumerate(commands):
            with (log_dir / f"dask-{i}.log").open("wb") as log:
                procs.append(subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                              start_new_session=True))
        client = Client(address, timeout=30)
        client.wait_for_workers(2, timeout=60)
        yield Cluster(address, client, procs[1].pid, procs[2].pid)
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
