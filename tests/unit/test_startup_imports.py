"""What a one-step ``flowrun up`` imports: the start-up path stays free of the heavy modules.

A plan-cache hit must not load the loader's stack (yaml, pydantic), the graph
library (networkx) or rich on a non-terminal, and ``flowrun.run`` drives the
run on ``flowrun.process.loop``, not asyncio. ``dataclasses`` (with inspect)
is replaced by ``flowrun.records``, ``typing`` by ``TYPE_CHECKING = False``, and
OpenSSL's SHA-256 (``_hashlib``) by CPython's own for small files. Each of these cost milliseconds of every
start (docs/format.md, "Starting"); the test fails if one comes back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("yaml", "pydantic", "pydantic_core", "networkx", "rich", "asyncio", "dataclasses", "inspect", "_hashlib",
         "typing")

CODE = """
import json, sys
import flowrun.cli
code = flowrun.cli.main(sys.argv[1:])
sys.stdout.flush()
print("MODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def modules_of(folder: Path, *args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", CODE, *args], cwd=folder, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


@pytest.fixture
def one_step(tmp_path: Path) -> Path:
    (tmp_path / "flowrun.yaml").write_text("version: 1\nsteps:\n  s0:\n    cmd: [true]\n")
    first = modules_of(tmp_path, "up", "--output", "plain", "-q")  # a miss: loads, checks, caches
    assert {"yaml", "pydantic"} <= first  # the test can see an import
    return tmp_path


@pytest.mark.parametrize("args", [("up", "--output", "plain", "-q"), ("up", "-q"), ("up", "--dry-run")],
                         ids=["plain", "auto-on-a-pipe", "dry-run"])
def test_a_cached_one_step_run_imports_none_of_the_heavy_modules(one_step: Path, args: tuple[str, ...]) -> None:
    loaded = modules_of(one_step, *args)
    assert "flowrun.process.loop" in loaded or "--dry-run" in args
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []


def test_a_service_probed_over_tcp_dask_and_the_portable_path_still_run_on_asyncio(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowrun.engine import _needs_asyncio
    from flowrun.load import load_text

    probed = load_text(b"version: 1\nsteps:\n  db:\n    service: true\n    cmd: [sleep, '9']\n"
                       b"    ready: {tcp: '127.0.0.1:9'}\n", str(tmp_path / "flowrun.yaml"))
    plain = load_text(b"version: 1\nsteps:\n  db:\n    service: true\n    cmd: [sleep, '9']\n"
                      b"    ready: {log: up}\n", str(tmp_path / "flowrun.yaml"))
    assert _needs_asyncio(probed, {}) and not _needs_asyncio(plain, {})
    assert _needs_asyncio(plain, {"executor": "dask"}) and not _needs_asyncio(plain, {"executor": "local"})
    monkeypatch.setenv("FLOWRUN_PROCESS", "portable")
    assert _needs_asyncio(plain, {})
