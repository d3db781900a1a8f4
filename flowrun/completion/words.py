"""``flowrun __complete KIND [--file FILE]``: what the completion scripts ask, one word a line.

KIND: ``targets`` (what ``up`` takes: step names, a matrix step's own name,
no handlers), ``steps`` (what ``logs`` and ``history`` take: every instance,
handlers included, and matrix steps' own names), ``params`` (``NAME=`` for
``-p``), ``runs`` (run ids, newest first, for ``logs --run``).

A shell waits for the answer while the user waits for the shell, so this path
imports almost nothing: the names come straight from the JSON of the plan cache
(``load.cache.read_entry``; no yaml, pydantic, networkx, asyncio or rich) when it
is still valid for the file. Otherwise the file is loaded and checked once, as
``flowrun up`` does, which keeps its plan for the next time; a file that does not
load gets the names its YAML holds. Nothing is printed on any failure: a
completion never writes an error into the user's command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from flowrun.load.cache import read_entry
from flowrun.load.find import find_workflow, read_workflow

__all__ = ["KINDS", "answer", "words"]

KINDS = ("targets", "steps", "params", "runs")


def answer(arguments: Sequence[str]) -> int:
    """Print the words of ``KIND [--file FILE]`` (0), or nothing (2 for a KIND or option not known)."""
    if not arguments or arguments[0] not in KINDS:
        return 2
    file: str | None = None
    rest = list(arguments[1:])
    while rest:
        option = rest.pop(0)
        if option in ("-f", "--file") and rest:
            file = rest.pop(0)
        elif option.startswith("--file="):
            file = option.partition("=")[2]
        else:
            return 2
    try:
        found = words(arguments[0], file)
    except Exception:  # a completion offers nothing rather than an error
        found = []
    sys.stdout.write("".join(f"{word}\n" for word in found))
    return 0


def words(kind: str, file: str | None = None) -> list[str]:
    """The words of ``kind`` for the workflow file ``file`` (None: flowrun.yaml, then flowrun.yml, here)."""
    path = find_workflow(file or None)
    if kind == "runs":
        folder = os.path.join(os.path.dirname(os.path.abspath(path)), ".flowrun", "runs")
        return sorted((d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))), reverse=True)
    instances, handlers, params = _names(path)
    if kind == "params":
        return [f"{name}=" for name in params]
    out: dict[str, None] = {}
    for name, base in instances:
        if kind == "targets":
            if name not in handlers:
                out[base] = None
        else:
            out[name] = None
            out[base] = None
    return list(out)


def _names(path: str) -> tuple[list[tuple[str, str]], set[str], list[str]]:
    """(instance name, step name) in plan order, the handlers, the parameter names."""
    data = read_workflow(path)
    entry = read_entry(path, data)
    if entry is not None:
        instances = [(item["name"], item.get("base", item["name"])) for item in entry["instances"]]
        return instances, set(entry.get("handlers", ())), list(entry["workflow"]["params"])
    from flowrun.errors import WorkflowError

    try:
        from flowrun.load.cache import load_for_run

        workflow = load_for_run(path)  # checked, and its plan kept for the next question
    except WorkflowError:
        return _raw_names(path, data)
    plan = workflow._plan
    return ([(inst.name, inst.base) for inst in plan.instances.values()], set(plan.handlers),
            list(workflow.params))


def _raw_names(path: str, data: bytes) -> tuple[list[tuple[str, str]], set[str], list[str]]:
    """The names a file that does not load spells out (its YAML read safely; matrices not expanded)."""
    from flowrun.load.yamlnodes import read_yaml

    document, _ = read_yaml(data, path)

    def keys(value: Any) -> list[str]:
        return [str(k) for k in value] if isinstance(value, dict) else []

    if not isinstance(document, dict):
        return [], set(), []
    handlers = keys(document.get("handlers"))
    steps = [(name, name) for name in keys(document.get("steps")) + handlers]
    return steps, set(handlers), keys(document.get("params"))
