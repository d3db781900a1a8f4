"""Secret values never pass the Masker, even split across writes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from flowrun.events import OutputChunk, RunFinished, StepFinished, StepStatus
from flowrun.report.base import Event
from flowrun.report.secrets import Masker

SECRET = "hunter2-s3cr3t"


class Collect:
    def __init__(self) -> None:
        self.data = b""

    def handle(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            self.data += event.data


@given(st.text(alphabet="ab-hunter2s3cr", max_size=80), st.lists(st.integers(0, 200), max_size=8))
def test_secret_split_anywhere_is_masked(prefix: str, cuts: list[int]) -> None:
    stream = (prefix + SECRET + prefix + SECRET).encode()
    sink = Collect()
    masker = Masker([SECRET], sink)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    for a, b in itertools.pairwise(points):
        masker.handle(OutputChunk("s", stream[a:b]))
    masker.handle(StepFinished("s", StepStatus.SUCCESS, 0, 1, None, None))
    assert SECRET.encode() not in sink.data
    assert sink.data == stream.replace(SECRET.encode(), b"***")


def test_nothing_is_held_without_secrets() -> None:
    sink = Collect()
    Masker([], sink).handle(OutputChunk("s", b"abc"))
    assert sink.data == b"abc"


def test_output_after_its_step_ended_is_released_at_the_run_end() -> None:
    """A leftover of the step writes after StepFinished: nothing of it may stay held back."""
    sink = Collect()
    masker = Masker([SECRET], sink)
    masker.handle(StepFinished("s", StepStatus.SUCCESS, 0, 1, None, None))
    masker.handle(OutputChunk("s", f"late {SECRET} TAIL\n".encode()))
    masker.handle(RunFinished(0, None, {}))
    assert sink.data == b"late *** TAIL\n"
