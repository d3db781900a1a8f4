"""The run history's rows: what a run records and what it reads back, and their SQL form.

Plain frozen dataclasses, so the scheduler and the fingerprinting never see SQL.
All times are epoch seconds; JSON columns are written compactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from flowrun.records import field, record

__all__ = [
    "DURATION_SAMPLES",
    "OK_STATUSES",
    "STEP_COLUMNS",
    "FileStat",
    "OutputFile",
    "PastRun",
    "PastStep",
    "RunRow",
    "StepRow",
    "chunks",
    "dumps",
    "median_of_recent",
    "merge_recent",
    "past_run",
    "past_step",
    "recent_samples",
    "run_values",
    "step_values",
]

#: a file's (size, mtime_ns, ino, digest): unchanged size, mtime and inode mean unchanged bytes
FileStat = tuple[int, int, int, str]
#: an output file as a step left it: (path, size, mtime_ns, ino, digest)
OutputFile = tuple[str, int, int, int, str]
#: the statuses ``last_success`` looks for
OK_STATUSES = ("success", "cached")
#: how many successful durations the expected duration is the median of
DURATION_SAMPLES = 5

STEP_COLUMNS = ("run_id", "name", "status", "exit_code", "attempts", "started", "duration", "fingerprint", "result",
                "outputs", "output_files")
_CHUNK = 500  # values per ``IN (...)``: well under SQLite's variable limit, short statements


@record(frozen=True)
class RunRow:
    """A run as recorded: ``targets`` as asked (empty: the whole workflow), ``params`` masked."""

    id: str
    started: float
    ended: float | None
    exit_code: int | None
    targets: Sequence[str] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    file_hash: str | None = None  # of the workflow file's bytes
    workflow: str | None = None  # the workflow file's name in its folder


@record(frozen=True)
class StepRow:
    """One step of a run: ``started`` None for a step that never started; ``outputs`` masked."""

    name: str
    status: str  # a StepStatus value
    exit_code: int | None = None
    attempts: int = 0
    started: float | None = None
    duration: float | None = None
    fingerprint: str | None = None
    result: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    output_files: Sequence[OutputFile] = ()


@record(frozen=True)
class PastStep:
    """A recorded step read back: ``StepRow``'s fields and the run it belongs to."""

    run_id: str
    name: str
    status: str
    exit_code: int | None
    attempts: int
    started: float | None
    duration: float | None
    fingerprint: str | None
    result: str | None
    outputs: Mapping[str, str]
    output_files: tuple[OutputFile, ...]


@record(frozen=True)
class PastRun:
    """A recorded run read back, with ``steps``: step name → status."""

    id: str
    started: float
    ended: float | None
    exit_code: int | None
    targets: tuple[str, ...]
    params: Mapping[str, str]
    file_hash: str | None
    workflow: str | None
    steps: Mapping[str, str]


_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  # a JSON string literal (C, UTF-8 kept)


def dumps(value: object) -> str:
    """Compact JSON, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def run_values(run: RunRow) -> tuple[object, ...]:
    """The ``runs`` row, in column order."""
    return (run.id, run.started, run.ended, run.exit_code, dumps(list(run.targets)), dumps(dict(run.params)),
            run.file_hash, run.workflow)


def step_values(run_id: str, s: StepRow) -> tuple[object, ...]:
    """The ``steps`` row, in ``STEP_COLUMNS`` order.

    The two JSON columns are put together by hand around the C string encoder:
    ``json.dumps`` costs about 4 µs a call, a tenth of a 1000-step record each.
    """
    outputs = ("{" + ",".join(f"{_string(str(k))}:{_string(str(v))}" for k, v in s.outputs.items()) + "}"
               if s.outputs else "{}")
    files = "[" + ",".join(f"[{_string(str(p))},{int(n)},{int(m)},{int(i)},{_string(str(d))}]"
                           for p, n, m, i, d in s.output_files) + "]" if s.output_files else "[]"
    return (run_id, s.name, str(s.status), s.exit_code, s.attempts, s.started, s.duration, s.fingerprint, s.result,
            outputs, files)


def past_step(row: Sequence[object]) -> PastStep:
    """A ``steps`` row read in ``STEP_COLUMNS`` order."""
    files = tuple(tuple(item) for item in json.loads(row[10]))  # type: ignore[arg-type]
    return PastStep(*row[:9], outputs=json.loads(row[9]), output_files=files)  # type: ignore[arg-type]


def past_run(row: Sequence[object], steps: Iterable[tuple[str, str]]) -> PastRun:
    """A ``runs`` row (column order) and its steps' (name, status)."""
    run_id, started, ended, exit_code, targets, params, file_hash, workflow = row
    return PastRun(run_id, started, ended, exit_code, tuple(json.loads(targets)),  # type: ignore[arg-type]
                   json.loads(params), file_hash, workflow, dict(steps))  # type: ignore[arg-type]


def merge_recent(recent: str | None, started: float, duration: float) -> str:
    """``step_stats.recent`` with one more success: the newest ``DURATION_SAMPLES`` by start.

    The column holds ``"START:DURATION START:DURATION ..."`` (floats as ``repr``
    writes them: exact, and cheaper than JSON at one per step per run). Two runs may
    record out of order, and a run recorded again must not count twice: samples
    are keyed by their start.
    """
    pair = f"{started!r}:{duration!r}"
    if not recent:
        return pair
    if started > float(recent[: recent.index(":")]):  # the usual case: newer than every sample
        return " ".join([pair, *recent.split(" ", DURATION_SAMPLES - 1)[: DURATION_SAMPLES - 1]])
    samples = recent_samples(recent)
    samples[started] = duration
    return " ".join(f"{t!r}:{d!r}" for t, d in sorted(samples.items(), reverse=True)[:DURATION_SAMPLES])


def median_of_recent(recent: str | None) -> float | None:
    """The median duration of ``step_stats.recent`` (None for none), without ``statistics``: one call per step."""
    if not recent:
        return None
    values = sorted([float(pair[pair.index(":") + 1:]) for pair in recent.split()])
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def recent_samples(recent: str | None) -> dict[float, float]:
    """``step_stats.recent`` read back: start → duration."""
    samples: dict[float, float] = {}
    for pair in (recent or "").split():
        t, d = pair.split(":")
        samples[float(t)] = float(d)
    return samples


def chunks(items: list[str]) -> Iterable[list[str]]:
    """``items`` in slices short enough for one ``IN (...)``."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
