"""Apply ``defaults:`` and expand ``matrix`` into concrete step instances (pure)."""

from __future__ import annotations

from flowrun.spec.instance import StepInstance
from flowrun.spec.matrix import label
from flowrun.spec.model import Defaults, Step, Workflow

__all__ = ["StepInstance", "apply_defaults", "expand", "instance_name"]

_DEFAULTABLE = ("shell", "workdir", "timeout", "kill_signal", "kill_grace", "retry", "continue_on_error")


def instance_name(base: str, values: dict[str, str]) -> str:
    """``build[os=linux,py=3.11]``: the matrix's own variables first, then those an ``include`` added."""
    if not values:
        return base
    return f"{base}[{label(values)}]"


def apply_defaults(step: Step, defaults: Defaults) -> Step:
    """Fill the fields a step left unset from ``defaults:``; env is merged under the step's."""
    update: dict[str, object] = {}
    for name in _DEFAULTABLE:
        if getattr(step, name) is None and getattr(defaults, name) is not None:
            update[name] = getattr(defaults, name)
    if defaults.env:
        update["env"] = {**defaults.env, **step.env}
    if not update:
        return step
    copy = step.model_copy(update=update)
    copy._depends_form = step.depends_form
    return copy


def expand(workflow: Workflow) -> list[StepInstance]:
    """Every concrete step instance, in file order."""
    out: list[StepInstance] = []
    for base, raw in workflow.steps.items():
        step = apply_defaults(raw, workflow.defaults)
        if not step.matrix.combinations:
            out.append(StepInstance(base, base, step))
            continue
        # a variable a combination lacks is left out: the instance's environment does not have it
        out.extend(StepInstance(instance_name(base, values), base, step, dict(values))
                   for values in step.matrix.combinations)
    return out
