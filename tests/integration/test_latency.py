"""The latency hint: flowrun's thread asks for short time slices, steps keep the default (process/latency.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowrun.events import StepStatus
from flowrun.process.latency import SLICE_NS, LatencyHint, sched_attr
from tests.integration.harness import run_yaml

pytestmark = pytest.mark.linux_path("the latency hint is the Linux path's (sched_setattr, custom slices: 6.12+)")


def _slice_of(sched_text: str) -> int:
    for line in sched_text.splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    raise AssertionError(f"no se.slice line in {sched_text!r}")


def _own_slice() -> int:
    return _slice_of(Path(f"/proc/self/task/{os.getpid()}/sched").read_text())


@pytest.fixture
def custom_slices() -> None:
    """Skip where the kernel or this process cannot take the hint (Linux < 6.12, RT policy, nice < 0)."""
    attr = sched_attr()
    if attr is None or not Path("/proc/self/sched").exists():
        pytest.skip("no sched_getattr or /proc/PID/sched here")
    hint = LatencyHint()
    if not hint.apply():
        pytest.skip("the latency hint does not apply to this process")
    try:
        if _own_slice() != SLICE_NS:
            pytest.skip("this kernel has no custom time slices (Linux 6.12+)")
    finally:
        hint.restore()


@pytest.mark.usefixtures("custom_slices")
def test_flowrun_runs_with_short_slices_and_its_steps_with_the_default(tmp_path: Path) -> None:
    before = sched_attr()
    default = _own_slice()
    result = run_yaml(tmp_path, """
        steps:
          probe:
            run: |
              grep se.slice /proc/$PPID/task/$PPID/sched > parent.txt
              grep se.slice /proc/self/sched > own.txt
    """)
    assert result["probe"].status is StepStatus.SUCCESS
    assert _slice_of((tmp_path / "parent.txt").read_text()) == SLICE_NS  # the engine, while it ran
    assert _slice_of((tmp_path / "own.txt").read_text()) == default  # the step: reset on fork
    assert sched_attr() == before  # and the engine's thread is as it was
    assert _own_slice() == default


def test_a_process_with_a_negative_nice_value_is_left_alone() -> None:
    # reset-on-fork would take the negative nice value away from the steps
    code = (
        "import os, sys\n"
        "try:\n    os.nice(-1)\nexcept PermissionError:\n    sys.exit(3)\n"
        "from flowrun.process.latency import LatencyHint, sched_attr\n"
        "before = sched_attr()\n"
        "assert LatencyHint().apply() is False\n"
        "assert sched_attr() == before\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if done.returncode == 3:
        pytest.skip("lowering the nice value needs CAP_SYS_NICE")
    assert done.returncode == 0, done.stderr
