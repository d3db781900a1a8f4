"""The workflow file format as pydantic models (SPEC §1); imports no other layer."""

from flowrun.spec.model import (
    STEP_NAME_PATTERN,
    Condition,
    Defaults,
    FileInput,
    FileOutput,
    Locator,
    Retry,
    Step,
    TextInput,
    Workflow,
)

__all__ = [
    "STEP_NAME_PATTERN",
    "Condition",
    "Defaults",
    "FileInput",
    "FileOutput",
    "Locator",
    "Retry",
    "Step",
    "TextInput",
    "Workflow",
]
