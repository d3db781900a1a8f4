"""The networkx-free pipeline grouping agrees with the networkx one, problems included."""

from __future__ import annotations

import random

import pytest

from flowrun.errors import WorkflowError
from flowrun.graph import _pipelines, build_plan
from flowrun.load import load_text


def _random_workflow(rng: random.Random, n: int) -> str:
    lines = ["version: 1", "steps:"]
    producers_used: set[int] = set()
    for i in range(n):
        lines += [f"  s{i}:", "    cmd: [true]"]
        earlier = list(range(i))
        if earlier and rng.random() < 0.4:
            p = rng.choice(earlier)
            lines.append(f"    stdin: s{p}")
            producers_used.add(p)
            earlier.remove(p)
        deps = rng.sample(earlier, min(len(earlier), rng.randint(0, 2)))
        if deps:
            lines.append("    depends_on: [" + ", ".join(f"s{d}" for d in deps) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(60))
def test_forward_pipelines_match_networkx(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_workflow(rng, rng.randint(2, 14))
    try:  # loading builds the plan too
        workflow = load_text(text, "random.yaml")
        plan = build_plan(workflow)
    except WorkflowError as fast_error:
        # the fast path gave up and the networkx path explained why
        assert "pipeline" in str(fast_error) or "cycle" in str(fast_error)
        return
    assert plan._graph is None, "a forward file with pipes must not need networkx"
    expected, problems = _pipelines(plan.graph, workflow)
    assert not problems
    assert [set(group) for group in plan.pipelines] == [set(group) for group in expected]
    for group in plan.pipelines:  # producers first
        for i, member in enumerate(group):
            producer = plan.producer(member)
            if producer in group:
                assert group.index(producer) < i
