"""A command's place on PATH is remembered, and forgotten the moment PATH's folders change.

Each case runs real children through one ``Spawner`` (so what was remembered by
the first spawn is what the next one would use), changes the folders the way a
build step would, and checks which program the next child really was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowrun.process.commands import CommandPaths
from flowrun.process.spawn import Spawner
from tests.integration.harness import run_yaml


def _tool(folder: Path, says: str, executable: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tool"
    path.write_text(f"#!/bin/sh\necho {says}\n")
    path.chmod(0o755 if executable else 0o644)
    return path


def _which_ran(spawner: Spawner, path: str) -> str:
    env = {"PATH": path}
    r, w = os.pipe()
    try:
        try:
            pid = spawner.spawn(("tool",), env, os.getcwd(), (0, w, 2))
        finally:
            os.close(w)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.waitpid(pid, 0)
        return out.decode().strip()
    finally:
        os.close(r)


@pytest.fixture
def spawner() -> Iterator[Spawner]:
    s = Spawner()
    yield s
    s.close()


def test_a_remembered_command_is_not_searched_again(tmp_path: Path, spawner: Spawner,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    looked: list[str] = []
    real_isfile = os.path.isfile
    monkeypatch.setattr(os.path, "isfile", lambda p: looked.append(p) or real_isfile(p))
    assert _which_ran(spawner, path) == "b"
    assert looked == []


class _NoInotify:
    """A C library whose inotify is out of instances (as when 128 are in use for the user)."""

    def inotify_init1(self, flags: int) -> int:
        return -1


@pytest.mark.parametrize("inotify", [True, False], ids=["remembered", "without-inotify"])
def test_a_new_program_earlier_on_path_wins_at_once(tmp_path: Path, spawner: Spawner, inotify: bool) -> None:
    """Without inotify every spawn searches PATH, so nothing can go stale either."""
    if not inotify:
        spawner._commands = CommandPaths(_NoInotify())  # type: ignore[arg-type]
    _tool(tmp_path / "b", "b")
    (tmp_path / "a").mkdir()
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    _tool(tmp_path / "a", "a")
    assert _which_ran(spawner, path) == "a"
    assert bool(spawner._commands._known) is inotify  # type: ignore[union-attr]


def test_a_file_made_executable_earlier_on_path_wins(tmp_path: Path, spawner: Spawner) -> None:
    _tool(tmp_path / "b", "b")
    early = _tool(tmp_path / "a", "a", executable=False)
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    early.chmod(0o755)
    assert _which_ran(spawner, path) == "a"


def test_a_folder_created_later_on_path_is_searched(tmp_path: Path, spawner: Spawner) -> None:
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'venv' / 'bin'}:{tmp_path / 'b'}"  # like a venv a step creates
    assert _which_ran(spawner, path) == "b"
    _tool(tmp_path / "venv" / "bin", "venv")
    assert _which_ran(spawner, path) == "venv"


def test_a_folder_removed_and_made_again_is_still_watched(tmp_path: Path, spawner: Spawner) -> None:
    """``rm -rf venv && python -m venv venv``, then a tool installed into it."""
    _tool(tmp_path / "b", "b")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    path = f"{tmp_path / 'venv' / 'bin'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    shutil.rmtree(tmp_path / "venv")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    assert _which_ran(spawner, path) == "b"  # searched again, the new folder watched
    _tool(tmp_path / "venv" / "bin", "venv")
    assert _which_ran(spawner, path) == "venv"


def test_a_switched_symlink_earlier_on_path_is_followed(tmp_path: Path, spawner: Spawner) -> None:
    (tmp_path / "v1").mkdir()
    _tool(tmp_path / "v2", "v2")
    _tool(tmp_path / "b", "b")
    (tmp_path / "current").symlink_to(tmp_path / "v1")
    path = f"{tmp_path / 'current'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    (tmp_path / "next").symlink_to(tmp_path / "v2")
    (tmp_path / "next").rename(tmp_path / "current")  # ln -sfn's atomic switch
    assert _which_ran(spawner, path) == "v2"


def test_a_removed_program_is_searched_for_again(tmp_path: Path, spawner: Spawner) -> None:
    early = _tool(tmp_path / "a", "a")
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "a"
    early.unlink()
    assert _which_ran(spawner, path) == "b"
    (tmp_path / "b" / "tool").unlink()
    with pytest.raises(FileNotFoundError):
        _which_ran(spawner, path)


def test_relative_folders_and_missing_commands_are_not_remembered(tmp_path: Path) -> None:
    commands = CommandPaths(Spawner()._libc)  # type: ignore[arg-type]
    try:
        _tool(tmp_path / "b", "b")
        assert commands.find("tool", f"bin:{tmp_path / 'b'}") is None  # depends on each step's folder
        assert commands.find("tool", f"{tmp_path / 'b'}:bin") == str(tmp_path / "b" / "tool")
        assert commands.find("no-such-tool", str(tmp_path / "b")) is None
    finally:
        commands.close()


def test_a_change_the_kernel_did_not_report_costs_one_failed_try(tmp_path: Path, spawner: Spawner) -> None:
    """As on a network folder another machine changed: the remembered file fails, the search runs again."""
    _tool(tmp_path / "b", "b")
    path = str(tmp_path / "b")
    assert _which_ran(spawner, path) == "b"
    spawner._commands._known[("tool", path)] = str(tmp_path / "gone" / "tool")  # type: ignore[union-attr]
    assert _which_ran(spawner, path) == "b"


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


def test_dot_dot_through_a_symlink_is_resolved_as_the_kernel_does(tmp_path: Path, spawner: Spawner) -> None:
    """``link/../a`` is ``deep/a`` when ``link`` points at ``deep/x``, not ``<tmp>/a``."""
    (tmp_path / "deep" / "x").mkdir(parents=True)
    (tmp_path / "deep" / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "x")
    _tool(tmp_path / "b", "b")
    path = f"{tmp_path / 'link'}/../a:{tmp_path / 'b'}"
    assert _which_ran(spawner, path) == "b"
    _tool(tmp_path / "deep" / "a", "deep")
    assert _which_ran(spawner, path) == "deep"


def test_a_spawner_dropped_without_close_gives_its_inotify_instance_back(tmp_path: Path) -> None:
    def inotify_fds() -> int:
        return sum(os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify" for fd in os.listdir("/proc/self/fd")
                   if os.path.exists(f"/proc/self/fd/{fd}"))

    before = inotify_fds()
    for _ in range(3):
        s = Spawner()
        _tool(tmp_path / "b", "b")
        assert _which_ran(s, str(tmp_path / "b")) == "b"
        del s
    assert inotify_fds() == before
