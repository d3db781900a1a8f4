"""The public API: a sorted __all__ whose names all exist."""

import flowrun


def test_all_is_sorted_and_complete() -> None:
    assert flowrun.__all__ == sorted(flowrun.__all__)
    for name in flowrun.__all__:
        assert hasattr(flowrun, name), name
    assert {"load", "run", "Workflow", "RunResult", "StepStatus", "FlowrunError"} <= set(flowrun.__all__)
