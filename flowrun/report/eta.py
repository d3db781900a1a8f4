"""The live view's estimate of the time left, from the durations the history knows (SPEC §10).

As ninja's status line does with ``.ninja_log``, but with the graph's shape: the
time left is the longer of two lower bounds, the longest expected path still to
run and the expected work still to do spread over the job slots. A running step
counts with what it has left of its expected duration (never less than nothing).
There is no estimate while a step that is not finished has no recorded duration:
a guess there would be a number without a base.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

__all__ = ["Estimate"]


class Estimate:
    """Seconds left, updated as steps start and end; O(log n) per end, O(running) per question."""

    def __init__(self, steps: Iterable[str], expected: Mapping[str, float], paths: Mapping[str, float],
                 jobs: int) -> None:
        self.expected, self.paths, self.jobs = expected, paths, max(jobs, 1)
        names = list(steps)
        #: steps not finished that the history does not know: no estimate while there is one
        self.unknown = {name for name in names if name not in expected}
        self.work = sum(expected.get(name, 0.0) for name in names)  # expected seconds not yet finished
        self.started: dict[str, float] = {}
        self._waiting = [(-paths.get(name, 0.0), name) for name in names]  # max-heap, lazy deletion
        heapq.heapify(self._waiting)
        self._gone: set[str] = set()  # started or finished: out of the waiting heap

    def start(self, step: str, at: float) -> None:
        self.started[step] = at
        self._gone.add(step)

    def finish(self, step: str) -> None:
        """A step's last attempt ended (a retry is a new start, not an end)."""
        self.started.pop(step, None)
        self._gone.add(step)
        self.unknown.discard(step)
        self.work -= self.expected.get(step, 0.0)

    def left(self, now: float) -> float | None:
        """Seconds left, or None when unknown."""
        if self.unknown or not self.expected:
            return None
        waiting = self._waiting
        while waiting and waiting[0][1] in self._gone:
            heapq.heappop(waiting)
        longest = -waiting[0][0] if waiting else 0.0
        work = self.work
        for step, at in self.started.items():
            own = self.expected.get(step, 0.0)
            done = min(max(now - at, 0.0), own)
            work -= done
            longest = max(longest, self.paths.get(step, own) - done)
        return max(longest, work / self.jobs, 0.0)
