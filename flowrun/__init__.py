"""flowrun: run workflows of parallel steps declared in YAML.

``load(path) -> Workflow`` and ``run(workflow, **options) -> RunResult`` are the
same engine the ``flowrun`` command uses.
"""

from flowrun.engine import RunResult, StepResult, run
from flowrun.errors import FlowrunError, UsageError, WorkflowError, WorkflowNotFound
from flowrun.events import StepStatus
from flowrun.load import load, load_text
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
