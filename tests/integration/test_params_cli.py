"""``flowrun up -p NAME=VALUE``: values reach steps; every mistake is exit 2, one line, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import cli, write

WORKFLOW = """
    secrets: [token]
    params:
      version: {default: "0.0.0-dev", description: Version to stamp}
      channel: {choices: [beta, stable], required: true}
      region: {required: true}
      ratio: 1.10
      token: {default: ""}
    env: {version: from-env, channel: from-env}
    steps:
      stamp:
        cmd: [sh, -c, 'touch ran; echo "argv=$1 env=$version/$channel/$ratio/$region"', sh, "v${{ params.version }}"]
        env: {region: from-step}
"""


def _no_run(tmp: Path, *args: str) -> str:
    """Run ``up ARGS``; it must fail with exit 2 and one line, having started nothing; return that line."""
    write(tmp, WORKFLOW)
    proc = cli(tmp, "up", "--output", "plain", *args)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowrun: "), proc.stderr
    assert not (tmp / "ran").exists()
    assert not (tmp / ".flowrun" / "runs").exists()
    return lines[0].removeprefix("flowrun: ")


@pytest.mark.parametrize(("args", "said"), [
    (["-p", "chanel=beta", "-p", "region=eu"], "unknown parameter 'chanel' — did you mean 'channel'?"),
    (["-p", "channel=beta", "--param", "regoin=eu"], "unknown parameter 'regoin' — did you mean 'region'?"),
    ([], "missing required parameters 'channel', 'region' (give -p channel=VALUE -p region=VALUE)"),
    (["-p", "region=eu"], "missing required parameter 'channel' (give -p channel=VALUE)"),
    (["-p", "channel=prod", "-p", "region=eu"], "parameter 'channel' is 'prod', not one of its choices "
                                                "'beta', 'stable'"),
    (["-p", "channel", "-p", "region=eu"], "-p/--param takes NAME=VALUE, got 'channel'"),
    (["-p", "=beta"], "-p/--param takes NAME=VALUE, got '=beta'"),
    (["--param=channel"], "-p/--param takes NAME=VALUE, got 'channel'"),
])
def test_a_bad_param_is_exit_2_in_one_line_and_nothing_runs(tmp_path: Path, args: list[str], said: str) -> None:
    assert _no_run(tmp_path, *args) == said


def test_a_bad_param_is_refused_on_a_cache_hit_too(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    first = cli(tmp_path, "up", "--output", "plain", "-p", "channel=beta", "-p", "region=eu")
    assert first.returncode == 0, first.stderr
    (tmp_path / "ran").unlink()
    probe = ("import sys\nfrom flowrun.cli import main\n"
             "code = main(['up', '-p', 'channel=stabel', '-p', 'region=eu'])\n"
             "print('pydantic' in sys.modules, code)")
    hit = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert hit.stdout.strip() == "False 2"  # read from the plan cache, and still checked
    assert hit.stderr.strip() == ("flowrun: parameter 'channel' is 'stabel', not one of its choices 'beta', "
                                  "'stable' — did you mean 'stable'?")
    assert not (tmp_path / "ran").exists()


def test_values_reach_steps_as_variables_and_expressions(tmp_path: Path) -> None:
    # needs the engine's `params=` keyword (flowrun.engine.arun)
    write(tmp_path, WORKFLOW)
    for _ in range(2):  # a miss, then a hit of the plan cache
        proc = cli(tmp_path, "up", "--output", "plain", "-p", "channel=beta", "-p", "region=eu",
                   "-p", "version=1.2.3=rc")
        assert proc.returncode == 0, proc.stderr
        # params over the workflow env, under the step's env; numbers as spelled; a value may hold '='
        assert "argv=v1.2.3=rc env=1.2.3=rc/beta/1.10/from-step" in proc.stdout


def test_the_last_value_given_wins(tmp_path: Path) -> None:
    # needs the engine's `params=` keyword (flowrun.engine.arun)
    write(tmp_path, WORKFLOW)
    proc = cli(tmp_path, "up", "--output", "plain", "-p", "channel=beta", "-p", "region=eu", "-p", "channel=stable")
    assert proc.returncode == 0, proc.stderr
    assert "env=0.0.0-dev/stable/" in proc.stdout


def test_dry_run_shows_the_values_and_masks_secrets(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW)
    proc = cli(tmp_path, "up", "--dry-run", "-p", "channel=beta", "-p", "region=eu", "-p", "token=hunter2-s3cr3t")
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.split("\nparams:\n", 1)[1].splitlines()
    assert tail == ["  version=0.0.0-dev", "  channel=beta", "  region=eu", "  ratio=1.10", "  token=***"]
    assert "hunter2" not in proc.stdout
    assert not (tmp_path / "ran").exists()


def test_list_shows_the_params_after_the_steps(tmp_path: Path) -> None:
    write(tmp_path, WORKFLOW.replace('token: {default: ""}', 'token: {default: "hunter2-s3cr3t"}'))
    proc = cli(tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "stamp",
        "",
        "params:",
        "  version  default 0.0.0-dev                Version to stamp",
        "  channel  required           beta, stable",
        "  region   required",
        "  ratio    default 1.10",
        "  token    default ***",
    ]


def test_list_without_params_shows_only_the_steps(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: 'true', description: first}}\n")
    assert cli(tmp_path, "list").stdout == "a  first\n"


def test_a_probe_address_is_checked_with_the_given_values(tmp_path: Path) -> None:
    write(tmp_path, """
        params: {port: {required: true}}
        steps:
          db:
            service: true
            run: touch ran; sleep 30
            ready: {tcp: "127.0.0.1:${{ params.port }}"}
    """)
    proc = cli(tmp_path, "up", "--output", "plain", "-p", "port=70000")
    assert proc.returncode == 2
    assert proc.stderr == ("flowrun: step 'db': ready.tcp '127.0.0.1:${{ params.port }}' is '127.0.0.1:70000' "
                           "with these parameters: port 70000 is outside 1-65535\n")
    assert not (tmp_path / "ran").exists()


def test_a_secret_parameters_default_is_never_written_to_the_plan_cache(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [token]
        params: {token: hunter2-s3cr3t, plain: visible-default}
        steps:
          a: {run: "true"}
    """)
    assert cli(tmp_path, "up", "--output", "plain").returncode == 0
    cache = tmp_path / ".flowrun" / "cache"
    assert not cache.exists() or not any(cache.iterdir())
    write(tmp_path, """
        secrets: [token]
        params: {token: "", plain: visible-default}
        steps:
          a: {run: "true"}
    """)
    assert cli(tmp_path, "up", "--output", "plain").returncode == 0
    assert [b"visible-default" in f.read_bytes() for f in cache.iterdir()] == [True]  # the test can see a write
