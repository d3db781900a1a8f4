"""The run record's hand-assembled step JSON equals ``json.dumps(step_document(...))`` for any step."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from flowrun.events import StepStatus
from flowrun.report.jsonreport import (
    AttemptRecord,
    RunRecord,
    StepRecord,
    compact_report_chunks,
    report_document,
    step_document,
    step_json,
)

times = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)  # quotes, controls, non-ASCII


@st.composite
def steps(draw: st.DrawFn) -> StepRecord:
    started, ended = draw(times), draw(times)
    history = []
    for n in range(draw(st.integers(0, 3))):
        same = draw(st.booleans())
        attempt = AttemptRecord(n + 1, started if same and started is not None else draw(times) or 0.0)
        attempt.ended = ended if same else draw(times)
        attempt.status = draw(st.none() | st.sampled_from(StepStatus))
        attempt.exit_code = draw(st.none() | st.integers(-255, 300))
        history.append(attempt)
    return StepRecord(
        draw(texts), draw(st.sampled_from(StepStatus)), draw(st.none() | st.integers(-255, 300)), started, ended,
        draw(texts), draw(st.booleans()), draw(st.none() | texts), draw(st.none() | texts), history,
        service=draw(st.booleans()), ready_after=draw(st.none() | st.floats(-1, 1e6, allow_nan=False)),
        outputs=draw(st.dictionaries(texts, texts, max_size=3)),
    )


@settings(max_examples=300)
@given(steps())
def test_step_json_is_the_step_document(step: StepRecord) -> None:
    assert json.loads(step_json(step)) == json.loads(json.dumps(step_document(step), ensure_ascii=False))


@settings(max_examples=50)
@given(st.lists(steps(), max_size=600, unique_by=lambda s: s.name))
def test_the_compact_record_is_the_report_document(records: list[StepRecord]) -> None:
    record = RunRecord("wf", "run", 1.5, None, "/tmp/x", 2, steps={s.name: s for s in records})
    record.ended = 3.25
    text = "".join(compact_report_chunks(record))
    assert json.loads(text) == json.loads(json.dumps(report_document(record), ensure_ascii=False))
