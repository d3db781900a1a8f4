"""The plan cache: ``flowrun up`` of an unchanged file skips yaml and pydantic.

After a file has been validated and planned, its plan is written as JSON to
``.flowrun/cache/plan-<hash of the file's path>.json`` beside it. The next ``up``
reads it back when all of these are unchanged: the file's bytes (SHA-256), every
dotenv file it names (SHA-256), flowrun's own loading code (size and mtime of
each source file that decides a plan), and the cache file itself (its first line
holds the SHA-256 of the rest). Anything else, an unreadable, edited or foreign
cache file included, is a miss: the file is loaded and checked as
always. ``flowrun validate`` never uses the cache.

No secret's value is written (SPEC §1): dotenv values are never stored (a hit
parses the dotenv files it has just read to check their digests), and a file
whose own ``env:`` sets a variable named in ``secrets:`` is not cached at all.
"""

from __future__ import annotations

import json
import os

from flowrun.load.find import read_workflow

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:  # a plan's parts load only to build one: `read_entry` (shell completion) needs none of them
    from typing import Any

    from flowrun.graph import Plan
    from flowrun.spec.runtime import RunWorkflow

try:  # CPython's own SHA-256: hashlib would load OpenSSL, ~3 ms of every start, for a few small files
    from _sha256 import sha256 as _small_sha256
except ImportError:  # pragma: no cover - another Python (3.12 calls it _sha2)
    from hashlib import sha256 as _small_sha256

__all__ = ["CACHE_FORMAT", "cache_file", "load_for_run", "read_cached", "read_entry", "write_cache"]

CACHE_FORMAT = 8
#: data up to this size is hashed without hashlib
_SMALL = 1 << 16
#: the first line of a cache file, before the SHA-256 of the rest: a plan edited by hand is a miss
_HEADER = b"flowrun-plan "
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the sources whose change can change what a file loads into
_DECIDERS = ("spec", "load", "graph", "durations.py", "errors.py")


def _code_fingerprint() -> str:
    parts = []
    for name in _DECIDERS:
        path = os.path.join(_PACKAGE, name)
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".py")) \
            if os.path.isdir(path) else [path]
        for file in files:
            st = os.stat(file)
            parts.append(f"{os.path.relpath(file, _PACKAGE)}:{st.st_size}:{st.st_mtime_ns}")
    return _small_sha256("\n".join(parts).encode()).hexdigest()


def _digest(data: bytes) -> str:
    if len(data) > _SMALL:  # OpenSSL's is several times faster on a big file or plan
        import hashlib

        return hashlib.sha256(data).hexdigest()
    return _small_sha256(data).hexdigest()


def cache_file(workflow_file: str) -> str:
    """Where the plan of ``workflow_file`` is kept."""
    path = os.path.abspath(workflow_file)
    name = "plan-" + _small_sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16] + ".json"
    return os.path.join(os.path.dirname(path), ".flowrun", "cache", name)


def read_entry(workflow_file: str, data: bytes) -> dict[str, Any] | None:
    """The cache file of the file whose bytes are ``data`` as JSON data, if still valid (dotenv files unchecked)."""
    try:
        with open(cache_file(workflow_file), "rb") as handle:
            header, _, body = handle.read().partition(b"\n")
        if header != _HEADER + _digest(body).encode():  # written by flowrun, and not edited since
            return None
        entry = json.loads(body)
        if not isinstance(entry, dict):
            return None
        if (entry.get("format") != CACHE_FORMAT or entry.get("file") != os.path.abspath(workflow_file)
                or entry.get("digest") != _digest(data) or entry.get("code") != _code_fingerprint()):
            return None
        return entry
    except Exception:  # unreadable, or not a plan flowrun wrote: a miss
        return None


def read_cached(workflow_file: str, data: bytes) -> RunWorkflow | None:
    """The cached, still valid plan of the file whose bytes are ``data``, or None."""
    try:
        entry = read_entry(workflow_file, data)
        if entry is None:
            return None
        dotenv_values = _dotenv_values(entry["dotenv"])
        if dotenv_values is None:
            return None
        return _workflow_from(entry, workflow_file, dotenv_values)
    except Exception:  # unreadable, or not a plan flowrun wrote: a miss, and the file is loaded as always
        return None


def _dotenv_values(files: list[list[str]]) -> dict[str, str] | None:
    """The values of the dotenv files, read again; None if one changed since the plan was kept."""
    values: dict[str, str] = {}
    if not files:
        return values
    from flowrun.load.dotenv import parse_dotenv

    for path, digest in files:
        with open(path, "rb") as handle:
            raw = handle.read()
        if _digest(raw) != digest:
            return None
        values.update(parse_dotenv(raw.decode("utf-8"), path)[0])
    return values


def _workflow_from(entry: dict[str, Any], workflow_file: str, dotenv_values: dict[str, str]) -> RunWorkflow:
    from flowrun.graph import Plan
    from flowrun.spec.conditions import Condition
    from flowrun.spec.instance import StepInstance
    from flowrun.spec.runtime import RunWorkflow, executor_from_data, params_from_data, step_from_data

    w = entry["workflow"]
    instances: dict[str, StepInstance] = {}
    steps = {}
    for item in entry["instances"]:  # "base" and "matrix" are left out when they are the name and {}
        name = item["name"]
        base, matrix = item.get("base", name), item.get("matrix") or {}
        step = steps.get(base) if matrix else None
        step = step or step_from_data(item["step"])
        steps.setdefault(base, step)
        instance = object.__new__(StepInstance)  # frozen: __init__ would set each field through __setattr__
        instance.__dict__.update(name=name, base=base, step=step, matrix=matrix)
        instances[name] = instance
    attrs = {c: {"kind": "dep", "condition": c} for c in Condition}
    pipe = {"kind": "pipe", "condition": Condition.SUCCESS}
    edges = [(u, v, pipe if kind == "pipe" else attrs[Condition(kind)]) for u, v, kind in entry["edges"]]
    plan = Plan(instances, edges, [tuple(group) for group in entry["pipelines"]],
                handlers=tuple(entry.get("handlers", ())))
    base_dir = os.path.dirname(os.path.abspath(workflow_file))
    workflow = RunWorkflow(w["name"], workflow_file, base_dir, w["jobs"], w["timeout"], w["env"], dotenv_values,
                           w["secrets"], steps, params_from_data(w["params"]), executor_from_data(w.get("executor")))
    workflow._plan = plan
    return workflow


def write_cache(workflow_file: str, data: bytes, workflow: Any, plan: Plan) -> None:
    """Keep the plan of a file just loaded from ``data``; best effort, never raises."""
    from flowrun.spec.runtime import executor_data, params_data, step_data

    try:
        if _sets_a_secret(workflow, plan):
            return
        dotenv = _dotenv_digests(workflow)
        if dotenv is None:
            return
        entry = {
            "format": CACHE_FORMAT,
            "file": os.path.abspath(workflow_file),
            "digest": _digest(data),
            "code": _code_fingerprint(),
            "dotenv": dotenv,
            "workflow": {"name": workflow.name, "jobs": workflow.jobs, "timeout": workflow.timeout,
                         "env": dict(workflow.env),
                         "secrets": list(workflow.secrets), "params": params_data(workflow.params),
                         "executor": executor_data(workflow.executor)},
            "instances": [],
            "edges": [[u, v, "pipe" if d["kind"] == "pipe" else str(d["condition"])] for u, v, d in plan.edges],
            "pipelines": [list(group) for group in plan.pipelines],
            "handlers": list(plan.handlers),
        }
        written: set[int] = set()
        for inst in plan.instances.values():
            same = id(inst.step) in written  # matrix instances share their step: write it once
            item: dict[str, Any] = {"name": inst.name, "step": None if same else step_data(inst.step)}
            if inst.base != inst.name:
                item["base"] = inst.base
            if inst.matrix:
                item["matrix"] = inst.matrix
            entry["instances"].append(item)
            written.add(id(inst.step))
        path = cache_file(workflow_file)
        folder = os.path.dirname(path)
        for private in (os.path.dirname(folder), folder):  # .flowrun and its cache: the user's alone
            os.makedirs(private, mode=0o700, exist_ok=True)
            os.chmod(private, 0o700)
        body = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as handle:
            handle.write(_HEADER + _digest(body).encode() + b"\n" + body)
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError):
        return


def _sets_a_secret(workflow: Any, plan: Plan) -> bool:
    """Does the file itself give a secret its value (workflow, defaults or step env, a parameter's default)?
    Then it is not kept."""
    secrets = set(workflow.secrets)
    if not secrets:
        return False
    if any(name in secrets and param.default for name, param in workflow.params.items()):
        return True  # a parameter reaches steps as the variable of its name: its default is its value
    return bool(secrets & set(workflow.env)) or any(secrets & set(inst.step.env) for inst in plan.instances.values())


def _dotenv_digests(workflow: Any) -> list[list[str]] | None:
    """[path, SHA-256] of each dotenv file; None if one no longer holds what was loaded."""
    from flowrun.load.dotenv import parse_dotenv

    out, values = [], {}
    for name in workflow.dotenv:
        path = os.path.join(workflow.base_dir, name)
        with open(path, "rb") as handle:
            raw = handle.read()
        parsed, bad = parse_dotenv(raw.decode("utf-8"), path)
        if bad:
            return None
        values.update(parsed)
        out.append([path, _digest(raw)])
    return out if values == workflow.dotenv_values else None


def load_for_run(workflow_file: str) -> Any:
    """The workflow to run: from the cache when still valid, else loaded, checked and cached."""
    data = read_workflow(workflow_file)
    cached = read_cached(workflow_file, data)
    if cached is not None:
        return cached
    from flowrun.load.reader import load_text

    workflow = load_text(data, workflow_file)
    write_cache(workflow_file, data, workflow, workflow._plan)
    return workflow
