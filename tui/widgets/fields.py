"""A detail pane's body: titled sections of label/value rows, drawn with Rich."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..format import clean, clean_text


def section(title: str, rows: list[tuple[str, object]]) -> Group:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True, min_width=14)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(clean(label), clean_text(value) if isinstance(value, Text) else Text(clean(value)))
    return Group(Text(title, style="bold underline"), grid, Text(""))


def sections(*parts: Group) -> Group:
    return Group(*parts)
