"""Tags: `key:value` pairs. Pure functions only.

The key is everything before the first `:`; key and value are trimmed and the
key must not be empty. Keys starting with `knit#` are reserved for system tags,
which are computed from the catalog and never stored as user tags.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .controlchars import describe, escape, first_control
from .errors import UsageError

RESERVED_PREFIX = "knit#"
KEY_ID = "knit#id"
KEY_TIMESTAMP = "knit#timestamp"
KEY_TRANSIENT = "knit#transient"
KEY_BAD = "knit#bad"              # knit#bad:<root id>: marked bad, derived from that root (knitctl.marks)
BAD_ANY = "*"                     # in a plan input, knit#bad:* takes data carrying any mark
TRANSIENT_PROCESSING = "processing"
TRANSIENT_FAILED = "failed"
MAX_KEY = 256
MAX_VALUE = 4096


@dataclass(frozen=True, order=True)
class Tag:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}:{self.value}"

    @property
    def reserved(self) -> bool:
        return is_reserved(self.key)


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIX)


def parse(text: str, *, where: str = "tag") -> Tag:
    """Parse `key:value`. Raises UsageError naming `where` on bad input."""
    if not isinstance(text, str):
        raise UsageError(f"{where}: expected a 'key:value' string, got {text!r}")
    if ":" not in text:
        raise UsageError(f"{where}: {text!r} is not a tag; write it as key:value (e.g. project:mnist)")
    raw_key, raw_value = text.split(":", 1)
    key, value = raw_key.strip(), raw_value.strip()
    if not key:
        raise UsageError(f"{where}: {text!r} has an empty key; write it as key:value")
    if len(key) > MAX_KEY or len(value) > MAX_VALUE:
        raise UsageError(
            f"{where}: '{escape(text[:40])}...' is too long ({len(key):,}-character key, {len(value):,}-character value); "
            f"a tag's key is at most {MAX_KEY} characters and its value at most {MAX_VALUE:,}"
        )
    bad = first_control(raw_key.strip(" \t") + raw_value.strip(" \t"))  # NEL, VT, FF… are refused, not trimmed away
    if bad is not None:
        raise UsageError(
            f"{where}: '{escape(text)}' contains the control character {describe(bad)}; "
            "tags are single-line printable text — remove it"
        )
    return Tag(key, value)


def parse_user(text: str, *, where: str = "tag") -> Tag:
    """Parse a tag a user may set: no reserved `knit#` key."""
    tag = parse(text, where=where)
    if tag.reserved:
        raise UsageError(
            f"{where}: {text!r} uses the reserved prefix {RESERVED_PREFIX!r}; "
            "system tags are computed by knit and can't be set"
        )
    return tag


def name_tag(name: str, *, where: str = "name") -> Tag:
    """The `name:<name>` tag for a file or directory's name; a name with control characters is refused."""
    return parse(f"name:{name}", where=where)


def parse_many(texts: Iterable[str], *, where: str = "tag", user: bool = True) -> list[Tag]:
    fn = parse_user if user else parse
    out: list[Tag] = []
    for t in texts:
        tag = fn(t, where=where)
        if tag not in out:
            out.append(tag)
    return out


def format_time(ms: int) -> str:
    """RFC 3339 with millisecond precision, in UTC. (Arithmetic, the date looked up per day: listings
    format two times a row, and datetime's strftime was a quarter of `data find`'s time.)"""
    s, milli = divmod(ms, 1000)
    day, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_date_of_day(day)}{h:02d}:{m:02d}:{s:02d}.{milli:03d}+00:00"


@functools.lru_cache(maxsize=1024)
def _date_of_day(day: int) -> str:
    t = time.gmtime(day * 86400)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"


def parse_time(text: str, *, where: str = "time") -> int:
    """Parse an RFC 3339 timestamp into epoch milliseconds."""
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00+00:00)") from None
    try:
        if dt.tzinfo is None:
            dt = dt.astimezone()  # local time
        return int(round(dt.timestamp() * 1000))
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"{where}: {text!r} is at the very edge of the calendar, where local time can't be worked out; "
            "give a later time or an explicit offset (e.g. 0001-01-02T00:00:00+00:00)"
        ) from None


def system_tags(knit_id: str, finished_ms: int | None, status: str, bad_roots: Iterable[str] = ()) -> list[Tag]:
    """The computed tags of a datum whose producing run is in `status`.

    `status` is the datum's state: 'done' (committed), 'failed', or anything
    else meaning still processing. `bad_roots`: the roots whose bad mark it carries (`knit#bad:<root>`).
    """
    tags = [Tag(KEY_ID, knit_id)]
    if finished_ms is not None and status == "done":
        tags.append(Tag(KEY_TIMESTAMP, format_time(finished_ms)))
    if status == "failed":
        tags.append(Tag(KEY_TRANSIENT, TRANSIENT_FAILED))
        if finished_ms is not None:
            tags.append(Tag(KEY_TIMESTAMP, format_time(finished_ms)))
    elif status != "done":
        tags.append(Tag(KEY_TRANSIENT, TRANSIENT_PROCESSING))
    tags += [Tag(KEY_BAD, r) for r in sorted(bad_roots)]
    return tags


def apply_changes(current: set[Tag], add: list[Tag], remove: list[Tag], remove_keys: list[str]) -> set[Tag]:
    """Removals first, then additions. Absent removals and present additions are no-ops."""
    out = {t for t in current if t not in set(remove) and t.key not in set(remove_keys)}
    out.update(add)
    return out
