"""Shell completion: each script generated, then driven by the real shell (bash, fish, zsh in a pty).

bash: the script is sourced and ``_flowrun`` run with COMP_WORDS/COMP_CWORD, as
bash's programmable completion calls it. fish: ``complete -C``. zsh: an
interactive ``zsh -f`` in a pseudo-terminal (``zsh/zpty``) with ``compinit``,
typing the line and TAB; ``compadd`` is wrapped to write down what it adds,
then passes everything on to the real builtin. A shell that is not installed
skips its tests, saying so (``.ci/run`` installs them where it can).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowrun.commandline import build_parser
from tests.integration.harness import cli, write

WORKFLOW = """\
params:
  version: {default: "1.0"}
  channel: {choices: [beta, stable], default: beta}
steps:
  lint:
    run: "true"
  unit:
    run: "true"
    depends_on: [lint]
  build:
    matrix: {os: [linux, mac]}
    run: "true"
handlers:
  finally:
    run: "true"
"""
OTHER = "params:\n  region: {default: eu}\nsteps:\n  deploy:\n    run: 'true'\n"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder with flowrun.yaml, other.yaml, a `flowrun` on PATH (this interpreter's) and the three scripts."""
    write(tmp_path, WORKFLOW)
    write(tmp_path, OTHER, "other.yaml")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "flowrun"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m flowrun "$@"\n')
    wrapper.chmod(0o755)
    for shell, name in (("bash", "flowrun.bash"), ("zsh", "zfunc/_flowrun"), ("fish", "flowrun.fish")):
        done = cli(tmp_path, "completion", shell)
        assert done.returncode == 0, done.stderr
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(done.stdout)
    return tmp_path


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(folder)}


def _options(command: str) -> set[str]:
    """Every option string argparse takes for ``command`` (what the scripts must offer)."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[command]
    return {s for action in sub._actions for s in action.option_strings}


UP_TARGETS = ["lint", "unit", "build"]
LOG_STEPS = ["lint", "unit", "build[os=linux]", "build", "build[os=mac]", "finally"]


# ------------------------------------------------------------------------- bash
def _bash(folder: Path, *words: str) -> list[str]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    driver = ('source flowrun.bash; COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _flowrun; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", driver, "bash", "flowrun", *words], cwd=folder,
                          env=_env(folder), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_subcommands_options_and_values(checkout: Path) -> None:
    assert _bash(checkout, "") == [name for name in build_parser()._actions[-1].choices]
    for command in build_parser()._actions[-1].choices:  # every option argparse takes, in every subcommand
        assert set(_bash(checkout, command, "-")) == _options(command), command
    assert _bash(checkout, "up", "--ke") == ["--keep-going"]
    assert _bash(checkout, "up", "--output", "=", "p") == ["plain"]  # bash breaks --output=p at '='
    assert _bash(checkout, "graph", "--format", "") == ["tree", "mermaid", "dot"]
    assert _bash(checkout, "completion", "") == ["bash", "zsh", "fish"]
    assert _bash(checkout, "up", "-j", "") == []


def test_bash_reads_steps_and_params_from_the_file_on_the_line(checkout: Path) -> None:
    assert _bash(checkout, "up", "") == UP_TARGETS
    assert _bash(checkout, "up", "u") == ["unit"]
    assert _bash(checkout, "up", "lint", "-j", "2", "") == UP_TARGETS
    assert _bash(checkout, "logs", "") == LOG_STEPS
    assert _bash(checkout, "history", "b") == ["build[os=linux]", "build", "build[os=mac]"]
    assert _bash(checkout, "up", "-p", "") == ["version=", "channel="]
    assert _bash(checkout, "up", "-f", "other.yaml", "-p", "") == ["region="]
    assert _bash(checkout, "up", "--file", "=", "other.yaml", "") == ["deploy"]
    assert _bash(checkout, "up", "-f", "~/other.yaml", "") == ["deploy"]  # HOME is the checkout
    assert _bash(checkout, "logs", "-f", "--file", "other.yaml", "") == ["deploy"]  # logs: -f is --follow


def test_bash_completes_workflow_files_and_report_files(checkout: Path) -> None:
    assert sorted(_bash(checkout, "up", "-f", "")) == ["bin", "flowrun.yaml", "other.yaml", "sub", "zfunc"]
    assert "notes.txt" in _bash(checkout, "up", "--junit", "")


# ------------------------------------------------------------------------- fish
def _fish(folder: Path, line: str) -> list[str]:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    done = subprocess.run(["fish", "--no-config", "-c", f"source flowrun.fish; complete -C {_fish_quote(line)}"],
                          cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [row.split("\t")[0] for row in done.stdout.splitlines() if row]


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_fish_completes_subcommands_options_steps_and_params(checkout: Path) -> None:
    assert set(_fish(checkout, "flowrun ")) == set(build_parser()._actions[-1].choices)
    assert set(_fish(checkout, "flowrun up -")) == _options("up")
    assert set(_fish(checkout, "flowrun logs -")) == _options("logs")
    assert _fish(checkout, "flowrun up --out") == ["--output"]
    assert sorted(_fish(checkout, "flowrun up --output ")) == ["auto", "github", "plain", "tty"]
    assert sorted(_fish(checkout, "flowrun up ")) == sorted(UP_TARGETS)
    assert sorted(_fish(checkout, "flowrun logs ")) == sorted(LOG_STEPS)
    assert sorted(_fish(checkout, "flowrun up -p ")) == ["channel=", "version="]
    assert _fish(checkout, "flowrun up -f other.yaml ") == ["deploy"]
    assert _fish(checkout, "flowrun history --file=other.yaml ") == ["deploy"]
    assert _fish(checkout, "flowrun up -f oth") == ["other.yaml"]
    assert sorted(_fish(checkout, "flowrun completion ")) == ["bash", "fish", "zsh"]


# -------------------------------------------------------------------------- zsh
ZSH_DRIVER = textwrap.dedent("""\
    zmodload zsh/zpty
    out=$PWD/hits
    : > $out
    zpty z zsh -f -i
    zpty -w z "PS1='' RPROMPT=''; fpath=($PWD/zfunc \\$fpath); autoload -Uz compinit; compinit -u -D"
    zpty -w z "compadd() { local -a h; builtin compadd -O h \\"\\$@\\"; print -rl -- \\$h >> $out; \\
      builtin compadd \\"\\$@\\" }"
    zpty -w z "print -r -- READY >> $out"
    for i in {1..400}; do grep -qx READY $out && break; sleep 0.05; done
    : > $out
    zpty -w -n z "$1"$'\\t'$'\\x15'"print -r -- DONE >> $out"$'\\n'
    for i in {1..400}; do grep -qx DONE $out && break; sleep 0.05; done
    zpty -d z
    grep -vx DONE $out
    """)


def _zsh(folder: Path, line: str) -> list[str]:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    (folder / "drive.zsh").write_text(ZSH_DRIVER)
    done = subprocess.run(["zsh", "-f", "drive.zsh", line], cwd=folder, env=_env(folder), capture_output=True,
                          text=True, timeout=60)
    assert "DONE" in (folder / "hits").read_text(), done.stderr
    return list(dict.fromkeys(row for row in done.stdout.splitlines() if row))


def test_zsh_completes_subcommands_options_steps_and_params(checkout: Path) -> None:
    assert _zsh(checkout, "flowrun ") == list(build_parser()._actions[-1].choices)
    assert set(_zsh(checkout, "flowrun up -")) == _options("up")
    assert _zsh(checkout, "flowrun up ") == UP_TARGETS
    assert _zsh(checkout, "flowrun logs ") == LOG_STEPS
    assert _zsh(checkout, "flowrun up -p ") == ["version=", "channel="]
    assert _zsh(checkout, "flowrun up -f other.yaml ") == ["deploy"]
    assert _zsh(checkout, "flowrun up --output ") == ["auto", "tty", "plain", "github"]
    assert "other.yaml" in _zsh(checkout, "flowrun up -f o")


# ------------------------------------------------------------------- __complete
def test_complete_answers_from_the_plan_cache_without_the_heavy_imports(checkout: Path) -> None:
    first = cli(checkout, "__complete", "targets")
    assert first.returncode == 0 and first.stdout.split() == UP_TARGETS
    assert list((checkout / ".flowrun" / "cache").glob("plan-*.json")), "a miss keeps the plan"
    probe = ("import sys\nfrom flowrun.cli import main\ncode = main(['__complete', 'steps'])\n"
             "heavy = ('yaml', 'pydantic', 'networkx', 'asyncio', 'rich', 'argparse', 'flowrun.graph',\n"
             "         'flowrun.spec')\n"
             "print(sorted(m for m in heavy if m in sys.modules), code)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=checkout, capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == [*LOG_STEPS, "[] 0"], done.stderr


def test_complete_on_a_file_that_does_not_load_offers_what_it_spells(checkout: Path) -> None:
    write(checkout, "steps:\n  a: {run: 'true', depends_on: [nope]}\n  b: {run: 'true'}\n", "broken.yaml")
    done = cli(checkout, "__complete", "targets", "--file", "broken.yaml")
    assert done.returncode == 0 and done.stdout.split() == ["a", "b"] and not done.stderr


def test_complete_prints_nothing_where_there_is_no_file_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    done = cli(tmp_path, "__complete", "targets")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert cli(tmp_path, "__complete", "colours").returncode == 2
    assert cli(tmp_path, "__complete", "targets", "--bogus").returncode == 2


def test_complete_lists_run_ids_newest_first(checkout: Path) -> None:
    for _ in range(2):
        assert cli(checkout, "up", "--output", "plain", "-q").returncode == 0
    runs = cli(checkout, "__complete", "runs").stdout.split()
    assert len(runs) == 2 and runs == sorted(runs, reverse=True)
    assert runs == sorted(p.name for p in (checkout / ".flowrun" / "runs").iterdir() if p.is_dir())[::-1]


def test_an_unknown_shell_is_exit_2_with_a_suggestion(tmp_path: Path) -> None:
    done = cli(tmp_path, "completion", "bsh")
    assert done.returncode == 2
    assert "unknown shell 'bsh' — did you mean 'bash'?" in done.stderr
