"""The live view's estimate of the time left (SPEC §10): the longer of the critical path and the work per slot."""

from __future__ import annotations

import textwrap

import pytest

from flowrun.engine.state import RunState
from flowrun.load import load_text, plan_of
from flowrun.report.eta import Estimate

CHAIN = """
    steps:
      a: {run: "true"}
      b: {run: "true", depends_on: [a]}
      c: {run: "true"}
      d: {run: "true"}
"""


def estimate(text: str, durations: dict[str, float], jobs: int) -> Estimate:
    plan = plan_of(load_text(textwrap.dedent(text)))
    expected, paths = RunState(plan, durations=durations).expectations()
    return Estimate(plan.order, expected, paths, jobs)


def test_the_critical_path_bounds_it_when_slots_are_many() -> None:
    eta = estimate(CHAIN, {"a": 10.0, "b": 5.0, "c": 1.0, "d": 1.0}, jobs=8)
    assert eta.left(0.0) == 15.0  # a then b; c and d beside them
    eta.start("a", 100.0)
    assert eta.left(104.0) == 11.0  # 6 s of a left, then b
    assert eta.left(130.0) == 5.0  # a overran its 10 s: still b to come, never negative
    eta.finish("a")
    eta.start("b", 130.0)
    eta.finish("c")
    eta.finish("d")
    assert eta.left(132.0) == 3.0
    eta.finish("b")
    assert eta.left(140.0) == 0.0


def test_the_work_per_slot_bounds_it_when_slots_are_few() -> None:
    eta = estimate(CHAIN, {"a": 10.0, "b": 5.0, "c": 9.0, "d": 8.0}, jobs=2)
    assert eta.left(0.0) == pytest.approx(16.0)  # 32 s of work on 2 slots is more than the 15 s path
    eta.start("c", 0.0)
    eta.start("d", 0.0)
    assert eta.left(4.0) == pytest.approx(15.0)  # 24 s of work left over 2 slots is 12 s; a → b is still 15 s
    eta.finish("c")
    eta.start("a", 9.0)
    assert eta.left(9.0) == pytest.approx(15.0)
    eta = estimate(CHAIN, {"a": 1.0, "b": 1.0, "c": 9.0, "d": 9.0}, jobs=1)
    eta.start("c", 0.0)
    assert eta.left(3.0) == pytest.approx(17.0)  # 6 + 9 + 1 + 1 s of work on one slot; the longest path is 9 s


def test_no_estimate_while_a_step_left_is_unknown() -> None:
    eta = estimate(CHAIN, {"a": 10.0, "b": 5.0, "c": 1.0}, jobs=2)
    assert eta.left(0.0) is None
    eta.start("d", 0.0)
    assert eta.left(1.0) is None
    eta.finish("d")
    assert eta.left(1.0) is not None
    assert estimate(CHAIN, {}, jobs=2).left(0.0) is None


def test_a_service_counts_as_no_work() -> None:
    text = """
    steps:
      db: {run: "sleep 60", service: true, ready: {log: up}}
      test: {run: "true", depends_on: [db]}
    """
    eta = estimate(text, {"db": 500.0, "test": 3.0}, jobs=2)
    assert eta.left(0.0) == 3.0
