"""flowrun: run workflows of parallel steps declared in YAML.

``load(path) -> Workflow`` and ``run(workflow, **options) -> RunResult`` are the
same engine the ``flowrun`` command uses.
"""

from __future__ import annotations

from flowrun.errors import FlowrunError, UsageError, WorkflowError, WorkflowNotFound
from flowrun.events import StepStatus
from flowrun.load import load, load_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from flowrun.engine import RunResult, StepResult, run
    from flowrun.spec import Step, Workflow

__all__ = [
    "FlowrunError",
    "RunResult",
    "Step",
    "StepResult",
    "StepStatus",
    "UsageError",
    "Workflow",
    "WorkflowError",
    "WorkflowNotFound",
    "load",
    "load_text",
    "run",
]


def __getattr__(name: str) -> Any:
    """Each part loads on first use: `flowrun validate` never pays for the engine (asyncio,
    processes), and `flowrun up` of a cached plan never pays for the loader (yaml, pydantic)."""
    if name in ("RunResult", "StepResult", "run"):
        import flowrun.engine

        return getattr(flowrun.engine, name)
    if name in ("Step", "Workflow"):
        import flowrun.spec

        return getattr(flowrun.spec, name)
    raise AttributeError(f"module 'flowrun' has no attribute {name!r}")
