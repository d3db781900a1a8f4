"""The values a run gives the declared parameters (SPEC §9): ``-p NAME=VALUE`` over the defaults, checked.

Pure and without pydantic: a run read back from the plan cache resolves its
parameters too. Every mistake is a ``UsageError`` (exit 2) of one line, raised
before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flowrun.errors import UsageError, did_you_mean
from flowrun.spec.addresses import check_address
from flowrun.spec.expressions import has_expression, parse, render

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_addresses", "parse_assignments", "resolve_params"]


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["channel=beta", "x=a=b"]`` → ``{"channel": "beta", "x": "a=b"}``; a later NAME=VALUE wins."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")  # the first '=': a value may hold more
        if not eq or not name.strip():
            raise UsageError(f"-p/--param takes NAME=VALUE, got {item!r}")
        if name != name.strip():
            raise UsageError(f"-p/--param takes NAME=VALUE without spaces around the name, got {item!r}")
        out[name] = value
    return out


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def resolve_params(declared: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every declared parameter's value: ``given`` over its default ('' for an optional one without).

    ``declared`` maps names to ``spec.params.Param`` or ``spec.runtime.RunParam``.
    Raises UsageError for an unknown name, missing required parameters (all of
    them, in one line) or a value outside a parameter's choices.
    """
    unknown = [name for name in given if name not in declared]
    if unknown:
        if not declared:
            raise UsageError(f"unknown parameter {unknown[0]!r}: this workflow declares no params")
        if len(unknown) == 1:
            hint = did_you_mean(unknown[0], declared)
            raise UsageError(f"unknown parameter {unknown[0]!r}" + (f" — {hint}" if hint else
                                                                  f" (known: {_quoted(declared)})"))
        raise UsageError(f"unknown parameters {_quoted(unknown)} (known: {_quoted(declared)})")
    missing = [name for name, param in declared.items() if param.required and name not in given]
    if missing:
        how = " ".join(f"-p {name}=VALUE" for name in missing)
        noun = "parameter" if len(missing) == 1 else "parameters"
        raise UsageError(f"missing required {noun} {_quoted(missing)} (give {how})")
    values: dict[str, str] = {}
    for name, param in declared.items():
        value = given.get(name)
        if value is None:
            value = param.default if param.default is not None else ""
        elif not isinstance(value, str):
            raise UsageError(f"parameter {name!r} takes text, got {type(value).__name__} {value!r}")
        if "\x00" in value:
            raise UsageError(f"parameter {name!r} holds a NUL character, which no process can be given")
        if param.choices is not None and value not in param.choices:
            hint = did_you_mean(value, param.choices)
            raise UsageError(f"parameter {name!r} is {value!r}, not one of its choices {_quoted(param.choices)}"
                             + (f" — {hint}" if hint else ""))
        values[name] = value
    return values


def check_addresses(steps: Mapping[str, Any], values: Mapping[str, str]) -> None:
    """Raise UsageError if a ``ready:`` address that reads ``${{ params.N }}`` is no address with ``values``.

    ``steps`` maps names to steps (``spec.Step`` or ``spec.runtime.RunStep``);
    the load already checked that only declared parameters are read.
    """
    for name, step in steps.items():
        ready = getattr(step, "ready", None)
        if ready is None:
            continue
        for kind in ("tcp", "http"):
            address = getattr(ready, kind)
            if address is None or not has_expression(address):
                continue
            rendered = render(parse(address), values, _no_output)
            try:
                check_address(kind, rendered)
            except ValueError as exc:
                raise UsageError(f"step {name!r}: ready.{kind} {address!r} is {rendered!r} with these "
                                 f"parameters: {exc}") from None


def _no_output(step: str, name: str) -> str:  # pragma: no cover - the load refuses outputs in addresses
    raise UsageError(f"a probe address cannot read the output {name!r} of {step!r}")
