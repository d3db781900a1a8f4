"""A concrete step instance (no pydantic here: the engine and a cached plan use it)."""

from __future__ import annotations

from flowrun.records import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["StepInstance"]


@record(frozen=True)
class StepInstance:
    """One concrete step: a plain step, or one combination of a matrix step.

    ``step`` is a validated ``spec.Step``, or a ``spec.runtime.RunStep`` read back
    from the plan cache: the engine reads the same attributes of either.
    """

    name: str
    base: str
    step: Any
    matrix: dict[str, str] = field(default_factory=dict)
