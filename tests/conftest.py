"""Shared pytest options and fixtures: every test tags its processes and must leave none alive.

The autouse ``no_leftover_processes`` fixture puts ``FLOWRUN_TEST_TAG=<uuid>``
into ``os.environ``; every process a test starts inherits it (tests build step
environments from ``os.environ``). After the test, ``/proc/*/environ`` is
scanned for that exact entry (``ps`` with environments where there is no
``/proc``: macOS): any live match is SIGKILLed, reaped, and fails the test.
The scan is independent of ``flowrun.process`` on purpose.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

__all__ = ["TEST_TAG_VAR", "tagged_processes"]

TEST_TAG_VAR = "FLOWRUN_TEST_TAG"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


HAS_PROC = os.path.exists("/proc/self/environ")


def _tagged_by_ps(entry: str) -> dict[int, str]:
    """``ps`` with environments (BSD/macOS ``-E``, else procps ``e``): ``PID STAT COMMAND ENV...``."""
    for argv in (["ps", "-A", "-ww", "-E", "-o", "pid=,stat=,command="], ["ps", "axeww", "-o", "pid=,stat=,command="]):
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        if done.returncode == 0:
            break
    found: dict[int, str] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0].isdigit() and entry in parts[2:] and not parts[1].startswith("Z"):
            if int(parts[0]) != os.getpid():
                found[int(parts[0])] = " ".join(p for p in parts[2:] if "=" not in p)
    return found


def tagged_processes(tag: str) -> dict[int, str]:
    """Live (not zombie) processes whose initial environment holds ``FLOWRUN_TEST_TAG=tag``."""
    if not HAS_PROC:
        return _tagged_by_ps(f"{TEST_TAG_VAR}={tag}")
    entry = f"{TEST_TAG_VAR}={tag}".encode()
    found: dict[int, str] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        if entry not in _read(f"/proc/{name}/environ").split(b"\0"):
            continue
        stat = _read(f"/proc/{name}/stat")
        if stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X", b""):
            continue
        found[int(name)] = _read(f"/proc/{name}/cmdline").replace(b"\0", b" ").decode(errors="replace")
    return found


def _kill_and_reap(pids: list[int], timeout: float) -> None:
    if not hasattr(os, "pidfd_open"):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            time.sleep(0.01)
            for pid in list(pids):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            pids = [pid for pid in pids if pid in tagged_or_alive(pids)]
        return
    fds = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(pid)
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            fds.append(fd)
    deadline = time.monotonic() + timeout
    pending = list(fds)
    while pending and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(pending, [], [], left)
        pending = [fd for fd in pending if fd not in ready]
    for fd in fds:
        os.close(fd)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def tagged_or_alive(pids: list[int]) -> set[int]:
    """Those of ``pids`` that still exist and are not zombies (``ps``)."""
    done = subprocess.run(["ps", "-o", "pid=,stat=", "-p", ",".join(map(str, pids))], capture_output=True, text=True)
    return {int(p[0]) for p in (line.split() for line in done.stdout.splitlines())
            if len(p) == 2 and p[0].isdigit() and not p[1].startswith("Z")}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/cases/**/*.expected")


@pytest.fixture(autouse=True)
def no_leftover_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tag the test's processes; fail the test if any of them outlives it."""
    tag = uuid.uuid4().hex
    monkeypatch.setenv(TEST_TAG_VAR, tag)
    # on GitHub Actions every `flowrun up` of the suite would append to the job's own summary
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    yield tag
    survivors = tagged_processes(tag)
    if not survivors:
        return
    # a process SIGKILLed a moment ago may still be exiting: give it a short while
    deadline = time.monotonic() + 1.0
    while survivors and time.monotonic() < deadline:
        time.sleep(0.01)
        survivors = {pid: cmd for pid, cmd in tagged_processes(tag).items() if pid in survivors}
    if survivors:
        _kill_and_reap(list(survivors), timeout=5.0)
        listing = "\n".join(f"  {pid}: {cmd}" for pid, cmd in sorted(survivors.items()))
        pytest.fail(f"processes left alive by the test (now killed):\n{listing}", pytrace=False)
