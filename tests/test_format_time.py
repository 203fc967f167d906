"""tags.format_time (computed by arithmetic for speed) says what datetime says."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from knitctl.tags import format_time, parse_time


def reference(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+00:00"


@given(st.integers(min_value=-2_208_988_800_000, max_value=253_402_300_799_999))  # 1900 … 9999
def test_format_time_is_rfc3339_in_utc_to_the_millisecond(ms):
    assert format_time(ms) == reference(ms)
    assert parse_time(format_time(ms)) == ms


def test_format_time_edges():
    assert format_time(0) == "1970-01-01T00:00:00.000+00:00"
    assert format_time(-1) == "1969-12-31T23:59:59.999+00:00"
    assert format_time(1_767_225_599_999) == "2025-12-31T23:59:59.999+00:00"
