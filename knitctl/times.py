"""Durations and time windows given on the command line. Pure."""

from __future__ import annotations

import re

from . import tags as tagrules
from .errors import UsageError

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
MAX_DURATION_YEARS = 10_000          # past the calendar's end from any start; sums stay well inside 64 bits
MAX_DURATION_MS = MAX_DURATION_YEARS * 365_25 * 864_000  # 365.25 days a year
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(text: str, *, where: str = "--duration") -> int:
    """`90s`, `1h30m`, `2d` → milliseconds."""
    s = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return _bounded(float(s) * 1000, text, where)  # a bare number is seconds
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise UsageError(f"{where}: {text!r} is not a duration; write it like 90s, 30m, 1h30m or 2d")
    return _bounded(total, text, where)


def _bounded(ms: float, text: str, where: str) -> int:
    if not ms <= MAX_DURATION_MS:  # also NaN and infinity (a number of 400 digits is infinite as a float)
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise UsageError(f"{where}: {shown!r} is longer than {MAX_DURATION_YEARS:,} years; give a shorter duration")
    return int(ms)


_AGO_RE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def since_ms(text: str, now_ms: int | None = None) -> int:
    """`--since`: an RFC 3339 time, or how long ago (`2h`, `3d`, `1h30m`) → epoch milliseconds."""
    if _AGO_RE.fullmatch(text.strip().replace(" ", "")):
        import time

        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now - parse_duration(text, where="--since")
    try:
        return tagrules.parse_time(text, where="--since")
    except UsageError as e:
        raise UsageError(f"{e.message}; or give how long ago, like 2h or 3d") from None


def window(since: str | None, duration: str | None) -> tuple[int | None, int | None]:
    """`--since T [--duration D]` as [start, end) in epoch milliseconds (None: open on that side)."""
    if not since:
        if duration:
            raise UsageError("--duration needs --since: it is the length of the window starting there")
        return None, None
    start = since_ms(since)
    if not duration:
        return start, None
    return start, start + parse_duration(duration)
