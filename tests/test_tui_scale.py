"""The TUI on a catalog of 100,000 runs: it opens on the first page only, and
loads further pages by keyset as the user scrolls; live updates still land."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tui_support import drive, make_app, until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.tui_catalog import build  # noqa: E402

RUNS = 100_000
VERSION = "v1"   # bump when benchmarks/tui_catalog.py changes what it builds


@pytest.fixture(scope="session")
def big_home(request, tmp_path_factory) -> Path:
    """Built once and kept in pytest's cache directory between sessions (~10 s to build)."""
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir(f"knit-tui-{RUNS}-{VERSION}")) if cache else tmp_path_factory.mktemp("big")
    home = root / "home"
    if not (root / "complete").exists():
        shutil.rmtree(home, ignore_errors=True)
        build(home, runs=RUNS)
        (root / "complete").write_text("ok\n")
    return home


def test_opens_on_the_first_page_and_scrolls(big_home):
    from tui.widgets.live_table import PAGE

    app = make_app(big_home)

    async def scenario(pilot):
        table = app.screen.table
        assert len(table.keys) == PAGE and table.pages_loaded == 1
        await until(pilot, lambda: table.total == RUNS, what="the count")
        assert f"{PAGE} loaded of 100,000" in "".join(str(app.screen.query_one(".status-line").render()))
        first = table.keys[0]
        for _ in range(12):
            await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row > PAGE and len(table.keys) > PAGE
        for _ in range(5):
            await pilot.press("end")
            await pilot.pause()
        loaded = len(table.keys)
        assert PAGE * 5 <= loaded < RUNS and table.pages_loaded == loaded // PAGE + (loaded % PAGE > 0)
        orders = [table.row_of(k).order for k in table.keys]
        assert orders == sorted(orders, reverse=True) and len(set(table.keys)) == loaded
        assert table.keys[0] == first
        await pilot.press("home")
        assert table.cursor_row == 0

    drive(app, scenario)


def test_filter_and_live_update_on_a_big_catalog(big_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(big_home, home)
    app = make_app(home)

    async def scenario(pilot):
        screen = app.screen
        screen.apply_filter("status:running")
        table = screen.table
        assert 0 < len(table.keys) <= 100
        assert all(table.row_of(k).values["status"] == "running" for k in table.keys)
        # a running run ends: it leaves the filtered table, in place
        victim = table.keys[0]
        from knitctl import runstate
        from knitctl.session import Session

        with Session.open(type(app.home)(home), reclaim=False) as s:
            with s.catalog.write() as c:
                runstate.move(c, victim, "completing")
                runstate.move(c, victim, "done")
        await until(pilot, lambda: victim not in table.keys, what="the run leaving the filter")

    drive(app, scenario)
