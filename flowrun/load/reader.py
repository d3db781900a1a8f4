"""Read a workflow file: parse it safely, validate it, plan it.

yaml and pydantic exceptions never leave this package: every problem becomes a
``Diagnostic`` inside a ``WorkflowError``.
"""

from __future__ import annotations

import gc
import os

from pydantic import ValidationError

from flowrun.errors import Diagnostic, Position, WorkflowError
from flowrun.graph import plan_for
from flowrun.load.diagnose import from_validation_error
from flowrun.load.dotenv import parse_dotenv
from flowrun.load.find import MAX_FILE_BYTES, find_workflow, read_workflow
from flowrun.load.sourcemap import SourceMap
from flowrun.load.yamlnodes import YamlProblem, read_yaml
from flowrun.spec import Workflow

__all__ = ["load", "load_text"]

def load(path: str | os.PathLike[str] | None = None) -> Workflow:
    """Load, validate and plan a workflow file; raise WorkflowError listing every problem."""
    file = find_workflow(path)
    return load_text(read_workflow(file), file)


def load_text(data: bytes | str, file: str = "<string>") -> Workflow:
    """Like ``load`` for a document in memory; ``file`` names it in errors and anchors paths."""
    # Loading allocates many small objects that all stay alive: the cyclic GC
    # would rescan them again and again for nothing (a third of a 10k-step load).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_text(data, file)
    finally:
        if enabled:
            gc.enable()


def _load_text(data: bytes | str, file: str) -> Workflow:
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowError([Diagnostic(Position(file), "document is larger than 16 MiB")])
    try:
        document, smap = read_yaml(raw, file)
    except YamlProblem as problem:
        raise WorkflowError(list(problem.diagnostics)) from None
    if not isinstance(document, dict):
        what = "empty" if document is None else f"a {_kind(document)}"
        message = f"a workflow file must be a mapping with a 'steps:' key, this one is {what}"
        raise WorkflowError([Diagnostic(smap.value(()), message)])
    try:
        workflow = Workflow.model_validate(document)
    except ValidationError as exc:
        raise WorkflowError(from_validation_error(exc, smap)) from None
    dotenv, problems = _read_dotenv(workflow, file, smap)
    if problems:
        raise WorkflowError(problems)
    workflow.attach(path=file, source=smap, dotenv=dotenv)
    workflow._plan = plan_for(workflow)
    return workflow


def _kind(value: object) -> str:
    return {list: "list", str: "text"}.get(type(value), "scalar")


def _read_dotenv(workflow: Workflow, file: str, smap: SourceMap) -> tuple[dict[str, str], list[Diagnostic]]:
    base = os.path.dirname(os.path.abspath(file))
    values: dict[str, str] = {}
    problems: list[Diagnostic] = []
    def where_of(i: int) -> Position:  # positions are looked up only for a problem
        single = smap.has(("dotenv",)) and not smap.has(("dotenv", 0))
        return smap.value(("dotenv",) if single else ("dotenv", i))

    for i, name in enumerate(workflow.dotenv):
        path = os.path.join(base, name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_FILE_BYTES)
        except FileNotFoundError:
            problems.append(Diagnostic(where_of(i), f"dotenv file not found: {name}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Diagnostic(where_of(i), f"cannot read dotenv file {name}: {exc}"))
            continue
        parsed, bad = parse_dotenv(text, os.path.relpath(path) if not os.path.isabs(name) else path)
        values.update(parsed)
        problems.extend(bad)
    return values, problems
