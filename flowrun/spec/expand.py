"""Apply ``defaults:`` and expand ``matrix`` into concrete step instances (pure)."""

from __future__ import annotations

import itertools

from flowrun.spec.instance import StepInstance
from flowrun.spec.model import Defaults, Step, Workflow

__all__ = ["StepInstance", "apply_defaults", "expand", "instance_name"]

_DEFAULTABLE = ("shell", "workdir", "timeout", "kill_signal", "kill_grace", "retry", "continue_on_error")


def instance_name(base: str, values: dict[str, str]) -> str:
    """``build[os=linux,py=3.11]`` (matrix names in the order the file wrote them)."""
    if not values:
        return base
    return base + "[" + ",".join(f"{k}={v}" for k, v in values.items()) + "]"


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
        if not step.matrix:
            out.append(StepInstance(base, base, step))
            continue
        names = list(step.matrix)
        for combo in itertools.product(*(step.matrix[n] for n in names)):
            values = dict(zip(names, combo, strict=True))
            out.append(StepInstance(instance_name(base, values), base, step, values))
    return out
