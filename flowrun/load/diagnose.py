"""Turn pydantic errors into located diagnostics with did-you-mean hints."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from flowrun.errors import Diagnostic, did_you_mean, one_of
from flowrun.load.sourcemap import Path, SourceMap
from flowrun.spec import Defaults, FileInput, FileOutput, Ready, Retry, Step, TextInput, Workflow
from flowrun.spec.words import PROBLEM, UNKNOWN_WORD

__all__ = ["did_you_mean", "from_validation_error"]


#: what the word of a closed set is called, by the field that holds it
_WORD_NOUNS = {"depends_on": "condition", "shell": "shell", "version": "version"}


def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(path: Path) -> list[type[BaseModel]]:
    """Which models can sit at ``path`` (for suggesting field names)."""
    if not path:
        return [Workflow]
    if path == ("defaults",):
        return [Defaults]
    if len(path) == 2 and path[0] == "params":
        from flowrun.spec.params import Param

        return [Param]
    if len(path) == 2 and path[0] in ("steps", "handlers"):
        return [Step]
    if path == ("handlers",):
        from flowrun.spec.handlers import Handlers

        return [Handlers]
    if len(path) >= 3 and path[0] in ("steps", "defaults", "handlers"):
        last = path[-1]
        if last == "retry":
            return [Retry]
        if last == "ready":
            return [Ready]
        if last in ("stdout", "stderr"):
            return [FileOutput]
        if last == "stdin":
            return [FileInput, TextInput]
    return []


def _dotted(path: Path) -> str:
    """``steps.build.depends_on.test``; a key with a line break or control character is quoted (one line per error)."""
    return ".".join(repr(p) if isinstance(p, str) and not p.isprintable() else str(p) for p in path)


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
        elif path[:1] == ("params",) and len(path) == 2:
            what, detail = "parameter name", "use letters, digits and '_', not starting with a digit"
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
    ctx = error.get("ctx") or {}
    position = smap.key(loc) if ctx.get("at_key") or not smap.has(loc) else smap.value(loc)
    if kind == PROBLEM:
        return Diagnostic(position, ctx["message"], ctx["hint"])
    if kind in ("enum", "literal_error", UNKNOWN_WORD):
        return _unknown_word(error, loc, position)
    message = _clean(error["msg"])
    if kind == "too_short" and loc == ("steps",):
        message = "a workflow needs at least one step"
    elif kind in ("dict_type", "model_type") and loc == ():
        message = "a workflow file must be a mapping with a 'steps:' key"
    return Diagnostic(position, f"{_dotted(loc)}: {message}" if loc else message)


def _unknown_word(error: Any, loc: Path, position: Any) -> Diagnostic:
    """A word outside a closed set (a condition, a shell): like an unknown field, with a did-you-mean."""
    ctx = error.get("ctx") or {}
    word = error.get("input")
    text = word if isinstance(word, str) else str(getattr(word, "text", word))
    if error["type"] == UNKNOWN_WORD:
        noun, choices, also = ctx["noun"], ctx["choices"], ctx["also"]
    else:
        expected = str(ctx.get("expected", ""))
        choices, also = re.findall(r"'([^']*)'", expected) or [expected], ""
        noun = next((_WORD_NOUNS[p] for p in reversed(loc) if isinstance(p, str) and p in _WORD_NOUNS), "value")
    hint = one_of(text.upper() if noun == "signal" else text, choices)
    if also and hint.startswith("expected"):
        hint += f" {also}"
    return Diagnostic(position, f"unknown {noun} {text!r} in {_dotted(loc)}", hint)
