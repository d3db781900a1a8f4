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


MATRIX = {
    "fruit": ["apple", "pear"], "animal": ["cat", "dog"], "version": [1.10, 12, True],
    "include": [{"color": "green"}, {"color": "pink", "animal": "cat"}, {"fruit": "banana", "n": 1, "ok": False}],
    "exclude": [{"fruit": "pear", "animal": "dog"}],
}


def test_schema_accepts_matrix_include_and_exclude() -> None:
    jsonschema.validate({"steps": {"a": {"run": "x", "matrix": MATRIX}}}, json_schema())
    jsonschema.validate({"steps": {"a": {"run": "x", "matrix": {"include": [{"site": "a"}]}}}}, json_schema())


@pytest.mark.parametrize("matrix", [
    {"os": ["linux"], "include": {"os": "mac"}},  # not a list
    {"os": ["linux"], "include": [["os", "mac"]]},  # an entry that is not a mapping
    {"os": ["linux"], "include": [{"os": ["mac"]}]},  # a value that is not a scalar
    {"os": ["linux"], "exclude": [{}]},  # an empty entry
    {"os": ["linux"], "include": [{"bad-name": 1}]},
    {"bad-name": ["linux"]},
    {"os": "linux"},  # a variable takes a list
])
def test_schema_rejects_malformed_matrices(matrix: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"steps": {"a": {"run": "x", "matrix": matrix}}}, json_schema())
