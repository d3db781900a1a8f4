"""`flowrun schema` validates every example in workflows/ and rejects a misspelt key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from flowrun.cli import main
from flowrun.load.yamlnodes import read_yaml
from flowrun.spec.schema import json_schema

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").rglob("*.yaml"))


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_schema_accepts_examples(path: Path) -> None:
    # read as flowrun (and editors) read it: YAML 1.2, so a step named `yes` stays text
    document, _ = read_yaml(path.read_bytes(), str(path))
    jsonschema.validate(document, json_schema())


def test_schema_rejects_misspelt_key() -> None:
    with pytest.raises(jsonschema.ValidationError, match="depend_on"):
        jsonschema.validate({"steps": {"a": {"run": "x", "depend_on": ["b"]}}}, json_schema())


def test_there_are_examples() -> None:
    assert len(WORKFLOWS) >= 3
