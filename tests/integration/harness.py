"""Write a workflow into a temp folder and run it with the real engine (dagu-style)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import flowrun
from flowrun.engine.result import RunResult

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
SLEEPIT = f"{sys.executable} {HELPERS / 'sleepit.py'}"


def write(tmp: Path, yaml_text: str, name: str = "flowrun.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(yaml_text))
    return path


def run_yaml(tmp: Path, yaml_text: str, **options: object) -> RunResult:
    """Load and run a workflow with the same engine the CLI uses (no console output)."""
    workflow = flowrun.load(write(tmp, yaml_text))
    options.setdefault("handle_signals", False)
    return flowrun.run(workflow, **options)


def flowrun_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowrun", *args]


def cli(
    tmp: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m flowrun ARGS` in ``tmp``; stdin closed, output captured."""
    return subprocess.run(
        flowrun_cmd(*args), cwd=tmp, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Wait for an event (a file, a line), polling briefly; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (``/proc``, else ``ps``)."""
    if not os.path.exists("/proc/self/stat"):
        done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
        return bool(done.stdout.strip()) and not done.stdout.strip().startswith("Z")
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


SERVER = f"{sys.executable} {HELPERS / 'server.py'}"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel's pick)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def flowrun_in_background(folder: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`flowrun up --output plain ARGS` in its own session, its output in ``folder/flowrun.out``; killed if left."""
    out = folder / "flowrun.out"
    with out.open("w") as handle:
        proc = subprocess.Popen(flowrun_cmd("up", "--output", "plain", *args), cwd=folder, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        yield proc, out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
