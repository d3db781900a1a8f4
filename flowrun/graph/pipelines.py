"""Pipe-connected steps grouped into pipelines, in topological order; dependency cycles, worded.

``forward_pipelines`` handles a file written in dependency order without
networkx; the rest imports it only when called.
"""

from __future__ import annotations

import heapq

from flowrun.errors import Diagnostic, Position
from flowrun.graph.plan import Edge
from flowrun.spec.instance import StepInstance

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:  # the pydantic models load with the file, not with a cached plan
    import networkx as nx

    from flowrun.spec.model import Workflow

__all__ = ["check_cycles", "dep_path", "forward_pipelines", "group_pipelines"]


def dep_path(inst: StepInstance, dep: str) -> tuple[str | int, ...]:
    """The source-map path of ``inst``'s depends_on entry for ``dep``."""
    step = inst.step
    if step.depends_form == "list":
        return ("steps", inst.base, "depends_on", list(step.depends_on).index(dep))
    return ("steps", inst.base, "depends_on", dep)


def forward_pipelines(
    instances: list[StepInstance], edges: list[Edge], index: dict[str, int]
) -> list[tuple[str, ...]] | None:
    """``group_pipelines`` for a plan whose every edge points forward in the file; None if it has a problem.

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
    path = dep_path(inst_v, inst_u.base)
    return src.value(path) if inst_v.step.depends_form == "list" else src.key(path)


def check_cycles(g: nx.DiGraph, workflow: Workflow, instances: list[StepInstance]) -> list[Diagnostic]:
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


def group_pipelines(g: nx.DiGraph, workflow: Workflow) -> tuple[list[tuple[str, ...]], list[Diagnostic]]:
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
