"""The dask executor (SPEC §11) on a real cluster: `dask scheduler` and two `dask worker` processes."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask executor's tests need the extra: pip install 'flowrun[dask]'")
from tests.integration.dask_cluster import Cluster, running_cluster, worker_parent
from tests.integration.harness import SLEEPIT, alive, cli, flowrun_in_background, wait_for, write

#: the steps run on the workers, which pick their own process path when they start: once is enough
pytestmark = pytest.mark.one_path("steps run on the Dask workers, whose process path is their own")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("dask")) as c:
        yield c


@pytest.fixture
def dask(cluster: Cluster) -> Cluster:
    cluster.wait_for_both()  # a test may have killed a worker: its nanny brings it back
    return cluster


def up(tmp: Path, c: Cluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return cli(tmp, "up", "--output", "plain", "--executor", "dask", "--scheduler", c.address, *args,
               timeout=timeout)


def test_a_dag_and_a_fanned_out_pipe_run_on_the_workers(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, f"""
        steps:
          make: {{run: "head -c 3000000 /dev/urandom > data.bin"}}
          produce: {{run: "cat data.bin", depends_on: [make]}}
          left: {{run: "sha256sum > left.sum", stdin: produce}}
          right: {{run: "sha256sum > right.sum", stdin: produce}}
          where: {{run: "echo parent $PPID", depends_on: [left, right]}}
          late: {{cmd: ["{sys.executable}", "-c", "print('last')"], depends_on: {{where: success}}}}
    """)
    result = up(tmp_path, dask)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = hashlib.sha256((tmp_path / "data.bin").read_bytes()).hexdigest()
    for name in ("left.sum", "right.sum"):
        assert (tmp_path / name).read_text().split()[0] == expected
    parent = int(re.search(r"where +\| parent (\d+)", result.stdout).group(1))  # type: ignore[union-attr]
    assert worker_parent(parent) in (dask.plain, dask.gpu)  # the step's parent is a worker, not flowrun
    assert re.search(r"late +\| last", result.stdout)


def test_output_streams_back_while_the_step_runs(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, """
        steps:
          talk: {run: "echo first line; while [ ! -e go ]; do sleep 0.05; done; echo after"}
    """)
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
        wait_for(lambda: "talk | first line" in out.read_text(), timeout=30, what="the first line")
        assert proc.poll() is None and "after" not in out.read_text()
        (tmp_path / "go").touch()
        assert proc.wait(30) == 0
    assert "talk | after" in out.read_text()


def test_a_timeout_kills_the_tree_on_the_worker_setsid_grandchild_too(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, f"""
        steps:
          tree:
            run: |
              {SLEEPIT} default --sleep 100 --grandchild setsid --pidfile setsid.pid &
              {SLEEPIT} default --sleep 100 --grandchild bg --pidfile bg.pid &
              wait
            timeout: 1s
    """)
    started = time.monotonic()
    result = up(tmp_path, dask)
    assert result.returncode == 1 and "timed_out" in result.stdout, result.stdout
    assert time.monotonic() - started < 15
    for name in ("setsid.pid", "bg.pid"):
        pid = int((tmp_path / name).read_text())
        wait_for(lambda pid=pid: not alive(pid), timeout=5, what=f"{name} to die")


def test_ctrl_c_cancels_the_steps_on_the_workers(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, f"""
        steps:
          one: {{run: "{SLEEPIT} default --sleep 100 --grandchild setsid --pidfile one.pid"}}
          two: {{run: "{SLEEPIT} handle --sleep 100 --grandchild bg --pidfile two.pid"}}
    """)
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
        for name in ("one.pid", "two.pid"):
            wait_for(lambda name=name: (tmp_path / name).exists(), timeout=30, what=name)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130, out.read_text()
    text = out.read_text()
    assert "cancelled" in text
    for name in ("one.pid", "two.pid"):
        pid = int((tmp_path / name).read_text())
        wait_for(lambda pid=pid: not alive(pid), timeout=5, what=f"{name} to die")


def test_a_gpu_step_runs_on_the_gpu_worker_only_and_jobs_bounds_the_steps(tmp_path: Path, dask: Cluster) -> None:
    gpu = "\n".join(f'  g{i}: {{run: "echo s >> gpu.log; echo parent $PPID; sleep 0.2; echo e >> gpu.log", '
                    f'resources: {{gpu: 1}}}}' for i in range(3))
    plain = "\n".join(f'  p{i}: {{run: "echo s >> plain.log; sleep 0.2; echo e >> plain.log"}}' for i in range(3))
    write(tmp_path, f"steps:\n{gpu}\n")
    result = up(tmp_path, dask, "-j", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    parents = {int(part.split()[0]) for part in result.stdout.split("parent ")[1:]}
    assert {worker_parent(p) for p in parents} == {dask.gpu}
    assert (tmp_path / "gpu.log").read_text() == "s\ne\n" * 3  # gpu=1: one at a time, though 3 jobs are free
    write(tmp_path, f"steps:\n{plain}\n")
    result = up(tmp_path, dask, "-j", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "plain.log").read_text() == "s\ne\n" * 3  # -j 1 on 3 worker threads


def test_secrets_are_masked_in_streamed_output(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        executor: {type: dask, scheduler: "tcp://127.0.0.1:1"}  # the variable wins over the file
        steps:
          leak: {run: "echo the token is $TOKEN"}
    """)
    result = cli(tmp_path, "up", "--output", "plain",
                 env={"TOKEN": "hunter2-secret", "FLOWRUN_DASK_SCHEDULER": dask.address})
    assert result.returncode == 0, result.stderr
    assert "the token is ***" in result.stdout and "hunter2" not in result.stdout
    logs = list((tmp_path / ".flowrun" / "runs").rglob("leak.log"))
    assert logs and "hunter2" not in logs[0].read_text()


def test_a_lost_worker_fails_the_attempt_and_a_retry_recovers(tmp_path: Path, dask: Cluster) -> None:
    for attempts, code in ((1, 1), (2, 0)):
        write(tmp_path, f"""
            steps:
              fragile:
                run: |
                  echo "$FLOWRUN_ATTEMPT" >> starts
                  if [ "$FLOWRUN_ATTEMPT" = 1 ]; then
                    echo $$ > step.pid; echo $PPID > worker.pid; exec {SLEEPIT} default --sleep 100
                  fi
                  echo recovered
                retry: {{attempts: {attempts}}}
        """)
        for name in ("starts", "worker.pid", "step.pid"):
            (tmp_path / name).unlink(missing_ok=True)
        with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
            wait_for(lambda: (tmp_path / "worker.pid").exists(), timeout=30, what="the step to start")
            os.kill(int((tmp_path / "worker.pid").read_text()), signal.SIGKILL)
            assert proc.wait(60) == code, out.read_text()
        text = out.read_text()
        assert "worker lost" in text, text
        # Dask starts the task again on the other worker: it refused, so attempt 1 started once
        assert (tmp_path / "starts").read_text().split() == ["1", "2"][:attempts]
        step = int((tmp_path / "step.pid").read_text())  # the worker's guard killed what it ran
        wait_for(lambda step=step: not alive(step), timeout=10, what="the lost worker's step to be killed")
        dask.wait_for_both()
    assert "fragile | recovered" in text


def test_a_local_cluster_when_no_scheduler_is_given_leaves_nothing_behind(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          a: {run: "echo on a local cluster"}
          b: {run: "echo after", depends_on: [a]}
    """)
    result = cli(tmp_path, "up", "--output", "plain", "--executor", "dask", "-j", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a | on a local cluster" in result.stdout and "b | after" in result.stdout
    # the cluster's processes carried the test's tag: the leftover check sees any that survived


def test_workers_see_the_folder_at_executor_workdir(tmp_path: Path, dask: Cluster) -> None:
    project, mount = tmp_path / "project", tmp_path / "mount"  # the worker's view: another folder, same files
    for folder in (project, mount):
        folder.mkdir()
        (folder / "input.txt").write_text(f"seen in {folder.name}\n")
    write(project, f"""
        executor: {{type: dask, scheduler: "{dask.address}", workdir: "{mount}"}}
        steps:
          where: {{run: "cat; cat input.txt", stdin: {{file: input.txt}}, stdout: {{file: out.txt}}}}
    """)
    result = cli(project, "up", "--output", "plain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (mount / "out.txt").read_text() == "seen in mount\n" * 2
    assert not (project / "out.txt").exists()


def test_a_worker_with_another_flowrun_fails_the_step_with_that_reason(tmp_path: Path, dask: Cluster) -> None:
    import asyncio

    import flowrun
    from flowrun.process.dask_executor import DaskExecutor

    async def main() -> flowrun.RunResult:
        executor = await DaskExecutor.open(dask.address, base_dir=str(tmp_path))
        executor.version = "0.0.0+elsewhere"
        from flowrun.engine import arun

        return await arun(flowrun.load(write(tmp_path, "steps:\n  a: {run: 'true'}\n")), executor=executor,
                          handle_signals=False)

    step = asyncio.run(main())["a"]
    assert step.status.value == "failed"
    assert "this run needs 0.0.0+elsewhere" in step.reason


@pytest.mark.parametrize(("args", "env", "message"), [
    (("--executor", "dsk"), {}, "flowrun: unknown executor 'dsk' — did you mean 'dask'?"),
    (("--executor", "dask", "--scheduler", "tcp://127.0.0.1:{port}"), {}, "flowrun: cannot reach the Dask scheduler"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
                                              message: str) -> None:
    from tests.integration.harness import free_port

    port = str(free_port())
    write(tmp_path, "steps:\n  a: {run: 'touch ran'}\n")
    started = time.monotonic()
    result = cli(tmp_path, "up", *[a.replace("{port}", port) for a in args],
                 env={k: v.replace("{port}", port) for k, v in env.items()})
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / ".flowrun" / "runs").exists()


def test_an_unknown_executor_in_the_file_points_at_it(tmp_path: Path) -> None:
    write(tmp_path, "executor: {type: dsk}\nsteps:\n  a: {run: 'true'}\n")
    result = cli(tmp_path, "validate")
    assert result.returncode == 2
    assert "flowrun.yaml:1:18: unknown executor 'dsk'" in result.stderr and "did you mean 'dask'?" in result.stderr


def test_without_the_extra_the_dask_executor_is_one_line_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  a: {run: 'touch ran'}\n")
    block = ("import sys; sys.modules['distributed'] = None; sys.argv = ['flowrun', 'up', '--executor', 'dask']; "
             "from flowrun.cli import run_console; run_console()")
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == "flowrun: the dask executor needs distributed: pip install 'flowrun[dask]'\n"
    assert not (tmp_path / "ran").exists()


def test_a_worker_without_flowrun_fails_the_step_with_that_reason(tmp_path: Path, dask: Cluster) -> None:
    from tests.conftest import TEST_TAG_VAR

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['flowrun'] = None  # as if not installed\n")
    env = {k: v for k, v in os.environ.items() if k != TEST_TAG_VAR}
    env["PYTHONPATH"] = str(site)
    worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", dask.address, "--host", "127.0.0.1",
                               "--nthreads", "1", "--no-nanny", "--no-dashboard", "--resources", "bare=1"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        dask.client.wait_for_workers(3, timeout=60)
        write(tmp_path, "steps:\n  a: {run: 'touch ran', resources: {bare: 1}}\n")
        result = up(tmp_path, dask)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)
    assert result.returncode == 1
    assert "flowrun is not installed on the worker" in result.stdout, result.stdout
    assert not (tmp_path / "ran").exists()


def test_services_run_locally_and_steps_on_the_workers(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, """
        steps:
          svc:
            service: true
            run: "echo parent $PPID; echo up; exec sleep 100"
            ready: {log: "^up$"}
          use: {run: "echo parent $PPID", depends_on: [svc]}
    """)
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
        assert proc.wait(60) == 0, out.read_text()
    text = out.read_text()
    service = int(re.search(r"svc +\| parent (\d+)", text).group(1))  # type: ignore[union-attr]
    step = int(re.search(r"use +\| parent (\d+)", text).group(1))  # type: ignore[union-attr]
    assert service == proc.pid  # a child of flowrun up itself
    assert worker_parent(step) in (dask.plain, dask.gpu)


def test_a_step_is_stopped_on_its_worker_when_flowrun_up_dies(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, f"""
        steps:
          long:
            run: "{SLEEPIT} default --sleep 100 --grandchild setsid --pidfile grand.pid"
            timeout: 2s
    """)
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, _):
        wait_for(lambda: (tmp_path / "grand.pid").exists(), timeout=30, what="the step to start")
        os.killpg(proc.pid, signal.SIGKILL)  # the worker sees Dask drop the task
        proc.wait()
    grandchild = int((tmp_path / "grand.pid").read_text())
    wait_for(lambda: not alive(grandchild), timeout=10, what="the worker to stop the step")


def test_ctrl_c_ends_a_step_that_no_worker_can_take(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, "steps:\n  big: {run: 'touch ran', resources: {gpu: 8}}\n")
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
        def submitted() -> bool:  # and waiting: no worker has 8 gpus
            keys = dask.client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
            return any(k.startswith("flowrun-") for k in keys)

        wait_for(submitted, timeout=30, what="the task to reach the scheduler")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130, out.read_text()
    assert "cancelled" in out.read_text() and not (tmp_path / "ran").exists()


def test_a_second_ctrl_c_skips_the_grace_on_the_worker(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, f"""
        steps:
          stubborn: {{run: "echo $$ > step.pid; exec {SLEEPIT} ignore-term --sleep 100", kill_grace: 60s}}
    """)
    with flowrun_in_background(tmp_path, "--executor", "dask", "--scheduler", dask.address) as (proc, out):
        wait_for(lambda: "ready" in out.read_text(), timeout=30, what="the step to set its handlers")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # SIGTERM is ignored: the grace runs
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130, out.read_text()
        assert time.monotonic() - started < 10
    assert not alive(int((tmp_path / "step.pid").read_text()))


def test_the_command_line_wins_over_the_variable(tmp_path: Path, dask: Cluster) -> None:
    write(tmp_path, "steps:\n  a: {run: 'echo here'}\n")
    result = cli(tmp_path, "up", "--output", "plain", "--executor", "dask", "--scheduler", dask.address,
                 env={"FLOWRUN_DASK_SCHEDULER": "tcp://127.0.0.1:1"})
    assert result.returncode == 0 and "a | here" in result.stdout, result.stdout + result.stderr
