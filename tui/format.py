"""Pure formatting for the TUI's cells: ages, durations, sizes, statuses."""

from __future__ import annotations

from rich.text import Text

from knitctl.controlchars import escape, first_control

STATUS_STYLE = {
    "done": "green",
    "failed": "bold red",
    "invalidated": "dim strike",
    "running": "bold cyan",
    "starting": "cyan",
    "completing": "cyan",
    "aborting": "magenta",
    "ready": "blue",
    "waiting": "yellow",
    "deactivated": "dim",
    "processing": "cyan",
}


def clean(text) -> str:
    """Stored text for a cell: control characters (from an older catalog) shown as \\xNN, never sent raw."""
    return escape("" if text is None else str(text))


def clean_text(t: Text) -> Text:
    """A Text whose plain text holds control characters, rebuilt escaped (its own style kept)."""
    return Text(escape(t.plain), style=t.style, justify=t.justify) if first_control(t.plain) else t


def status(text: str) -> Text:
    return Text(text, style=STATUS_STYLE.get(text, ""))


def age(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return ""
    secs = max(0, (now_ms - ms) // 1000)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit}"
    return f"{secs}s"


def duration(started_ms: int | None, finished_ms: int | None, now_ms: int, live: bool) -> str:
    if started_ms is None:
        return ""
    end = finished_ms if finished_ms is not None else (now_ms if live else None)
    if end is None:
        return ""
    s = max(0, end - started_ms) / 1000
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def clock_time(ms: int) -> str:
    """RFC 3339 in UTC, to the second."""
    from knitctl import tags

    return tags.format_time(ms)


def count(n: int) -> str:
    return f"{n:,}"
