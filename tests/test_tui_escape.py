"""The TUI's cells and detail fields show control characters an older catalog may hold escaped."""

from __future__ import annotations

from rich.text import Text

from knitctl.controlchars import first_control
from tui.query import Row
from tui.widgets import cells
from tui.widgets.fields import section
from tui.widgets.lineage_tree import LNode, label

EVIL = "evil:\x1b]0;pwned\x07\x1b[2J\x9b31m"


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def test_table_cells_escape_stored_control_characters():
    data = Row("d", 0, {"knit_id": "abc", "tags": [EVIL, "a:b"], "status": "done", "size": 1, "plan_id": "knit#uploaded",
                        "run_id": "r", "created_ms": 0})
    run = Row("r", 0, {"run_id": "r", "plan_id": "p", "image": "img\x1b[2J:1", "status": "done",
                       "inputs": [("/in", "k\x1b]x")], "created_ms": 0, "started_ms": None, "finished_ms": None})
    plan = Row("p", 0, {"plan_id": "p", "image": "i\x07:1", "inputs": [("/in", [EVIL])], "outputs": [("/out", [EVIL])],
                        "active": True, "runs": {}})
    for row in (cells.data_cells(data, 0), cells.run_cells(run, 0), cells.plan_cells(plan, 0)):
        for cell in row:
            assert first_control(_plain(cell)) is None, _plain(cell)
    assert "\\x1b]0;pwned\\x07" in cells.data_cells(data, 0)[1].plain


def test_detail_fields_and_lineage_labels_escape_them_too():
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    console.print(section("Data", [("tags", EVIL), ("source", Text("/tmp/\x1b[31mx", style="bold"))]))
    out = console.export_text()
    assert "\x1b" not in out and "\\x1b[31mx" in out
    t = label(LNode("data", "abc"), {"status": "done", "tags": [EVIL]})
    assert first_control(t.plain) is None
