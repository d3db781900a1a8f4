"""Text views of a plan for ``flowrun list``, ``flowrun graph`` and ``--dry-run`` (pure)."""

from __future__ import annotations

import json
import shlex

from flowrun.graph import Plan
from flowrun.spec.conditions import Condition

__all__ = ["dependency_text", "label", "to_dot", "to_mermaid", "to_plan_text", "to_tree"]

#: how a service is marked in lists, trees and plans
SERVICE_MARK = " (service)"


def label(plan: Plan, name: str) -> str:
    """A step's name, marked when it is a service or a handler."""
    if name in plan.handlers:
        return name + " (handler)"
    return name + SERVICE_MARK if plan.instances[name].step.service else name


def dependency_text(plan: Plan, name: str) -> str:
    deps = plan.dependencies(name)
    parts = [d if c is Condition.SUCCESS else f"{d} ({c.value})" for d, c in deps.items()]
    producer = plan.producer(name)
    if producer:
        parts.insert(0, f"stdin ← {producer}")
    return ", ".join(parts)


def to_tree(plan: Plan) -> str:
    """Each final step with what it needs, indented; shared parts are shown once."""
    g = plan.graph
    sinks = [n for n in plan.order if g.out_degree(n) == 0]
    lines: list[str] = []
    shown: set[str] = set()
    position = {n: i for i, n in enumerate(plan.order)}

    def walk(node: str, prefix: str, last: bool, edge: str, depth: int) -> None:
        branch = "" if depth == 0 else ("└── " if last else "├── ")
        seen = node in shown and g.in_degree(node) > 0
        lines.append(f"{prefix}{branch}{label(plan, node)}{edge}{' (see above)' if seen else ''}")
        if seen:
            return
        shown.add(node)
        ups = [(u, d) for u, _, d in g.in_edges(node, data=True)]
        ups.sort(key=lambda item: position[item[0]])
        child_prefix = prefix + ("" if depth == 0 else ("    " if last else "│   "))
        for i, (u, d) in enumerate(ups):
            how = " (stdin)" if d["kind"] == "pipe" else (
                "" if d["condition"] is Condition.SUCCESS else f" ({d['condition'].value})")
            walk(u, child_prefix, i == len(ups) - 1, how, depth + 1)

    for sink in sinks:
        walk(sink, "", True, "", 0)
    return "\n".join(lines)


def _quote(text: str) -> str:
    return json.dumps(text)


def to_dot(plan: Plan) -> str:
    out = ["digraph flowrun {", "  rankdir=LR;", "  node [shape=box];"]
    for n in plan.order:
        out.append(f"  {_quote(n)} [shape=ellipse, style=bold];" if plan.instances[n].step.service
                   else f"  {_quote(n)};")
    for u, v, d in plan.graph.edges(data=True):
        if d["kind"] == "pipe":
            out.append(f'  {_quote(u)} -> {_quote(v)} [style=bold, label="stdin"];')
        elif d["condition"] is Condition.SUCCESS:
            out.append(f"  {_quote(u)} -> {_quote(v)};")
        else:
            out.append(f'  {_quote(u)} -> {_quote(v)} [style=dashed, label="{d["condition"].value}"];')
    out.append("}")
    return "\n".join(out)


def to_mermaid(plan: Plan) -> str:
    ids = {n: f"s{i}" for i, n in enumerate(plan.order)}
    out = ["flowchart LR"]
    for n in plan.order:
        text = n.replace('"', "#quot;")
        # a service is drawn as a stadium: it runs beside the steps that need it
        out.append(f'  {ids[n]}(["{text}"])' if plan.instances[n].step.service else f'  {ids[n]}["{text}"]')
    for u, v, d in plan.graph.edges(data=True):
        if d["kind"] == "pipe":
            out.append(f"  {ids[u]} ==>|stdin| {ids[v]}")
        elif d["condition"] is Condition.SUCCESS:
            out.append(f"  {ids[u]} --> {ids[v]}")
        else:
            out.append(f"  {ids[u]} -.->|{d['condition'].value}| {ids[v]}")
    return "\n".join(out)


def to_plan_text(plan: Plan, jobs: int) -> str:
    """What ``up --dry-run`` would start, unit by unit, in plan order."""
    lines = [f"plan: {len(plan.order)} steps in {len(plan.pipelines)} units, up to {jobs} at once"]
    for i, unit in enumerate(plan.pipelines, start=1):
        members = " | ".join(unit)
        needs = sorted({d for m in unit for d in plan.dependencies(m)} - set(unit))
        lines.append(f"{i:>4}. {members}" + (f"   (after {', '.join(needs)})" if needs else ""))
        for m in unit:
            step = plan.instances[m].step
            command = step.run if step.run is not None else shlex.join(step.cmd or [])
            first = command.strip().splitlines()[0] if command.strip() else ""
            lines.append(f"        {label(plan, m)}: {first}")
            if step.ready is not None:
                lines.append(f"          ready: {step.ready.probe} {_probe_text(step.ready)}")
            read = _outputs_read(step)
            if read:
                lines.append(f"          reads: {', '.join(read)}")
    return "\n".join(lines)


def _outputs_read(step: object) -> list[str]:
    """The outputs a step reads (``steps.S.outputs.N``), in the order its env values and cmd items name them."""
    values = [v for v in (*step.env.values(), *(step.cmd or ())) if "${{" in v]  # type: ignore[attr-defined]
    if not values:
        return []
    from flowrun.spec.expressions import OutputRef, parse, references

    refs = [ref for v in values for ref in references(parse(v)) if isinstance(ref, OutputRef)]
    return list(dict.fromkeys(f"steps.{ref.step}.outputs.{ref.name}" for ref in refs))


def _probe_text(ready: object) -> str:
    kind = ready.probe  # type: ignore[attr-defined]
    value = getattr(ready, kind)
    return shlex.join(value) if kind == "cmd" else str(value)
