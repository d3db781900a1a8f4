"""The plan: a checked workflow's step instances, edges and pipelines, and ``up STEP...`` selection."""

from __future__ import annotations

from collections.abc import Iterable

from flowrun.errors import UsageError, did_you_mean
from flowrun.records import field, record
from flowrun.spec.conditions import Condition
from flowrun.spec.instance import StepInstance

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    import networkx as nx

    from flowrun.spec.model import Workflow

__all__ = ["Edge", "Plan", "new_graph", "plan_for", "suggest"]

#: (upstream, downstream, {"kind": "dep"|"pipe", "condition": Condition})
Edge = tuple[str, str, "dict[str, Any]"]  # a string: typing is not imported at run time


def new_graph(instances: Iterable[StepInstance], edges: Iterable[Edge]) -> nx.DiGraph:
    """The steps and edges as a networkx DiGraph (networkx is imported here, on first use)."""
    import networkx as nx

    g: nx.DiGraph = nx.DiGraph()
    g.add_nodes_from((inst.name, {"inst": inst, "index": i}) for i, inst in enumerate(instances))
    g.add_edges_from(edges)
    return g


suggest = did_you_mean


@record
class Plan:
    """A validated, expanded workflow ready to schedule."""

    instances: dict[str, StepInstance]
    edges: list[Edge]
    #: pipelines in topological order; members producers-first
    pipelines: list[tuple[str, ...]]
    pipeline_of: dict[str, int] = field(default_factory=dict)
    _graph: nx.DiGraph | None = None
    #: the handlers (SPEC §9), in the order they may run: the last units of ``pipelines``, on no edge
    handlers: tuple[str, ...] = ()

    @property
    def graph(self) -> nx.DiGraph:
        """The plan as a networkx DiGraph (built on first use)."""
        if self._graph is None:
            self._graph = new_graph(self.instances.values(), self.edges)
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
            if target in self.handlers:
                raise UsageError(f"{target!r} is a handler: it runs after the steps of a run; name steps to run")
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
        keep.update(self.handlers)  # a run of some steps still ends with the handlers
        edges = [e for e in self.edges if e[0] in keep and e[1] in keep]
        pipelines = [group for group in self.pipelines if group[0] in keep]
        return Plan({n: inst for n, inst in self.instances.items() if n in keep}, edges, pipelines,
                    handlers=self.handlers)

    def with_handlers(self, handlers: Iterable[StepInstance]) -> Plan:
        """This plan with the handlers appended as units of their own, after every step."""
        added = list(handlers)
        if not added:
            return self
        instances = {**self.instances, **{inst.name: inst for inst in added}}
        pipelines = [*self.pipelines, *((inst.name,) for inst in added)]
        return Plan(instances, self.edges, pipelines, handlers=tuple(inst.name for inst in added),
                    _graph=self._graph)


def plan_for(workflow: Workflow) -> Plan:
    """The workflow's plan, built once and kept on the workflow (a plan-cache hit brings it along:
    then neither the builder nor its checks are imported)."""
    if workflow._plan is None:
        from flowrun.graph.build import build_plan
        from flowrun.spec.handlers import handler_instances

        workflow._plan = build_plan(workflow).with_handlers(handler_instances(workflow))
    plan: Plan = workflow._plan
    return plan
