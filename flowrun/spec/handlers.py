"""``handlers:`` (SPEC §9): ``on_success``, ``on_failure`` and ``finally``, steps run once all others have ended."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from flowrun.errors import Diagnostic, WorkflowError
from flowrun.spec.instance import StepInstance
from flowrun.spec.model import Step, _Model

__all__ = ["DEFAULT_HANDLER_TIMEOUT", "HANDLER_NAMES", "Handler", "Handlers", "handler_instances"]

#: in the order they may run: one of the first two, then ``finally``
HANDLER_NAMES = ("on_success", "on_failure", "finally")
#: a handler's timeout when neither it nor ``defaults:`` sets one (the workflow deadline does not bound it)
DEFAULT_HANDLER_TIMEOUT = 600.0

_WHY_NOT = {
    "depends_on": "it runs after every other step",
    "stdin": "it is joined to no pipe",
    "matrix": "it runs once",
    "service": "it runs once the services are no longer needed by any step",
    "ready": "it is not a service",
}


class Handler(Step):
    """A step of ``handlers:``: any step field but ``depends_on``, ``stdin``, ``matrix`` and ``service``."""

    @field_validator(*_WHY_NOT, mode="before")
    @classmethod
    def _not_for_a_handler(cls, value: Any, info: ValidationInfo) -> Any:
        raise ValueError(f"a handler has no {info.field_name}: {_WHY_NOT[str(info.field_name)]}")


class Handlers(_Model):
    on_success: Handler | None = None
    on_failure: Handler | None = None
    finally_: Handler | None = Field(None, alias="finally")

    def declared(self) -> dict[str, Handler]:
        """The handlers the file sets, by name, in the order they may run."""
        found = {"on_success": self.on_success, "on_failure": self.on_failure, "finally": self.finally_}
        return {name: h for name, h in found.items() if h is not None}


def handler_instances(workflow: Any) -> list[StepInstance]:
    """The handlers as step instances, ``defaults:`` applied (timeout: theirs, else the defaults', else 10m).

    Raises WorkflowError when a step has a handler's name: the two would share a name in every report.
    """
    from flowrun.spec.expand import apply_defaults

    declared = workflow.handlers.declared() if workflow.handlers is not None else {}
    clashes = [name for name in declared if name in workflow.steps]
    if clashes:
        raise WorkflowError([
            Diagnostic(workflow.source.key(("steps", name)),
                       f"step {name!r} has the name of a handler this file defines",
                       "rename the step: reports name the handler after its kind") for name in clashes])
    out = []
    for name, handler in declared.items():
        step = apply_defaults(handler, workflow.defaults)
        if step.timeout is None:
            step = step.model_copy(update={"timeout": DEFAULT_HANDLER_TIMEOUT})
        out.append(StepInstance(name, name, step))
    return out
