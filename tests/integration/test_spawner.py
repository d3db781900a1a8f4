"""Spawner's shortcuts against real children: the kept shared environment and file actions.

Each spawn runs ``env -0`` or ``pwd`` and the test compares what the child saw
with what was asked, so a stale cache shows up as a wrong environment or folder.
"""

from __future__ import annotations

import os
import signal
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

import pytest

from flowrun.process.executor import StepEnv
from flowrun.process.spawn import Spawner

pytestmark = pytest.mark.one_path("drives the Spawner directly, which both paths share")


def _run(spawner: Spawner, argv: tuple[str, ...], env: Mapping[str, str], cwd: str) -> bytes:
    r, w = os.pipe()
    try:
        pid = spawner.spawn(argv, env, cwd, (0, w, 2))
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        return b"".join(chunks)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _seen(output: bytes) -> list[str]:
    return sorted(output.decode("utf-8", "surrogateescape").split("\0")[:-1])


def _expected(env: Mapping[str, str]) -> list[str]:
    return sorted(f"{k}={v}" for k, v in env.items())


def test_each_child_gets_exactly_its_own_environment() -> None:
    """Plain dicts, and ChainMaps whose shared part is encoded once and kept."""
    spawner = Spawner()
    base = {"PATH": os.environ["PATH"], **{f"BASE_{i}": f"value {i}" for i in range(20)}}
    other_base = {**base, "BASE_3": "another run"}
    cases: list[Mapping[str, str]] = []
    for i in range(4):  # the engine's shape: the step's own entries over the run's shared ones
        cases.append(ChainMap({"FLOWRUN_STEP": f"s{i}", "X": "é" * i}, base))
    cases.append(ChainMap({"BASE_3": "replaced by the step", "PATH": "/bin"}, base))  # no duplicates
    cases.append(ChainMap({"FLOWRUN_STEP": "s9"}, base))  # back to nothing replaced
    cases.append(ChainMap({"FLOWRUN_STEP": "s10"}, other_base))  # another shared map
    cases.append(ChainMap({}, {"ONLY": "1"}))
    cases.append(StepEnv({"PATH": "/usr/bin:/bin", "FLOWRUN_STEP": "s11"}, base))  # what the engine passes
    cases.append({**base, "FLOWRUN_STEP": "plain dict"})
    cases.append({**base, "BAD": "\udcff bytes that are not UTF-8"})
    cases.append(ChainMap({"BAD": "\udcff"}, base))
    for env in cases:
        assert _seen(_run(spawner, ("env", "-0"), env, os.getcwd())) == _expected(env)


def test_an_embedded_null_byte_is_refused() -> None:
    spawner = Spawner()
    env = {"PATH": os.environ["PATH"], **{f"K{i}": "v" for i in range(12)}}
    _run(spawner, ("true",), ChainMap({}, env), os.getcwd())  # keep the shared part first
    with pytest.raises(ValueError, match="null"):
        spawner.spawn(("true",), ChainMap({"BAD": "a\0b"}, env), os.getcwd(), (0, 1, 2))
    with pytest.raises(ValueError, match="null"):
        spawner.spawn(("true",), {**env, "BAD": "a\0b"}, os.getcwd(), (0, 1, 2))
    with pytest.raises(ValueError, match="null"):
        spawner.spawn(("tr\0ue",), env, os.getcwd(), (0, 1, 2))


def test_folders_and_fds_alternate_without_mixing_up_kept_file_actions(tmp_path: Path) -> None:
    spawner = Spawner()
    folders = [tmp_path / f"d{i}" for i in range(20)]  # more than the actions kept
    for folder in folders:
        folder.mkdir()
    env = dict(os.environ)
    for _ in range(2):
        for folder in [*folders, Path(os.getcwd())]:
            assert _run(spawner, ("pwd",), env, str(folder)).decode().strip() == str(folder)


def _ignored_by_child(spawner: Spawner) -> set[int]:
    """The signals a child starts with ignored, from its own /proc status."""
    out = _run(spawner, ("grep", "SigIgn", "/proc/self/status"), dict(os.environ), os.getcwd())
    mask = int(out.split()[1], 16)
    return {sig for sig in signal.valid_signals() if mask >> (sig - 1) & 1}


def test_children_keep_only_the_ignored_signals_flowrun_inherited() -> None:
    """Like a shell: ``nohup``'s SIGHUP passes on, Python's own SIGPIPE/SIGXFSZ do not."""
    watched = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGXFSZ)
    saved = {sig: signal.getsignal(sig) for sig in watched}
    try:
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_IGN)
        spawner = Spawner()
        signal.signal(signal.SIGUSR2, lambda *_: None)  # handled by now: the child gets the default
        ignored = _ignored_by_child(spawner)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert ignored & set(watched) == {signal.SIGHUP, signal.SIGUSR1}
    assert _ignored_by_child(Spawner()) & set(watched) == set()


def test_step_env_reads_like_a_chainmap() -> None:
    shared = {"PATH": "/bin", "HOME": "/root"}
    env = StepEnv({"PATH": "/opt/bin"}, shared)
    assert env.get("PATH") == "/opt/bin" and env.get("HOME") == "/root"
    assert env.get("NOPE") is None and env.get("NOPE", "x") == "x"
    assert dict(env) == {"PATH": "/opt/bin", "HOME": "/root"} and shared["PATH"] == "/bin"
