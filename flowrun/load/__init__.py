"""Read a workflow file: find it, parse it safely, validate it, plan it.

yaml and pydantic exceptions never leave this package: every problem becomes a
``Diagnostic`` inside a ``WorkflowError``. The parser and the models load on the
first ``load``; finding the file and reading a cached plan (``load.cache``) do not
need them.
"""

from __future__ import annotations

import os

from flowrun.load.find import DEFAULT_FILES, MAX_FILE_BYTES, find_workflow

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.graph import Plan
    from flowrun.spec.model import Workflow

__all__ = ["DEFAULT_FILES", "MAX_FILE_BYTES", "find_workflow", "load", "load_text", "plan_of"]


def load(path: str | os.PathLike[str] | None = None) -> Workflow:
    """Load, validate and plan a workflow file; raise WorkflowError listing every problem."""
    from flowrun.load.reader import load

    return load(path)


def load_text(data: bytes | str, file: str = "<string>") -> Workflow:
    """Like ``load`` for a document in memory; ``file`` names it in errors and anchors paths."""
    from flowrun.load.reader import load_text

    return load_text(data, file)


def plan_of(workflow: Workflow) -> Plan:
    """The workflow's plan (built on load; built now for a workflow made in memory)."""
    from flowrun.graph import plan_for

    return plan_for(workflow)
