"""Every invalid file in tests/cases/invalid gives exactly its golden `flowrun validate` output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowrun.cli import main

CASES = Path(__file__).parent.parent / "cases" / "invalid"
FILES = sorted(p.name for p in CASES.glob("*.yaml"))


@pytest.mark.parametrize("name", FILES)
def test_invalid_file_matches_golden(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(CASES)
    code = main(["validate", "-f", name])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    golden = CASES / (name[: -len(".yaml")] + ".expected")
    if request.config.getoption("--update-goldens"):
        golden.write_text(captured.err)
    assert golden.exists(), f"no golden for {name}: run pytest --update-goldens"
    assert captured.err == golden.read_text()
    for line in captured.err.splitlines()[:-1]:
        file, line_no, column, _ = line.split(":", 3)
        assert file and int(line_no) >= 1 and int(column) >= 1


def test_every_golden_has_a_case() -> None:
    for golden in CASES.glob("*.expected"):
        assert (CASES / (golden.stem + ".yaml")).exists(), golden


def test_cases_folder_is_where_we_think() -> None:
    assert len(FILES) >= 20, os.listdir(CASES)
