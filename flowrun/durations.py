"""Parse durations such as ``500ms``, ``30s``, ``5m``, ``1h30m`` or plain seconds."""

from __future__ import annotations

import functools
import math
import re

__all__ = ["DURATION_PATTERN", "elapsed", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|h|m|s))+\s*$|^\s*\d+(\.\d+)?\s*$"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(one part, the whole): compiled when a file is loaded, not at every start."""
    return re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)"), re.compile(DURATION_PATTERN)


def parse_duration(value: object) -> float:
    """Return seconds for a duration value; raise ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h30m, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        part, whole = _patterns()
        if not whole.match(text):
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or units "
                "ms, s, m, h (500ms, 30s, 5m, 1h30m)"
            )
        if part.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in part.findall(text))
        else:
            seconds = float(text)
    else:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h30m, got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite, non-negative time")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form: ``850ms``, ``12.3s``, ``4m05s``, ``1h02m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def elapsed(started: float | None, ended: float | None) -> float | None:
    """Seconds from ``started`` to ``ended`` (never negative), None if either is unknown."""
    if started is None or ended is None:
        return None
    return max(0.0, ended - started)
