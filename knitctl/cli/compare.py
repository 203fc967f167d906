"""`knitctl data compare`'s body: one table (TTY), tab-separated (piped), JSON or CSV.

A one-liner of `fast.py` (no Typer): its Typer command in data.py declares the options and calls
`data_compare` with the same parameters."""

from __future__ import annotations

import sys
from enum import Enum

from .output import Format, emit_rows, json_text, message


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def data_compare(knit_ids, tag, files, sort, desc, output: CompareFormat | None) -> None:
    from .. import compare as rules
    from ..comparison import compare
    from ..session import Session

    with Session.open() as s:
        table = compare(s, list(knit_ids or ()), list(tag), files=files)
    table = rules.sort(table, sort, descending=desc)
    for knit_id, why in table.unreadable:
        message(f"datum {knit_id}: no readable metrics ({why})")
    if output == CompareFormat.json:
        sys.stdout.write(json_text(table.to_dict()) + "\n")
    elif output == CompareFormat.csv:
        sys.stdout.write(rules.csv_text(table))
    else:
        emit_rows([[rules.cell(v) for v in r] for r in table.rows], Format.table if output else None,
                  [c.name for c in table.columns])
