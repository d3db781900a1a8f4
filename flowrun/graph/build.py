"""Building the plan: expand the steps, connect them by ``depends_on`` and ``stdin``, check it all."""

from __future__ import annotations

from flowrun.errors import Diagnostic, Position, WorkflowError
from flowrun.graph.pipelines import check_cycles, dep_path, forward_pipelines, group_pipelines
from flowrun.graph.plan import Edge, Plan, new_graph, plan_for, suggest
from flowrun.graph.references import check_references
from flowrun.spec.conditions import Condition
from flowrun.spec.instance import StepInstance

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:  # the pydantic models load with the file, not with a cached plan
    from flowrun.spec.model import Locator, Workflow

__all__ = ["build_plan", "plan_for"]  # plan_for lives in plan.py; kept here for callers of old


def _dep_position(src: Locator, inst: StepInstance, dep: str) -> Position:
    """Where ``inst`` names ``dep`` in its depends_on (the list item, or the mapping key)."""
    path = dep_path(inst, dep)
    return src.value(path) if inst.step.depends_form == "list" else src.key(path)


def build_plan(workflow: Workflow) -> Plan:  # noqa: C901 - a list of checks
    """Expand, connect and check the workflow; raise WorkflowError with every problem."""
    from flowrun.spec.expand import expand

    src = workflow.source
    instances = expand(workflow)
    by_base: dict[str, list[str]] = {}
    for inst in instances:
        by_base.setdefault(inst.base, []).append(inst.name)
    problems: list[Diagnostic] = []
    index = {inst.name: i for i, inst in enumerate(instances)}
    edges: list[Edge] = []
    # attribute dicts shared per kind/condition: networkx copies them into each edge
    dep_attrs = {c: {"kind": "dep", "condition": c} for c in Condition}
    pipe_attrs = {"kind": "pipe", "condition": Condition.SUCCESS}
    seen_bases: set[str] = set()
    writes_to_file = {inst.name for inst in instances if inst.step.stdout is not None}
    workflow_steps = {inst.base: inst.step for inst in instances}
    secret = set(workflow.secrets)
    for inst in instances:
        step, base = inst.step, inst.base
        first = base not in seen_bases
        seen_bases.add(base)
        if first and secret:
            problems.extend(
                Diagnostic(src.value(("steps", base, "matrix", name)),
                           f"matrix variable {name!r} is in secrets, but its values name the step's instances "
                           f"({base}[{name}=...]) in logs and reports", "pass a secret through env instead")
                for name in step.matrix if name in secret)
        if first and step.ready is not None and not step.service:
            problems.append(Diagnostic(src.key(("steps", base, "ready")),
                                       f"step {base!r} has a ready: probe but is not a service",
                                       "add service: true, or drop ready:"))
        for dep, condition in step.depends_on.items():
            if dep not in by_base:
                if first:
                    problems.append(Diagnostic(
                        _dep_position(src, inst, dep),
                        f"step {base!r} depends on unknown step {dep!r}",
                        suggest(dep, by_base),
                    ))
                continue
            if dep == base:
                if first:
                    problems.append(Diagnostic(
                        _dep_position(src, inst, dep),
                        f"step {base!r} depends on itself",
                    ))
                continue
            attrs = dep_attrs[condition]
            edges.extend((upstream, inst.name, attrs) for upstream in by_base[dep])
        if isinstance(step.stdin, str):
            producer = step.stdin
            where = src.value(("steps", base, "stdin"))
            if producer not in by_base:
                if first:
                    problems.append(Diagnostic(where, f"step {base!r} reads stdin from unknown step {producer!r}",
                                               suggest(producer, by_base)))
            elif producer == base:
                if first:
                    problems.append(Diagnostic(where, f"step {base!r} cannot read its own stdout"))
            elif len(by_base[producer]) > 1:
                if first:
                    problems.append(Diagnostic(
                        where, f"step {base!r} reads stdin from matrix step {producer!r}, which has "
                        f"{len(by_base[producer])} instances; a pipe has one producer"))
            elif step.service or workflow_steps[producer].service:
                if first:
                    which = base if step.service else producer
                    problems.append(Diagnostic(
                        where, f"step {base!r} reads stdin from {producer!r}, but {which!r} is a service: "
                        "a service runs beside the steps that need it and cannot be joined by a pipe",
                        f"let {base!r} depend on {producer!r} instead" if not step.service else None))
            elif producer in step.depends_on:
                if first:
                    problems.append(Diagnostic(
                        _dep_position(src, inst, producer),
                        f"step {base!r} reads {producer!r} through stdin and also depends_on it: a pipe runs "
                        f"both at once, so {base!r} cannot wait for {producer!r}",
                        f"remove {producer!r} from depends_on",
                    ))
            elif by_base[producer][0] in writes_to_file:
                if first:
                    problems.append(Diagnostic(
                        src.value(("steps", producer, "stdout")),
                        f"step {producer!r} sends its stdout to a file, so {base!r} cannot read it through stdin",
                        f"drop this stdout, or let {base!r} read the file (stdin: {{file: ...}})",
                    ))
            else:
                edges.append((by_base[producer][0], inst.name, pipe_attrs))
    problems += check_references(workflow, by_base)
    problems += _source_problems(instances, edges, src)
    if problems:
        if not all(index[u] < index[v] for u, v, _ in edges):  # what else is wrong may be a cycle too
            problems += check_cycles(new_graph(instances, edges), workflow, instances)
        raise WorkflowError(problems)
    forward = all(index[u] < index[v] for u, v, _ in edges)
    piped = any(attrs is pipe_attrs for _, _, attrs in edges)
    by_name = {inst.name: inst for inst in instances}
    if forward and not piped:  # file order is a topological order, each step its own unit
        return Plan(by_name, edges, [(inst.name,) for inst in instances])
    if forward:  # pipes in a file written in order: no networkx either, unless there is a problem to explain
        pipelines = forward_pipelines(instances, edges, index)
        if pipelines is not None:
            return Plan(by_name, edges, pipelines)
    import networkx as nx

    g = new_graph(instances, edges)
    if not forward:  # only a file with a backward edge can hold a cycle
        plan_problems = check_cycles(g, workflow, instances)
        if plan_problems:
            raise WorkflowError(plan_problems)
    if not piped:
        order = nx.lexicographical_topological_sort(g, key=index.__getitem__)
        return Plan(by_name, edges, [(name,) for name in order], _graph=g)
    pipelines, plan_problems = group_pipelines(g, workflow)
    if plan_problems:
        raise WorkflowError(plan_problems)
    return Plan(by_name, edges, pipelines, _graph=g)


def _source_problems(instances: list[StepInstance], edges: list[Edge], src: Locator) -> list[Diagnostic]:
    """``sources:`` make a step skippable (SPEC §10): not a pipe's member (a stream), not a service."""
    piped = {name for u, v, d in edges if d["kind"] == "pipe" for name in (u, v)}
    problems, seen = [], set()
    for inst in instances:
        step = inst.step
        if not step.sources or inst.base in seen:
            continue
        seen.add(inst.base)
        if inst.name in piped:
            problems.append(Diagnostic(src.key(("steps", inst.base, "sources")),
                                       f"step {inst.base!r} is joined by a pipe, so it cannot have sources: "
                                       "a pipe is a stream, run whole or not at all",
                                       "give the sources to a step that depends on the pipeline"))
        elif step.service:
            problems.append(Diagnostic(src.key(("steps", inst.base, "sources")),
                                       f"service {inst.base!r} cannot have sources: its dependents need it running"))
    return problems
