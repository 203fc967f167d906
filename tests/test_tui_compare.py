"""The TUI's Compare view (Pilot): mark data on the Data screen with space, open Compare with c,
see the `data compare` table and a chart of a metric against a parameter; m and p choose them."""

from __future__ import annotations

import pytest
from test_compare import LRS, accuracy, build_sweep

from tui_support import drive, make_app, screen_text, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_mark_rows_and_compare_them_with_a_chart(session, tmp_path):
    sweep = build_sweep(session, tmp_path)
    chosen = [sweep["metrics"][lr] for lr in LRS[:3]]
    app = make_app(session.home.root)

    async def scenario(pilot):
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen" and app.screen.ready, what="data screen")
        screen = app.screen
        table = screen.table
        await until(pilot, lambda: all(k in table.keys for k in chosen), what="the metrics data listed")
        for kid in chosen:
            table.select_key(kid)
            await pilot.press("space")
        await until(pilot, lambda: "3 marked" in screen_text(app), what="marks counted")
        text = screen_text(app)
        assert all(f"● {kid}" in text for kid in chosen), text
        table.select_key(chosen[0])
        await pilot.press("space")                       # again: unmarked
        await until(pilot, lambda: "2 marked" in screen_text(app), what="unmarked")
        assert f"● {chosen[0]}" not in screen_text(app)
        table.select_key(chosen[0])
        await pilot.press("space")

        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen.ready, what="compare")
        compare = app.screen
        assert compare.knit_ids == [chosen[1], chosen[2], chosen[0]]      # in the order marked
        text = screen_text(app)
        assert "3 data" in text and "params/lr" in text and "accuracy" in text, text
        grid_rows = {row[0].plain: [c.plain for c in row] for row in
                     (compare.main_widget().get_row_at(i) for i in range(compare.main_widget().row_count))}
        assert set(grid_rows) == set(chosen)
        for lr in LRS[:3]:
            cells = grid_rows[sweep["metrics"][lr]]
            assert f"{lr:.6g}" in cells and f"{accuracy(lr):.6g}" in cells
        # the chart: accuracy by params/lr, a bar per datum, ordered by the parameter
        assert "accuracy by params/lr (bars from" in text
        bars = [ln for ln in text.splitlines() if "│" in ln and "█" in ln]
        assert len(bars) == 3
        shown = [float(b.split("│")[0].strip()) for b in bars]
        assert shown == sorted(LRS[:3])
        best = max(LRS[:3], key=accuracy)
        longest = max(bars, key=lambda b: b.count("█"))
        assert float(longest.split("│")[0].strip()) == best

        await pilot.press("m")                           # the next metric
        await until(pilot, lambda: "loss.final by params/lr" in screen_text(app), what="next metric")
        await pilot.press("p")                           # the next parameter: the params' tag
        await until(pilot, lambda: "loss.final by params:sweep" in screen_text(app), what="next parameter")
        await pilot.press("M", "s")                      # back to accuracy, rows sorted by it, best first
        await until(pilot, lambda: "sorted by accuracy ↓" in screen_text(app), what="sorted")
        first = compare.main_widget().get_row_at(0)[0].plain
        assert first == sweep["metrics"][best]

        # live: a tag put on one of the params while the view is open shows as a column; the cursor stays
        from knitctl import data as data_api

        compare.main_widget().move_cursor(row=2)
        data_api.tag(session, sweep["params"][LRS[1]], add=["note:best"])
        await until(pilot, lambda: "params:note" in screen_text(app), what="the new tag's column")
        assert compare.main_widget().cursor_row == 2

        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="back")

    drive(app, scenario, size=(140, 48))


def test_compare_without_marks_takes_the_rows_shown_and_names_unreadable_data(session, tmp_path):
    files = {0.1: {"m.json": '{"acc": 0.5}'}, 0.2: {"notes.txt": "nothing here"}}
    sweep = build_sweep(session, tmp_path, lrs=[0.1, 0.2], metrics=lambda lr: files[lr])
    app = make_app(session.home.root)

    async def scenario(pilot):
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen" and app.screen.ready, what="data screen")
        app.screen.apply_filter("type:metrics")
        await until(pilot, lambda: sorted(app.screen.table.keys) == sorted(sweep["metrics"].values()), what="filtered")
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen.ready, what="compare")
        text = screen_text(app)
        assert f"datum {sweep['metrics'][0.2]}: no readable metrics (no file matches" in text, text
        assert "acc by params/lr" in text and "(no number)" in text

    drive(app, scenario, size=(140, 48))
