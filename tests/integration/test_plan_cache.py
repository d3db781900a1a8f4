"""The plan cache: a second `flowrun up` of an unchanged file skips yaml and pydantic,
and any change (the file, a dotenv file, a broken cache) is seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowrun.load import load
from flowrun.load.cache import cache_file, read_cached, write_cache
from flowrun.spec.runtime import step_data
from tests.integration.harness import cli, write

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"

RICH = """
    version: 1
    name: cached
    jobs: 3
    timeout: 1m
    dotenv: [.env]
    env: {GREETING: hello}
    secrets: [TOKEN]
    defaults: {timeout: 30s, retry: {attempts: 2, delay: 10ms, backoff: 2}}
    steps:
      gen: {cmd: [seq, "1", "5"], description: numbers}
      odd: {run: "awk 'NR % 2'", stdin: gen}
      count: {cmd: [wc, -l], stdin: odd, stdout: {file: out/count.txt, append: true}, stderr: stdout}
      fed: {cmd: [cat], stdin: {text: "fed text"}, lock: [disk], if: "true", continue_on_error: true}
      build:
        run: echo "$GREETING $OS $FROM_DOTENV"
        matrix: {OS: [linux, mac]}
        depends_on: {count: success, fed: completed}
        kill_signal: SIGINT
        kill_grace: 2s
        shell: sh
        workdir: out
"""


def _same_plan(tmp: Path, path: Path) -> None:
    loaded = load(path)
    cached = read_cached(str(path), path.read_bytes())
    assert cached is not None, "the cache should have been written by the first run"
    a, b = loaded._plan, cached._plan
    assert a.pipelines == b.pipelines
    assert list(a.instances) == list(b.instances)
    assert [(u, v, d["kind"], d["condition"]) for u, v, d in a.edges] == \
        [(u, v, d["kind"], d["condition"]) for u, v, d in b.edges]
    for name, inst in a.instances.items():
        other = b.instances[name]
        assert (inst.base, inst.matrix) == (other.base, other.matrix)
        assert step_data(inst.step) == step_data(other.step)
    for field in ("name", "jobs", "timeout", "env", "dotenv_values", "secrets", "base_dir"):
        assert getattr(loaded, field) == getattr(cached, field), field


def test_a_cached_plan_is_the_plan_the_file_loads_into(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FROM_DOTENV=dot\n")
    (tmp_path / "out").mkdir()
    path = write(tmp_path, RICH)
    first = cli(tmp_path, "up", "--output", "plain")
    assert first.returncode == 0, first.stdout + first.stderr
    _same_plan(tmp_path, path)
    second = cli(tmp_path, "up", "--output", "plain")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (tmp_path / "out" / "count.txt").read_text() == "3\n3\n"
    assert "hello linux dot" in second.stdout and "hello mac dot" in second.stdout


@pytest.mark.parametrize("example", sorted(p.name for p in WORKFLOWS.rglob("*.yaml")))
def test_every_example_round_trips(example: str, tmp_path: Path) -> None:
    path = next(WORKFLOWS.rglob(example))
    workflow = load(path)
    target = tmp_path / "flowrun.yaml"
    target.write_bytes(path.read_bytes())
    for name in workflow.dotenv:
        (tmp_path / name).write_bytes((path.parent / name).read_bytes())
    copied = load(target)
    write_cache(str(target), target.read_bytes(), copied, copied._plan)
    _same_plan(tmp_path, target)


def test_a_hit_imports_neither_yaml_nor_pydantic(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          a: {cmd: ["true"]}
          b: {cmd: [cat], stdin: a}
    """)
    probe = ("import sys\nfrom flowrun.cli import main\ncode = main(['up', '--output', 'plain', '-q'])\n"
             "print(sorted(m for m in ('yaml', 'pydantic', 'networkx', 'rich') if m in sys.modules), code)")
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL) for _ in range(2)]
    assert runs[0].stdout.strip().splitlines()[-1] == "['pydantic', 'yaml'] 0"  # a miss: loaded and checked
    assert runs[1].stdout.strip().splitlines()[-1] == "[] 0"  # a hit


def test_changes_to_the_file_or_a_dotenv_file_are_seen(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WHO=first\n")
    path = write(tmp_path, """
        dotenv: [.env]
        steps:
          say: {run: echo "one $WHO"}
    """)
    assert "one first" in cli(tmp_path, "up", "--output", "plain").stdout
    (tmp_path / ".env").write_text("WHO=second\n")
    assert "one second" in cli(tmp_path, "up", "--output", "plain").stdout
    path.write_text(path.read_text().replace("one", "two"))
    assert "two second" in cli(tmp_path, "up", "--output", "plain").stdout


def test_a_broken_cache_is_a_miss_and_is_written_again(tmp_path: Path) -> None:
    path = write(tmp_path, """
        steps:
          say: {run: echo fine}
    """)
    assert cli(tmp_path, "up", "--output", "plain").returncode == 0
    cached = Path(cache_file(str(path)))
    assert cached.exists() and oct(cached.stat().st_mode & 0o777) == "0o600"
    for garbage in (b"{not json", b'{"format": 1}', b"[]", b""):
        cached.write_bytes(garbage)
        result = cli(tmp_path, "up", "--output", "plain")
        assert result.returncode == 0 and "fine" in result.stdout, result.stderr
        assert read_cached(str(path), path.read_bytes()) is not None


def test_a_cache_edited_by_hand_is_a_miss(tmp_path: Path) -> None:
    """The cache holds what the file said; an edit to the cache (or a damaged one) never runs."""
    path = write(tmp_path, """
        steps:
          say: {run: echo fine}
          after: {run: echo after, depends_on: [say]}
    """)
    assert cli(tmp_path, "up", "--output", "plain").returncode == 0
    cached = Path(cache_file(str(path)))
    original = cached.read_bytes()
    edits = [original.replace(b"echo fine", b"echo HACKED"),
             original.replace(b'"pipelines":[', b'"pipelines":[[]],"x":[')]
    for edited in edits:
        assert edited != original
        cached.write_bytes(edited)
        result = cli(tmp_path, "up", "--output", "plain", timeout=30)
        assert result.returncode == 0 and "fine" in result.stdout and "HACKED" not in result.stdout, result.stderr
    os.chmod(cached.parent, 0o777)
    cached.unlink()
    assert cli(tmp_path, "up").returncode == 0
    assert oct(cached.parent.stat().st_mode & 0o777) == "0o700"


def test_an_invalid_file_is_never_cached(tmp_path: Path) -> None:
    path = write(tmp_path, """
        steps:
          a: {cmd: ["true"], depends_on: [nope]}
    """)
    for _ in range(2):
        result = cli(tmp_path, "up")
        assert result.returncode == 2
        assert "unknown step 'nope'" in result.stderr
    assert not os.path.exists(cache_file(str(path)))


def test_a_file_that_sets_a_secret_is_not_cached(tmp_path: Path) -> None:
    """The cache would hold the value the file gives the secret: such a file is loaded every time."""
    write(tmp_path, """
        secrets: [TOKEN, FROM_DEFAULTS]
        defaults: {env: {FROM_DEFAULTS: dfl-hidden}}
        steps:
          leak: {run: 'echo "token=$TOKEN other=$FROM_DEFAULTS"', env: {TOKEN: s3cret-value}}
    """)
    for _ in range(2):
        result = cli(tmp_path, "up", "--output", "plain")
        assert result.returncode == 0, result.stderr
        assert "token=*** other=***" in result.stdout
        assert "s3cret-value" not in result.stdout + result.stderr
        assert "dfl-hidden" not in result.stdout + result.stderr
    assert not os.path.exists(cache_file(str(tmp_path / "flowrun.yaml")))
