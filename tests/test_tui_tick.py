"""The once-a-second tick reaches only screens whose widgets are there: a screen pushed (or a mode
switched to) is on the stack before it is composed, and ticking it then looked for widgets it did
not have yet (NoMatches: a crash of the TUI under load)."""

from __future__ import annotations

import pytest

from tui_support import build_world, drive, make_app, screen_text, until


@pytest.fixture
def world(session):
    return build_world(session)


def test_a_tick_between_a_push_and_its_compose_waits_for_the_screen(world):
    from tui.screens.run_detail import RunDetailScreen

    app = make_app(world.home)

    async def scenario(pilot):
        await until(pilot, lambda: app.screen.ready, what="runs")
        screen = RunDetailScreen(world.run_done)
        app.push_screen(screen)
        assert app.screen is screen and not screen.ready
        app._tick()                       # the timer firing before the screen is composed
        await until(pilot, lambda: screen.ready, what="run detail")
        app._tick()
        await until(pilot, lambda: world.run_done in screen_text(app), what="the run shown")

    drive(app, scenario)


def test_a_tick_right_after_a_mode_switch_waits_for_the_table(world):
    app = make_app(world.home)

    async def scenario(pilot):
        await until(pilot, lambda: app.screen.ready, what="runs")
        app.switch_mode("data")
        assert type(app.screen).__name__ == "DataScreen" and not app.screen.ready
        app._tick()                       # the timer firing before the table is composed
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen" and app.screen.ready, what="data")
        app._tick()

    drive(app, scenario)
