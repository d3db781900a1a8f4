"""Mask the values of ``secrets:`` in everything flowrun writes (SPEC §1).

A ``Masker`` sits in front of every other reporter. Output arrives in chunks, so
a secret can be split across two writes: the masker holds back the last
``len(longest secret) - 1`` bytes of each step's stream until more arrives or the
step ends, so a split value is still caught.
"""

from __future__ import annotations

import re

from flowrun.events import OutputChunk, RunFinished, RunStarted, SchedulerNote, StepFinished, StepStarted
from flowrun.records import replace
from flowrun.report.base import Event, Reporter

__all__ = ["MASK", "Masker", "masked"]

MASK = b"***"


def _values(secrets: list[str]) -> list[str]:
    """The non-empty values, longest first: a secret that holds another is masked whole."""
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def _text_pattern(values: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


def masked(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (for text flowrun prints itself)."""
    pattern = _text_pattern(_values(secrets))
    return pattern.sub("***", text) if pattern is not None else text


class Masker:
    """Replaces secret values with ``***`` in events before passing them on."""

    def __init__(self, secrets: list[str], downstream: Reporter) -> None:
        values = _values(secrets)
        self.downstream = downstream
        self.hold = max((len(v.encode()) for v in values), default=1) - 1
        self._bytes = re.compile(b"|".join(re.escape(v.encode()) for v in values)) if values else None
        self._text = _text_pattern(values)
        self._carry: dict[str, bytes] = {}

    def mask_text(self, text: str) -> str:
        return self._text.sub("***", text) if self._text is not None else text

    def handle(self, event: Event) -> None:
        if self._bytes is None:
            self.downstream.handle(event)
            return
        if isinstance(event, OutputChunk):
            self._chunk(event)
            return
        if isinstance(event, StepFinished):
            rest = self._carry.pop(event.step, b"")
            if rest:
                self.downstream.handle(OutputChunk(event.step, self._bytes.sub(MASK, rest)))
            event = replace(event, reason=self.mask_text(event.reason))
            if event.outputs:
                event.outputs = {k: self.mask_text(v) for k, v in event.outputs.items()}
        elif isinstance(event, StepStarted):
            event = replace(event, command=self.mask_text(event.command))
        elif isinstance(event, RunStarted) and event.params:
            event = replace(event, params={k: self.mask_text(v) for k, v in event.params.items()})
        elif isinstance(event, SchedulerNote):
            event = replace(event, message=self.mask_text(event.message))
        elif isinstance(event, RunFinished):  # what leftovers wrote after their step ended
            for step, rest in self._carry.items():
                self.downstream.handle(OutputChunk(step, self._bytes.sub(MASK, rest)))
            self._carry.clear()
        self.downstream.handle(event)

    def _chunk(self, event: OutputChunk) -> None:
        assert self._bytes is not None
        data = self._carry.pop(event.step, b"") + event.data
        # everything before `safe` can be released: no secret starting there can
        # still grow into bytes that have not arrived yet
        safe = max(0, len(data) - self.hold)
        out = bytearray()
        position = 0
        for match in self._bytes.finditer(data):
            if match.start() >= safe:
                break
            out += data[position:match.start()] + MASK
            position = match.end()
        release = max(safe, position)
        out += data[position:release]
        if release < len(data):
            self._carry[event.step] = data[release:]
        if out:
            self.downstream.handle(OutputChunk(event.step, bytes(out)))
