"""SVG snapshots of every TUI screen on a catalog with fixed ids and times and a frozen clock.

They live in tests/snapshots/tui/; `KNIT_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py`
rewrites them after an intended change (look at the SVGs before committing).
"""

from __future__ import annotations

import pytest

from tui_support import build_world, check_snapshot, drive, make_app, until


@pytest.fixture
def world(session):
    return build_world(session)


def settled(app) -> bool:
    screen = app.screen
    table = getattr(screen, "table", None)
    return getattr(screen, "ready", True) and (table is None or table.total is not None)


def test_every_screen(world):
    app = make_app(world.home)
    shots: dict[str, str] = {}

    async def shot(pilot, name):
        await until(pilot, lambda: settled(app), what=f"{name} settled")
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        shots[name] = app.export_screenshot(title=f"knit {name}")

    async def scenario(pilot):
        await shot(pilot, "runs")
        app.screen.table.select_key(world.run_failed)
        await pilot.press("enter")
        await shot(pilot, "run_detail")
        app.open_log(world.run_done)
        await until(pilot, lambda: getattr(app.screen, "ready", False) and len(app.screen.pane.lines) == 41,
                    what="log read")
        await shot(pilot, "log")
        await pilot.press("escape", "escape")
        app.open_lineage("run", world.run_done)
        await shot(pilot, "lineage")
        await pilot.press("escape", "escape")
        app.screen.table.select_key(world.run_waiting)
        await pilot.press("a")
        await shot(pilot, "confirm")
        await pilot.press("n", "question_mark")
        await shot(pilot, "help")
        await pilot.press("escape", "2")
        await shot(pilot, "data")
        await pilot.press("3")
        await shot(pilot, "plans")
        app.screen.table.select_key(world.plan_a)
        await pilot.press("enter")
        await shot(pilot, "plan_detail")
        await pilot.press("escape", "colon", *"runs status:waiting")
        await shot(pilot, "command_line")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.table.filter.statuses == ("waiting",), what="filter")
        await shot(pilot, "runs_filtered")

    drive(app, scenario)
    failures = []
    for name, svg in shots.items():
        try:
            check_snapshot(name, svg)
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n".join(failures)
