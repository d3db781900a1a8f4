"""The documented field tables match the models (one source of truth for the format)."""

from __future__ import annotations

import re
from pathlib import Path

from flowrun.spec import Step, Workflow

DOC = Path(__file__).resolve().parents[2] / "docs" / "format.md"


def table_fields(heading: str) -> set[str]:
    text = DOC.read_text()
    section = text.split(heading, 1)[1].split("\n\n", 2)[1]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


def model_fields(model: type) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}  # type: ignore[attr-defined]


def test_step_table_matches_model() -> None:
    assert table_fields("### Step fields") == model_fields(Step)


def test_workflow_table_matches_model() -> None:
    assert table_fields("### Workflow fields") == model_fields(Workflow)
