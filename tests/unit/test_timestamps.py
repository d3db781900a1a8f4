"""Report timestamps: the fast ``iso_utc`` must agree with datetime's own formatting."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from flowrun.report.jsonreport import iso_utc


def _reference(epoch: float) -> str:
    stamp = datetime.fromtimestamp(round(epoch, 3), UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_utc_matches_datetime(epoch: float) -> None:
    assert iso_utc(epoch) == _reference(epoch)


def test_iso_utc_edges() -> None:
    assert iso_utc(None) is None
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_769_860_800.9996) == "2026-01-31T12:00:01.000Z"  # rounds into the next second
    assert iso_utc(1_769_860_800.123) == "2026-01-31T12:00:00.123Z"
    assert iso_utc(1_769_860_799.5) == "2026-01-31T11:59:59.500Z"  # the cached second changes back
