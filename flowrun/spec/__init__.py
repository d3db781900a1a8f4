"""The workflow file format as pydantic models (SPEC §1); imports no other layer.

The models load on first use: ``Condition`` and ``StepInstance`` (what a plan
read back from the cache needs) come without pydantic.
"""

from __future__ import annotations

from flowrun.spec.conditions import Condition
from flowrun.spec.instance import StepInstance

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from flowrun.spec.model import (
        STEP_NAME_PATTERN,
        Defaults,
        FileInput,
        FileOutput,
        Locator,
        Ready,
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
    "Ready",
    "Retry",
    "Step",
    "StepInstance",
    "TextInput",
    "Workflow",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flowrun.spec import model

        return getattr(model, name)
    raise AttributeError(f"module 'flowrun.spec' has no attribute {name!r}")
