"""``params:`` (SPEC §9): the workflow's parameters, as a pydantic model.

A parameter is written in full, ``{default, required, choices, description}``,
or short, as its default alone (``dry_run: "false"``). Defaults and choices are
strings, numbers or booleans, kept as the file spelled them (SPEC §6). Giving
values for a run (``-p NAME=VALUE``) is ``flowrun.spec.bindings``, which needs
no pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails

from flowrun.spec.fields import Bool, EnvValue, Text
from flowrun.spec.words import problem

__all__ = ["PARAM_NAME_PATTERN", "Param", "ParamName", "Params"]

PARAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Param(BaseModel):
    """One parameter: its default, whether a run must give it, the values it may take, one line for humans.

    Without a default and not required, a parameter a run does not give is the empty string.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EnvValue | None = None
    required: Bool = False
    choices: list[EnvValue] | None = Field(None, min_length=1)
    description: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        """What one field alone cannot show: a required default, a default outside the choices, a choice twice."""
        problems: list[InitErrorDetails] = []

        def add(loc: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
            problems.append(InitErrorDetails(type=problem(message, hint), loc=loc, input=None))

        if self.required and self.default is not None:
            add(("required",), "a required parameter has no default: a run must give it, so a default "
                "would never be used", "drop required: true, or drop the default")
        seen: set[str] = set()
        for i, choice in enumerate(self.choices or ()):
            if choice in seen:
                add(("choices", i), f"the choice {choice!r} is listed twice")
            seen.add(choice)
        if self.choices is not None:
            listed = ", ".join(repr(c) for c in dict.fromkeys(self.choices))
            if self.default is not None and self.default not in self.choices:
                add(("default",), f"the default {self.default!r} is not one of the choices", f"expected {listed}")
            elif self.default is None and not self.required:
                add(("choices",), "a parameter with choices needs a default or required: true "
                    "(a run that does not give it would pass the empty string)",
                    f"add default: {self.choices[0]}, or required: true")
        if problems:
            raise ValidationError.from_exception_data("Param", problems)
        return self


def _short_form(value: object) -> object:
    """``NAME: VALUE`` is ``NAME: {default: VALUE}``; ``NAME:`` alone is a parameter with no default."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        raise ValueError("a parameter is its default (text, a number or a boolean) "
                         "or a mapping {default, required, choices, description}")
    return {"default": value}


ParamName = Annotated[str, StringConstraints(pattern=PARAM_NAME_PATTERN)]
_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}
_PARAM_SCHEMA: dict[str, Any] = {"anyOf": [
    {**_SCALAR, "description": "the default"},
    {"type": "null"},
    {"type": "object", "additionalProperties": False, "properties": {
        "default": _SCALAR,
        "required": {"type": "boolean"},
        "choices": {"type": "array", "items": _SCALAR, "minItems": 1},
        "description": {"type": "string"},
    }},
]}
_ParamSpec = Annotated[Param, BeforeValidator(_short_form)]
#: the ``params:`` mapping
Params = Annotated[dict[ParamName, _ParamSpec], WithJsonSchema({
    "type": "object", "patternProperties": {PARAM_NAME_PATTERN: _PARAM_SCHEMA}, "additionalProperties": False,
})]
