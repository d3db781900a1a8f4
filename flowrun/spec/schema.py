"""The JSON Schema of the workflow file, generated from the models (``flowrun schema``)."""

from __future__ import annotations

from typing import Any

from flowrun.spec.model import Workflow

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://flowrun.dev/schema/v1.json"


def json_schema() -> dict[str, Any]:
    """Draft 2020-12 schema, usable by yaml-language-server and other editors."""
    schema = Workflow.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "flowrun workflow",
    }
