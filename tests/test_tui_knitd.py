"""The TUI watching a real run: knitd executes it in Docker while the Runs table
and the log view follow it (status and log lines arrive on screen)."""

from __future__ import annotations

import pytest

from conftest import BUSYBOX_IMAGE, apply_plan, knitd_diagnostics, push_datum, require_images
from tui_support import drive, make_app, screen_text, until


@pytest.fixture
def knitd_ready(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


def test_a_real_run_shows_live(knit_home, session, knitd_ready):
    knitd_ready()
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:out"]}, image=BUSYBOX_IMAGE,
                      args=["sh", "-c", "echo hello-from-run; sleep 2; echo bye-from-run > /out/x; echo bye-from-run"],
                      log=["kind:log"]).plan.plan_id
    app = make_app(knit_home, watch_knitd=True, clock=None)

    async def scenario(pilot):
        await until(pilot, lambda: "knitd ● running" in screen_text(app), what="knitd in the header")
        table = app.screen.table
        assert table.keys == []
        push_datum(session, "kind:raw")
        run_id = await until(pilot, lambda: table.keys and table.keys[0], what="the new run", timeout=20)
        assert table.row_of(run_id).values["plan_id"] == plan
        try:
            await until(pilot, lambda: table.row_of(run_id).values["status"] in ("starting", "running", "done"),
                        what="the run starting", timeout=60)
            table.select_key(run_id)
            await pilot.press("l")
            await until(pilot, lambda: getattr(app.screen, "ready", False) and type(app.screen).__name__ == "LogScreen",
                        what="the log view")
            screen = app.screen
            await until(pilot, lambda: "hello-from-run" in screen.pane.lines, what="the first log line", timeout=60)
            await until(pilot, lambda: "bye-from-run" in screen.pane.lines, what="the last log line", timeout=60)
            await until(pilot, lambda: screen.status == "done", what="done in the log view", timeout=60)
            assert "bye-from-run" in screen_text(app)
            await pilot.press("escape")
            await until(pilot, lambda: table.row_of(run_id).values["status"] == "done", what="done in the table")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{knitd_diagnostics(knit_home)}") from None

    drive(app, scenario)
