"""The workflow as a graph: dependency and pipe edges, checks, pipelines.

Nodes are step instance names. An edge ``u -> v`` means v waits for u
(``kind="dep"``, with a ``condition``) or v reads u's stdout (``kind="pipe"``).
Steps joined by pipes form a *pipeline*: the unit the scheduler starts.

networkx is imported only when it has work to do (a possible cycle, a problem
to explain, a graph to draw): a file written in dependency order is checked in
one pass over its edges, and its pipes grouped by a small union-find, so
``flowrun validate`` and ``up`` of such a file never pay networkx's import
(~0.15-0.2 s, more than flowrun's own checks). No module of this package
imports networkx at its top.

``plan.py`` holds the Plan and its selection, ``build.py`` builds and checks
it, ``pipelines.py`` groups pipes into pipelines and words cycles.
"""

from __future__ import annotations

from flowrun.graph.plan import Edge, Plan, plan_for, suggest

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from flowrun.graph.build import build_plan

__all__ = ["Edge", "Plan", "build_plan", "plan_for", "suggest"]


def __getattr__(name: str) -> Any:
    """The builder loads on first use: ``up`` of a cached plan never needs it."""
    if name == "build_plan":
        from flowrun.graph.build import build_plan

        return build_plan
    if name == "_pipelines":  # the unit tests call it
        from flowrun.graph.pipelines import group_pipelines

        return group_pipelines
    raise AttributeError(f"module 'flowrun.graph' has no attribute {name!r}")
