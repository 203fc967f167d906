"""Output conventions (docs/ARCHITECTURE.md#cli): data on stdout, messages on stderr; tables on a
TTY, tab-separated without colour when piped; `-o json|yaml|table`; NO_COLOR."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..controlchars import escape

if TYPE_CHECKING:  # yaml and rich are imported where used: a one-liner's start-up pays for neither unless it prints with them
    from rich.console import Console


_RAW_IN_JSON = re.compile("[\x7f-\x9f]")
_CONTROL_BUT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # what escape() would change in a TSV line, its tabs aside
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # the same, newlines aside too


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def stdout_console() -> Console:
    from rich.console import Console

    return Console(no_color=_no_color(), highlight=False, soft_wrap=False, color_system=None if _no_color() else "auto")  # NO_COLOR: no bold either


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, no_color=_no_color(), highlight=False, soft_wrap=True, color_system=None if _no_color() else "auto")


def message(text: str) -> None:
    """A human message: stderr, never mixed with data; control characters in it are shown escaped.

    Written as it is (tabs expanded, as a terminal would): no rich console, so a command that only
    says something starts without importing rich, and `:name:` in a quoted value stays text."""
    sys.stderr.write(escape(text, keep_lines=True).expandtabs(8) + "\n")
    sys.stderr.flush()


def json_text(doc: Any) -> str:
    """JSON for stdout: like json.dumps, with DEL and C1 controls (which json leaves raw) as \\u escapes."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if _RAW_IN_JSON.search(text) else text


def emit(
    records: Sequence[dict],
    fmt: Format | None,
    columns: Sequence[tuple[str, Callable[[dict], Any]]],
    *,
    single: bool = False,
) -> None:
    """Print records as a table (TTY), TSV (piped), JSON or YAML."""
    if fmt == Format.json:
        sys.stdout.write(json_text(records[0] if single else list(records)) + "\n")
        return
    if fmt == Format.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(records[0] if single else list(records), sort_keys=False, allow_unicode=True))
        return
    emit_rows([[_cell(fn(r)) for _, fn in columns] for r in records], fmt, [name for name, _ in columns])


def emit_rows(rows: Sequence[Sequence[str]], fmt: Format | None, headers: Sequence[str]) -> None:
    """Rows of ready cells as a table (TTY, or -o table) or TSV (piped)."""
    if fmt == Format.table or sys.stdout.isatty():
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in headers:
            table.add_column(name.upper())
        for row in rows:
            table.add_row(*[escape(c, keep_lines=True) for c in row])
        stdout_console().print(table)
        return
    sys.stdout.write(tsv(rows, len(headers)))


def tsv(rows: Sequence[Sequence[str]], width: int) -> str:
    """Tab-separated lines: a cell's tabs and newlines become spaces, its control characters escapes."""
    text = "\n".join(["\t".join(row) for row in rows])
    if text.count("\t") == (width - 1) * len(rows) and text.count("\n") == max(0, len(rows) - 1) \
            and not _CONTROL_BUT_LINES.search(text):
        return text + "\n" if rows else ""  # the common case: one pass over the whole output, nothing to change
    lines = []
    for row in rows:
        cells = [c.replace("\t", " ").replace("\n", " ") for c in row]
        line = "\t".join(cells)
        if _CONTROL_BUT_TAB.search(line):  # one search a row; escaped cell by cell only where there is something to escape
            line = "\t".join(escape(c) for c in cells)
        lines.append(line + "\n")
    return "".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if f < 1024 or unit == "TiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return str(n)
