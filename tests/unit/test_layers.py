"""Imports inside flowrun/ point down the layers only (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "flowrun"

LEAVES = {"errors", "durations", "events", "records"}
#: layer → the flowrun layers it may import
ALLOWED: dict[str, set[str]] = {
    "records": set(),  # @record, the data classes' decorator: below every layer
    "errors": {"records"},
    "durations": {"records"},
    "events": {"records"},
    "spec": {"errors", "durations", "records"},
    "graph": {"spec", *LEAVES},
    "load": {"spec", "graph", *LEAVES},
    "process": set(LEAVES),
    "report": {"graph", "spec", *LEAVES},
    "render": {"graph", "spec", *LEAVES},
    "engine": {"process", "report", "graph", "spec", *LEAVES},
    "commandline": {"errors"},
    "completion": {"load", "graph", "spec", *LEAVES},
    "cli": {"commandline", "completion", "engine", "load", "graph", "spec", "report", "render", "process", *LEAVES},
    "__init__": {"engine", "load", "graph", "spec", "report", "process", *LEAVES},
    "__main__": {"cli"},
}
THIRD_PARTY = {"yaml", "pydantic", "pydantic_core", "networkx", "rich"}
#: the dask extra (SPEC §11): imported by the dask executor's two modules and nowhere else
DASK = {"distributed", "dask"}
DASK_MODULES = {PACKAGE / "process" / "dask_executor.py", PACKAGE / "process" / "dask_worker.py"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_layers_import_downwards_only() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        layer = layer_of(path)
        for name in imports(path):
            top = name.split(".")[0]
            if top == "flowrun":
                parts = name.split(".")
                target = parts[1] if len(parts) > 1 else "__init__"
                if target != layer and target not in ALLOWED[layer]:
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name}")
            elif top in THIRD_PARTY and layer in ("spec",) and top == "rich":
                problems.append(f"{path.relative_to(PACKAGE)} imports rich")
    assert not problems, "\n".join(problems)


def test_no_dependency_beyond_the_four() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in PACKAGE.rglob("*.py"):
        for name in imports(path):
            top = name.split(".")[0]
            if top in DASK:
                assert path in DASK_MODULES, f"{path}: {name} (only the dask executor's modules import it)"
                continue
            assert top in stdlib or top in THIRD_PARTY or top == "flowrun", f"{path}: {name}"


def test_yaml_and_pydantic_stay_in_spec_and_load() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer = layer_of(path)
        for name in imports(path):
            top = name.split(".")[0]
            if top == "yaml":
                assert layer == "load", path
            if top in ("pydantic", "pydantic_core"):
                assert layer in ("spec", "load"), path
