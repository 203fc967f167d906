"""Control characters in stored or typed text: found at input, escaped at output. Pure.

A terminal acts on C0 controls (BEL, BS, ESC starting CSI/OSC sequences, …), DEL
and the C1 block (U+0080–U+009F, where U+009B is a one-character CSI). Text a
user can give — tags, names — refuses them; everything printed from stored
text goes through `escape`, so what an older catalog still holds is shown as
`\\x1b` and never acted on.
"""

from __future__ import annotations

import re

_CONTROL = "\x00-\x1f\x7f-\x9f"
_CONTROL_RE = re.compile(f"[{_CONTROL}]")
_CONTROL_BUT_LINES_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def first_control(text: str) -> str | None:
    """The first control character in `text`, or None."""
    m = _CONTROL_RE.search(text)
    return m.group() if m else None


def describe(ch: str) -> str:
    """`\\x1b (ESC)`-style name of one control character, for error messages."""
    names = {"\x00": "NUL", "\t": "TAB", "\n": "line feed", "\r": "carriage return", "\x1b": "ESC", "\x07": "BEL", "\x7f": "DEL"}
    code = f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
    return f"{code} ({names[ch]})" if ch in names else code


def _code(m: re.Match) -> str:
    return f"\\x{ord(m.group()):02x}"


def escape(text: str, *, keep_lines: bool = False) -> str:
    """`text` with every control character written as `\\xNN`; with `keep_lines`, newlines and tabs stay."""
    if not isinstance(text, str):
        text = str(text)
    pattern = _CONTROL_BUT_LINES_RE if keep_lines else _CONTROL_RE
    return pattern.sub(_code, text) if pattern.search(text) else text


def log_formatter(fmt: str):
    """A logging.Formatter whose lines can't carry control characters: a message's (even a newline, which
    would forge a log line) are escaped; a traceback keeps its lines."""
    import logging

    class _Escaping(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            return escape(super().formatMessage(record))

        def formatException(self, ei) -> str:
            return escape(super().formatException(ei), keep_lines=True)

    return _Escaping(fmt)
