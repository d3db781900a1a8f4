"""The annotated field types of the workflow models: durations, signals, text as spelled, booleans.

Scalars arrive from ``flowrun.load`` as YAML 1.2 resolved them; values that end
up in a process environment keep the spelling of the file (``1.10``, ``true``).
"""

from __future__ import annotations

import signal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Strict, StringConstraints, WithJsonSchema

from flowrun.durations import DURATION_PATTERN, parse_duration
from flowrun.spec.scalars import SpelledBool
from flowrun.spec.words import unknown_word

__all__ = [
    "DURATION_SCHEMA",
    "ENV_NAME_PATTERN",
    "STEP_NAME_PATTERN",
    "ArgText",
    "Bool",
    "Duration",
    "EnvMap",
    "EnvValue",
    "Globs",
    "MatrixValue",
    "SignalNumber",
    "StepName",
    "Text",
    "Timeout",
    "argv_list",
    "distinct_values",
    "scalar_text",
]

STEP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ENV_NAME_PATTERN = r"^[^=\x00]+$"


def scalar_text(value: object) -> str:
    """A scalar as the file spelled it: ``true``, ``1.10``, ``3``; text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    spelled = getattr(value, "text", None)
    if isinstance(spelled, str):
        return spelled
    if isinstance(value, int | float):
        return str(value)
    raise ValueError("expected a string, number or boolean")


def _duration(value: object) -> float:
    return parse_duration(value)


def _signal(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a signal name such as SIGTERM")
    if isinstance(value, int):
        if value in {s.value for s in signal.Signals}:
            return int(value)
        raise ValueError(f"unknown signal number {value}")
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            return int(signal.Signals[name])
        except KeyError:
            raise unknown_word("signal", value, [s.name for s in signal.Signals]) from None
    raise ValueError("expected a signal name such as SIGTERM")


def _plain_text(value: object) -> object:
    """Commands and names are text; a number or boolean written there is taken as spelled."""
    if isinstance(value, int | float | SpelledBool):  # bool included: `run: true` runs `true`
        return scalar_text(value)
    return value


def _no_nul(text: str) -> str:
    """A NUL cannot reach a process (argv, environment, paths end at it): say so while loading."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be passed to a process")
    return text


def _plain_bool(value: object) -> object:
    return value.value if isinstance(value, SpelledBool) else value


DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": DURATION_PATTERN},
        {"type": "number", "minimum": 0},
    ],
    "description": "500ms, 30s, 5m, 1h, 1h30m, or a number of seconds",
}
Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(DURATION_SCHEMA)]


def _some_time(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("a timeout of 0 would stop it at once; leave timeout out for none")
    return seconds


Timeout = Annotated[float, BeforeValidator(_duration), AfterValidator(_some_time), WithJsonSchema(DURATION_SCHEMA)]
SignalNumber = Annotated[
    int,
    BeforeValidator(_signal),
    WithJsonSchema({"type": ["string", "integer"], "description": "SIGTERM, SIGINT, ... or a number"}),
]
EnvValue = Annotated[
    str,
    BeforeValidator(scalar_text),
    AfterValidator(_no_nul),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
Text = Annotated[str, BeforeValidator(_plain_text), AfterValidator(_no_nul)]
#: an argv item: `cmd: [seq, 1, 10]` is fine, numbers are taken as spelled
ArgText = Annotated[str, BeforeValidator(_plain_text), AfterValidator(_no_nul),
                    WithJsonSchema({"type": ["string", "number", "boolean"]})]
StepName = Annotated[str, StringConstraints(pattern=STEP_NAME_PATTERN, max_length=100)]
#: YAML 1.2: only true/false (True, TRUE, ...) are booleans; pydantic's lax mode would take "yes"
Bool = Annotated[bool, BeforeValidator(_plain_bool), Strict()]
EnvMap = dict[Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)], EnvValue]


MatrixValue = Annotated[str, BeforeValidator(scalar_text), AfterValidator(_no_nul),
                        WithJsonSchema({"type": ["string", "number", "boolean"]})]


def distinct_values(values: list[str]) -> list[str]:
    """Each value makes an instance named after it: two equal values would be one name twice."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"the value {value!r} is listed twice (each value names one instance)")
        seen.add(value)
    return values




def _globs(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _glob(pattern: str) -> str:
    if not pattern.strip():
        raise ValueError("an empty glob matches nothing")
    return pattern


#: ``sources:`` / ``outputs:`` (SPEC §10): a glob or a list of them, relative to the workflow's folder
Globs = Annotated[
    list[Annotated[Text, AfterValidator(_glob)]],
    BeforeValidator(_globs),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "globs relative to the workflow's folder; ** spans folders"}),
]


def argv_list(value: object) -> object:
    """``cmd:`` (of a step or a probe) is an argv list: a string there is a shell line, said plainly."""
    if isinstance(value, str):
        raise ValueError(f"cmd takes an argv list such as {value.split()!r}; use run: for a shell command line")
    return value
