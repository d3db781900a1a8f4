"""When a dependency is satisfied (no pydantic here: the engine imports it)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Condition"]


class Condition(StrEnum):
    """When a dependency is satisfied."""

    SUCCESS = "success"
    FAILURE = "failure"
    COMPLETED = "completed"
