"""A matrix with include and exclude, run for real: each instance sees exactly its own variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowrun.events import StepStatus
from flowrun.load.cache import read_cached
from tests.integration.harness import cli, run_yaml, write
from tests.integration.test_plan_cache import _same_plan

# every instance writes its whole environment to a file named after it ("$FLOWRUN_STEP" is quoted:
# the brackets of an instance name would be a glob unquoted)
WORKFLOW = """
    steps:
      t:
        run: 'mkdir -p envs && env | sort > "envs/$FLOWRUN_STEP.env"'
        matrix:
          MX_FRUIT: [apple, pear]
          MX_ANIMAL: [cat, dog]
          exclude:
            - {MX_FRUIT: pear, MX_ANIMAL: dog}
          include:
            - MX_COLOR: green
            - {MX_COLOR: pink, MX_ANIMAL: cat}
            - MX_FRUIT: banana
            - {MX_FRUIT: pear, MX_ANIMAL: dog, MX_SHAPE: square}
      after: {run: 'ls envs | wc -l | tr -d " " > count', depends_on: [t]}
"""

# worked out by hand from GitHub's rules: exclude first; {MX_COLOR: green} extends every kept
# combination, pink overwrites it on the cats; banana and the excluded pear/dog match no kept
# combination, so each becomes one of its own
EXPECTED = {
    "t[MX_FRUIT=apple,MX_ANIMAL=cat,MX_COLOR=pink]": {"MX_FRUIT": "apple", "MX_ANIMAL": "cat", "MX_COLOR": "pink"},
    "t[MX_FRUIT=apple,MX_ANIMAL=dog,MX_COLOR=green]": {"MX_FRUIT": "apple", "MX_ANIMAL": "dog", "MX_COLOR": "green"},
    "t[MX_FRUIT=pear,MX_ANIMAL=cat,MX_COLOR=pink]": {"MX_FRUIT": "pear", "MX_ANIMAL": "cat", "MX_COLOR": "pink"},
    "t[MX_FRUIT=banana]": {"MX_FRUIT": "banana"},
    "t[MX_FRUIT=pear,MX_ANIMAL=dog,MX_SHAPE=square]": {"MX_FRUIT": "pear", "MX_ANIMAL": "dog", "MX_SHAPE": "square"},
}


def _seen(tmp: Path) -> dict[str, dict[str, str]]:
    """Instance name → the MX_ variables its process had, from the files the instances wrote."""
    seen: dict[str, dict[str, str]] = {}
    for path in sorted((tmp / "envs").iterdir()):
        env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        assert env["FLOWRUN_STEP"] == path.name.removesuffix(".env")
        seen[path.name.removesuffix(".env")] = {k: v for k, v in env.items() if k.startswith("MX_")}
    return seen


@pytest.fixture(autouse=True)
def _no_inherited_mx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MX_FRUIT", "MX_ANIMAL", "MX_COLOR", "MX_SHAPE"):  # "absent" must mean flowrun did not set it
        monkeypatch.delenv(name, raising=False)


def test_each_instance_gets_its_variables_and_lacks_the_rest(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, WORKFLOW)
    assert _seen(tmp_path) == EXPECTED
    assert {name: result[name].status for name in EXPECTED} == dict.fromkeys(EXPECTED, StepStatus.SUCCESS)
    assert result["after"].status is StepStatus.SUCCESS  # waited for all five
    assert (tmp_path / "count").read_text() == "5\n"


def test_a_cached_plan_runs_the_same_instances(tmp_path: Path) -> None:
    path = write(tmp_path, WORKFLOW)
    first = cli(tmp_path, "up", "--output", "plain")  # loads, checks, writes the plan cache
    assert first.returncode == 0, first.stdout + first.stderr
    _same_plan(tmp_path, path)
    cached = read_cached(str(path), path.read_bytes())
    assert cached is not None
    assert {name: inst.matrix for name, inst in cached._plan.instances.items() if name != "after"} == EXPECTED
    for old in (tmp_path / "envs").iterdir():
        old.unlink()
    second = cli(tmp_path, "up", "--output", "plain")  # a cache hit
    assert second.returncode == 0, second.stdout + second.stderr
    assert _seen(tmp_path) == EXPECTED
