"""Spawner's shortcuts against real children: the kept env prefix and file actions.

Each spawn runs ``env -0`` or ``pwd`` and the test compares what the child saw
with what was asked, so a stale cache shows up as a wrong environment or folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowrun.process.spawn import Spawner


def _run(spawner: Spawner, argv: tuple[str, ...], env: dict[str, str], cwd: str) -> bytes:
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


def _expected(env: dict[str, str]) -> bytes:
    return b"".join(f"{k}={v}".encode("utf-8", "surrogateescape") + b"\0" for k, v in env.items())


def test_each_child_gets_exactly_its_own_environment() -> None:
    spawner = Spawner()
    base = {"PATH": os.environ["PATH"], **{f"BASE_{i}": f"value {i}" for i in range(20)}}
    cases: list[dict[str, str]] = []
    for i in range(6):  # the usual shape: a shared base, then a few entries of the step's own
        cases.append({**base, "FLOWRUN_STEP": f"s{i}", "X": "é" * i})
    cases.append({**base, "BASE_3": "overridden in place"})  # a change inside the kept prefix
    cases.append({"PATH": os.environ["PATH"], "ONLY": "1"})  # nothing in common
    cases.append(dict(reversed(list(cases[0].items()))))  # same entries, another order
    cases.append({**base, "BAD": "\udcff bytes that are not UTF-8"})
    cases.append(dict(base))
    for env in cases:
        assert _run(spawner, ("env", "-0"), env, os.getcwd()) == _expected(env)


def test_an_embedded_null_byte_is_refused() -> None:
    spawner = Spawner()
    env = {"PATH": os.environ["PATH"], **{f"K{i}": "v" for i in range(12)}}
    _run(spawner, ("true",), env, os.getcwd())  # learn a prefix first
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
