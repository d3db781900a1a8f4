"""With expected durations, the ready unit heading the longest expected path starts first (SPEC §10)."""

from __future__ import annotations

from flowrun.engine.state import RunState
from flowrun.load import load_text, plan_of


def _order(text: str, durations: dict[str, float] | None) -> list[str]:
    plan = plan_of(load_text(text))
    state = RunState(plan, durations=durations)
    started = []
    while (unit := state.peek()) is not None:
        started += state.take(unit)
    return started


FILE = """
steps:
  a: {run: "true"}
  b: {run: "true"}
  c: {run: "true"}
  long: {run: "true"}
  after-b: {run: "true", depends_on: [b]}
"""


def test_without_history_file_order_decides() -> None:
    assert _order(FILE, None) == ["a", "b", "c", "long"]


def test_the_longest_expected_path_goes_first_and_ties_keep_file_order() -> None:
    durations = {"a": 1.0, "b": 0.5, "c": 1.0, "long": 9.0, "after-b": 2.0}
    # long heads 9 s; b heads 0.5 + 2 = 2.5 s; a and c 1 s each, in file order
    assert _order(FILE, durations) == ["long", "b", "a", "c"]


def test_steps_without_history_count_as_zero() -> None:
    assert _order(FILE, {"c": 3.0}) == ["c", "a", "b", "long"]
