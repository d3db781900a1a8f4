"""A command named without a slash is found on PATH as ``execvp`` would, at every spawn.

Each case runs real children through one ``Spawner``, changes PATH's folders the
way a build step would, and checks which program the next child really was.
Both searches are covered: the child's own (``posix_spawnp``, when the step's
PATH is flowrun's) and flowrun's (when the step sets another PATH).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flowrun.process.spawn import Spawner
from tests.integration.harness import run_yaml


def _tool(folder: Path, says: str, executable: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tool"
    path.write_text(f"#!/bin/sh\necho {says}\n")
    path.chmod(0o755 if executable else 0o644)
    return path


def _which_ran(spawner: Spawner, path: str, cwd: str | None = None) -> str:
    env = {"PATH": path}
    r, w = os.pipe()
    try:
        try:
            pid = spawner.spawn(("tool",), env, cwd or os.getcwd(), (0, w, 2))
        finally:
            os.close(w)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.waitpid(pid, 0)
        return out.decode().strip()
    finally:
        os.close(r)


Run = Callable[..., str]


@pytest.fixture(params=["step-path", "own-path"])
def run_tool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run_tool(PATH)``: what ``tool`` printed, found on that PATH.

    ``own-path`` makes PATH flowrun's own as well, so the child searches it.
    """
    spawners: dict[str, Spawner] = {}

    def run(path: str, cwd: str | None = None) -> str:
        if request.param == "own-path":
            monkeypatch.setenv("PATH", path)
            spawner = spawners.setdefault(path, Spawner())  # it reads its own PATH once
        else:
            spawner = spawners.setdefault("", Spawner())
        return _which_ran(spawner, path, cwd)

    return run


def test_a_new_program_earlier_on_path_wins_at_once(tmp_path: Path, run_tool: Run) -> None:
    _tool(tmp_path / "b", "b")
    (tmp_path / "a").mkdir()
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert run_tool(path) == "b"
    _tool(tmp_path / "a", "a")
    assert run_tool(path) == "a"


def test_a_file_made_executable_earlier_on_path_wins(tmp_path: Path, run_tool: Run) -> None:
    _tool(tmp_path / "b", "b")
    early = _tool(tmp_path / "a", "a", executable=False)
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert run_tool(path) == "b"
    early.chmod(0o755)
    assert run_tool(path) == "a"


def test_a_folder_created_later_on_path_is_searched(tmp_path: Path, run_tool: Run) -> None:
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'venv' / 'bin'}:{tmp_path / 'b'}"  # like a venv a step creates
    assert run_tool(path) == "b"
    _tool(tmp_path / "venv" / "bin", "venv")
    assert run_tool(path) == "venv"


def test_a_folder_removed_and_made_again_is_searched(tmp_path: Path, run_tool: Run) -> None:
    """``rm -rf venv && python -m venv venv``, then a tool installed into it."""
    _tool(tmp_path / "b", "b")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    path = f"{tmp_path / 'venv' / 'bin'}:{tmp_path / 'b'}"
    assert run_tool(path) == "b"
    shutil.rmtree(tmp_path / "venv")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    assert run_tool(path) == "b"
    _tool(tmp_path / "venv" / "bin", "venv")
    assert run_tool(path) == "venv"


def test_a_switched_symlink_earlier_on_path_is_followed(tmp_path: Path, run_tool: Run) -> None:
    (tmp_path / "v1").mkdir()
    _tool(tmp_path / "v2", "v2")
    _tool(tmp_path / "b", "b")
    (tmp_path / "current").symlink_to(tmp_path / "v1")
    path = f"{tmp_path / 'current'}:{tmp_path / 'b'}"
    assert run_tool(path) == "b"
    (tmp_path / "next").symlink_to(tmp_path / "v2")
    (tmp_path / "next").rename(tmp_path / "current")  # ln -sfn's atomic switch
    assert run_tool(path) == "v2"


def test_a_removed_program_is_not_run(tmp_path: Path, run_tool: Run) -> None:
    early = _tool(tmp_path / "a", "a")
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert run_tool(path) == "a"
    early.unlink()
    assert run_tool(path) == "b"
    (tmp_path / "b" / "tool").unlink()
    with pytest.raises(FileNotFoundError):
        run_tool(path)


def test_dot_dot_through_a_symlink_is_resolved_as_the_kernel_does(tmp_path: Path, run_tool: Run) -> None:
    """``link/../a`` is ``deep/a`` when ``link`` points at ``deep/x``, not ``<tmp>/a``."""
    (tmp_path / "deep" / "x").mkdir(parents=True)
    (tmp_path / "deep" / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "x")
    _tool(tmp_path / "b", "b")
    _tool(tmp_path / "a", "top")  # what a purely textual '..' would pick
    path = f"{tmp_path / 'link'}/../a:{tmp_path / 'b'}"
    assert run_tool(path) == "b"
    _tool(tmp_path / "deep" / "a", "deep")
    assert run_tool(path) == "deep"


def test_a_relative_folder_on_path_is_the_steps_own(tmp_path: Path, run_tool: Run) -> None:
    _tool(tmp_path / "one" / "bin", "one")
    _tool(tmp_path / "two" / "bin", "two")
    _tool(tmp_path / "b", "b")
    path = f"bin:{tmp_path / 'b'}"
    assert run_tool(path, str(tmp_path / "one")) == "one"
    assert run_tool(path, str(tmp_path / "two")) == "two"
    assert run_tool(path, str(tmp_path)) == "b"


def test_a_step_runs_the_tool_an_earlier_step_installed(tmp_path: Path) -> None:
    """The build-step case end to end: `after` must not run what `before` found."""
    _tool(tmp_path / "sys", "system")
    result = run_yaml(tmp_path, f"""
        env:
          PATH: "{tmp_path / 'tools'}:{tmp_path / 'sys'}:/usr/bin:/bin"
        steps:
          before: {{cmd: [tool], stdout: {{file: before.txt}}}}
          install:
            run: mkdir -p tools && printf '#!/bin/sh\\necho installed\\n' > tools/tool && chmod +x tools/tool
            depends_on: [before]
          after: {{cmd: [tool], stdout: {{file: after.txt}}, depends_on: [install]}}
    """)
    assert result.exit_code() == 0
    assert (tmp_path / "before.txt").read_text() == "system\n"
    assert (tmp_path / "after.txt").read_text() == "installed\n"
