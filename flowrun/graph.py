"""The workflow as a networkx DiGraph: dependency and pipe edges, checks, pipelines.

Nodes are step instance names. An edge ``u -> v`` means v waits for u
(``kind="dep"``, with a ``condition``) or v reads u's stdout (``kind="pipe"``).
Steps joined by pipes form a *pipeline*: the unit the scheduler starts.

networkx is imported only when it has work to do (a possible cycle, a problem
to explain, a graph to draw): a file written in dependency order is checked in
one pass over its edges, and its pipes grouped by a small union-find, so
``flowrun validate`` and ``up`` of such a file never pay networkx's import
(~0.15-0.2 s, more than flowrun's own checks).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowrun.errors import Diagnostic, Position, UsageError, WorkflowError, did_you_mean
from flowrun.spec.conditions import Condition
from flowrun.spec.instance import StepInstance

if TYPE_CHECKING:  # the pydantic models load with the file, not with a cached plan
    import networkx as nx

    from flowrun.spec.model import Locator, Workflow

__all__ = ["Edge", "Plan", "build_plan", "plan_for", "suggest"]

#: (upstream, downstream, {"kind": "dep"|"pipe", "condition": Condition})
Edge = tuple[str, str, dict[str, Any]]


def _new_graph(instances: Iterable[StepInstance], edges: Iterable[Edge]) -> nx.DiGraph:
    import networkx as nx

    g: nx.DiGraph = nx.DiGraph()
    g.add_nodes_from((inst.name, {"inst": inst, "index": i}) for i, inst in enumerate(instances))
    g.add_edges_from(edges)
    return g


suggest = did_you_mean


@dataclass
class Plan:
    """A validated, expanded workflow ready to schedule."""

    instances: dict[str, StepInstance]
    edges: list[Edge]
    #: pipelines in topological order; members producers-first
    pipelines: list[tuple[str, ...]]
    pipeline_of: dict[str, int] = field(default_factory=dict)
    _graph: nx.DiGraph | None = None

    @property
    def graph(self) -> nx.DiGraph:
        """The plan as a networkx DiGraph (built on first use)."""
        if self._graph is None:
            self._graph = _new_graph(self.instances.values(), self.edges)
        return self._graph

    def __post_init__(self) -> None:
        if not self.pipeline_of:
            self.pipeline_of = {m: i for i, group in enumerate(self.pipelines) for m in group}
        # adjacency as plain dicts: the scheduler asks these once or more per step
        self._deps: dict[str, dict[str, Condition]] = {n: {} for n in self.instances}
        self._dependents: dict[str, list[str]] = {n: [] for n in self.instances}
        self._producer: dict[str, str] = {}
        self._consumers: dict[str, list[str]] = {n: [] for n in self.instances}
        for u, v, d in self.edges:
            if d["kind"] == "dep":
                self._deps[v][u] = d["condition"]
                self._dependents[u].append(v)
            else:
                self._producer[v] = u
                self._consumers[u].append(v)

    @property
    def order(self) -> list[str]:
        return [m for group in self.pipelines for m in group]

    def dependencies(self, name: str) -> dict[str, Condition]:
        """Steps ``name`` waits for, with their conditions."""
        return self._deps[name]

    def dependents(self, name: str) -> list[str]:
        return self._dependents[name]

    def producer(self, name: str) -> str | None:
        return self._producer.get(name)

    def consumers(self, name: str) -> list[str]:
        return self._consumers[name]

    def resolve_targets(self, targets: Iterable[str]) -> set[str]:
        """Instance names for ``up STEP...`` (a matrix step's name selects all its instances)."""
        chosen: set[str] = set()
        bases: dict[str, list[str]] = {}
        for inst in self.instances.values():
            bases.setdefault(inst.base, []).append(inst.name)
        for target in targets:
            if target in self.instances:
                chosen.add(target)
            elif target in bases:
                chosen.update(bases[target])
            else:
                raise UsageError(
                    f"unknown step {target!r}" + (f" — {hint}" if (hint := suggest(target, bases)) else "")
                )
        return chosen

    def select(self, targets: Iterable[str]) -> Plan:
        """The sub-plan for ``up STEP...``: the targets, what they need, whole pipelines."""
        wanted = self.resolve_targets(targets)
        todo = list(wanted)
        keep: set[str] = set()
        while todo:
            node = todo.pop()
            if node in keep:
                continue
            keep.add(node)
            todo.extend(self._deps[node])
            todo.extend(self.pipelines[self.pipeline_of[node]])
        edges = [e for e in self.edges if e[0] in keep and e[1] in keep]
        pipelines = [group for group in self.pipelines if group[0] in keep]
        return Plan({n: inst for n, inst in self.instances.items() if n in keep}, edges, pipelines)


def _dep_path(inst: StepInstance, dep: str) -> tuple[str | int, ...]:
    step = inst.step
    if step.depends_form == "list":
        return ("steps", inst.base, "depends_on", list(step.depends_on).index(dep))
    return ("steps", inst.base, "depends_on", dep)


def _dep_position(src: Locator, inst: StepInstance, dep: str) -> Position:
    """Where ``inst`` names ``dep`` in its depends_on (the list item, or the mapping key)."""
    path = _dep_path(inst, dep)
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
    if problems:
        if not all(index[u] < index[v] for u, v, _ in edges):  # what else is wrong may be a cycle too
            problems += _check_cycles(_new_graph(instances, edges), workflow, instances)
        raise WorkflowError(problems)
    forward = all(index[u] < index[v] for u, v, _ in edges)
    piped = any(attrs is pipe_attrs for _, _, attrs in edges)
    by_name = {inst.name: inst for inst in instances}
    if forward and not piped:  # file order is a topological order, each step its own unit
        return Plan(by_name, edges, [(inst.name,) for inst in instances])
    if forward:  # pipes in a file written in order: no networkx either, unless there is a problem to explain
        pipelines = _forward_pipelines(instances, edges, index)
        if pipelines is not None:
            return Plan(by_name, edges, pipelines)
    import networkx as nx

    g = _new_graph(instances, edges)
    if not forward:  # only a file with a backward edge can hold a cycle
        plan_problems = _check_cycles(g, workflow, instances)
        if plan_problems:
            raise WorkflowError(plan_problems)
    if not piped:
        order = nx.lexicographical_topological_sort(g, key=index.__getitem__)
        return Plan(by_name, edges, [(name,) for name in order], _graph=g)
    pipelines, plan_problems = _pipelines(g, workflow)
    if plan_problems:
        raise WorkflowError(plan_problems)
    return Plan(by_name, edges, pipelines, _graph=g)


def _forward_pipelines(
    instances: list[StepInstance], edges: list[Edge], index: dict[str, int]
) -> list[tuple[str, ...]] | None:
    """``_pipelines`` for a plan whose every edge points forward in the file; None if it has a problem.

    Pipe-connected steps are grouped (union-find), members in file order (which is
    producers-first here), groups in topological order with ties in file order. A
    dependency inside a group or a cycle between groups returns None: the networkx
    path then finds and words the problem.
    """
    parent = list(range(len(instances)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for u, v, d in edges:
        if d["kind"] == "pipe":
            a, b = root(index[u]), root(index[v])
            parent[max(a, b)] = min(a, b)  # the group is named by its first step
    members: dict[int, list[str]] = {}
    for i, inst in enumerate(instances):
        members.setdefault(root(i), []).append(inst.name)
    after: dict[int, set[int]] = {g: set() for g in members}
    waiting = dict.fromkeys(members, 0)
    for u, v, d in edges:
        if d["kind"] != "dep":
            continue
        a, b = root(index[u]), root(index[v])
        if a == b:
            return None
        if b not in after[a]:
            after[a].add(b)
            waiting[b] += 1
    ready = [g for g, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    out: list[tuple[str, ...]] = []
    while ready:
        g = heapq.heappop(ready)
        out.append(tuple(members[g]))
        for h in after[g]:
            waiting[h] -= 1
            if waiting[h] == 0:
                heapq.heappush(ready, h)
    return out if len(out) == len(members) else None


def _edge_position(workflow: Workflow, g: nx.DiGraph, u: str, v: str) -> Position:
    """Where the file declares the edge u -> v (v's depends_on entry or stdin)."""
    src = workflow.source
    inst_v = g.nodes[v]["inst"]
    inst_u = g.nodes[u]["inst"]
    if g.edges[u, v]["kind"] == "pipe":
        return src.value(("steps", inst_v.base, "stdin"))
    path = _dep_path(inst_v, inst_u.base)
    return src.value(path) if inst_v.step.depends_form == "list" else src.key(path)


def _check_cycles(g: nx.DiGraph, workflow: Workflow, instances: list[StepInstance]) -> list[Diagnostic]:
    import networkx as nx

    if nx.is_directed_acyclic_graph(g):
        return []
    problems = []
    # one cycle per strongly connected part: every separate cycle is reported, none twice
    for part in nx.strongly_connected_components(g):
        if len(part) < 2:
            continue
        cycle = nx.find_cycle(g.subgraph(part))
        names = [u for u, _ in cycle]
        # start the printed path at the step written first in the file
        start = min(range(len(names)), key=lambda i: g.nodes[names[i]]["index"])
        names = names[start:] + names[:start]
        path = " -> ".join([g.nodes[n]["inst"].base for n in names] + [g.nodes[names[0]]["inst"].base])
        closing = names[-1], names[0]
        problems.append(Diagnostic(_edge_position(workflow, g, *closing), f"dependency cycle: {path}"))
    return problems


def _pipelines(g: nx.DiGraph, workflow: Workflow) -> tuple[list[tuple[str, ...]], list[Diagnostic]]:
    """Pipe-connected groups in topological order, members producers-first."""
    import networkx as nx

    pipe_graph = nx.DiGraph()
    pipe_graph.add_nodes_from(g.nodes)
    pipe_graph.add_edges_from((u, v) for u, v, d in g.edges(data=True) if d["kind"] == "pipe")
    groups = [tuple(sorted(c, key=lambda n: g.nodes[n]["index"])) for c in nx.weakly_connected_components(pipe_graph)]
    index = {m: i for i, group in enumerate(groups) for m in group}
    units = nx.DiGraph()
    units.add_nodes_from(range(len(groups)))
    problems: list[Diagnostic] = []
    for u, v, d in g.edges(data=True):
        if d["kind"] != "dep":
            continue
        if index[u] == index[v]:
            problems.append(Diagnostic(
                _edge_position(workflow, g, u, v),
                f"step {v!r} depends on {u!r}, but both run at once in the same pipeline "
                f"({' | '.join(groups[index[u]])})",
            ))
        else:
            units.add_edge(index[u], index[v])
    if problems:
        return [], problems
    if not nx.is_directed_acyclic_graph(units):
        cycle = nx.find_cycle(units)
        text = " -> ".join("[" + " | ".join(groups[a]) + "]" for a in [c[0] for c in cycle] + [cycle[0][0]])
        u, v = next((u, v) for u in groups[cycle[-1][0]] for v in groups[cycle[-1][1]] if g.has_edge(u, v))
        return [], [Diagnostic(_edge_position(workflow, g, u, v), f"dependency cycle through pipelines: {text}")]
    first = {i: g.nodes[group[0]]["index"] for i, group in enumerate(groups)}
    out: list[tuple[str, ...]] = []
    for unit in nx.lexicographical_topological_sort(units, key=first.__getitem__):
        members = groups[unit]
        out.append(members if len(members) == 1 else tuple(nx.topological_sort(pipe_graph.subgraph(members))))
    return out, []


def plan_for(workflow: Workflow) -> Plan:
    """The workflow's plan, built once and kept on the workflow."""
    if workflow._plan is None:
        workflow._plan = build_plan(workflow)
    plan: Plan = workflow._plan
    return plan
