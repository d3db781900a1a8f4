"""Turn pydantic errors into located diagnostics with did-you-mean hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from flowrun.errors import Diagnostic
from flowrun.load.sourcemap import Path, SourceMap
from flowrun.spec import Defaults, FileInput, FileOutput, Retry, Step, TextInput, Workflow

__all__ = ["did_you_mean", "from_validation_error"]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'x'?`` for the closest choice, if one is close enough."""
    match = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(path: Path) -> list[type[BaseModel]]:
    """Which models can sit at ``path`` (for suggesting field names)."""
    if not path:
        return [Workflow]
    if path == ("defaults",):
        return [Defaults]
    if len(path) == 2 and path[0] == "steps":
        return [Step]
    if len(path) >= 3 and path[0] in ("steps", "defaults"):
        last = path[-1]
        if last == "retry":
            return [Retry]
        if last in ("stdout", "stderr"):
            return [FileOutput]
        if last == "stdin":
            return [FileInput, TextInput]
    return []


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def from_validation_error(exc: ValidationError, smap: SourceMap) -> list[Diagnostic]:
    """One Diagnostic per pydantic error, pointing at the offending key or value."""
    errors = exc.errors(include_url=False)
    # a misspelt field also shows up as a missing one: report only the misspelling
    misspelt = {
        (tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"
    }
    out: list[Diagnostic] = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" and any(
            parent == loc[:-1] and did_you_mean(key, [str(loc[-1])]) for parent, key in misspelt
        ):
            continue
        out.append(_one(error, smap))
    return out


def _one(error: Any, smap: SourceMap) -> Diagnostic:
    loc: Path = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        path = loc[:-1]
        key = str(path[-1]) if path else ""
        what = "step name" if len(path) == 2 and path[0] == "steps" else "key"
        detail = _clean(error["msg"])
        if what == "step name":
            detail = "use letters, digits, '_', '.', '-', starting with a letter or digit, at most 100 characters"
        return Diagnostic(smap.key(path), f"invalid {what} {key!r}: {detail}")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        choices = [f for model in _model_at(parent) for f in _fields(model)]
        where = f" in {_dotted(parent)}" if parent else ""
        return Diagnostic(smap.key(loc), f"unknown field {key!r}{where}", did_you_mean(key, choices))
    if kind == "missing":
        parent = loc[:-1]
        where = _dotted(parent) or "the workflow"
        return Diagnostic(smap.key(parent), f"missing field {loc[-1]!r} in {where}")
    position = smap.value(loc) if smap.has(loc) else smap.key(loc)
    message = _clean(error["msg"])
    if kind == "too_short" and loc == ("steps",):
        message = "a workflow needs at least one step"
    elif kind in ("dict_type", "model_type") and loc == ():
        message = "a workflow file must be a mapping with a 'steps:' key"
    return Diagnostic(position, f"{_dotted(loc)}: {message}" if loc else message)
