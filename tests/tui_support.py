"""Helpers for the TUI tests (test_tui*.py): a small catalog with fixed ids and
times, waiting on the app without sleeps, and the screen as text or SVG."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from rich.console import Console

from conftest import apply_plan, finish_run, push_datum

T0 = 1_772_359_200_000          # 2026-03-01T10:00:00Z: the catalog's first write
NOW = T0 + 3_600_000            # the app's clock in the tests: an hour later
SIZE = (120, 32)
SNAPSHOTS = Path(__file__).parent / "snapshots" / "tui"


@contextlib.contextmanager
def frozen(start_ms: int = T0, step_ms: int = 1000, first_id: int = 0xA1B2C3000000):
    """ids.new_id() counts up and the catalog's clock ticks `step_ms` a call, so a catalog
    built inside is the same every time."""
    from knitctl import ids
    from knitctl.catalog import db

    counter = itertools.count()
    ticks = itertools.count()

    class FakeTime:
        @staticmethod
        def time() -> float:
            return (start_ms + next(ticks) * step_ms) / 1000

        def __getattr__(self, name):
            import time

            return getattr(time, name)

    with mock.patch.object(ids, "new_id", lambda: f"{first_id + next(counter) * 0x10:012x}"), \
            mock.patch.object(db, "time", FakeTime()):
        yield


@dataclass
class World:
    home: Path
    plan_a: str
    plan_b: str
    raw: list[str]          # uploaded data ids
    run_done: str           # plan A over raw[0], done
    run_failed: str         # plan A over raw[1], failed
    run_waiting: str        # plan B over run_done's output, waiting
    model: str              # run_done's /out output


def build_world(session) -> World:
    """Two plans and three runs: A over two uploads (one done, one failed), B over A's model (waiting)."""
    with frozen():
        a = apply_plan(session, {"/in": ["project:x", "kind:raw"]}, {"/out": ["kind:model"]},
                       image="knit/python:3.11", log=["kind:log"]).plan.plan_id
        raw = [d.knit_id for d in push_datum(session, "project:x", "kind:raw", n=2)]
        runs = [r[0] for r in session.catalog.query("SELECT run_id FROM run WHERE plan_id = ? ORDER BY execution_id", (a,))]
        finish_run(session, runs[0], "done")
        finish_run(session, runs[1], "failed")
        b = apply_plan(session, {"/in": ["kind:model"]}, {"/eval": ["kind:score"]}, image="knit/busybox:1").plan.plan_id
        model = session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = '/out'", (runs[0],))[0]
        waiting = session.catalog.one("SELECT run_id FROM run WHERE plan_id = ?", (b,))[0]
    log = session.home.run_log(runs[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"epoch {i}: loss {1 / (i + 1):.4f}\n" for i in range(40)) + "done: saved /out/model.bin\n")
    return World(session.home.root, a, b, raw, runs[0], runs[1], waiting, model)


def make_app(home, **kw):
    from tui.app import KnitApp

    kw.setdefault("context", "local")
    kw.setdefault("clock", lambda: NOW)
    kw.setdefault("watch_knitd", False)
    return KnitApp(home, **kw)


def drive(app, scenario: Callable[..., Awaitable[None]], size=SIZE) -> None:
    """Run the app headless and `scenario(pilot)` against it."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


async def until(pilot, condition: Callable[[], object], *, timeout: float = 10.0, what: str = "condition"):
    """Let the app run until `condition()` is true (no sleeping: the app's own loop turns)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.02)


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def check_snapshot(name: str, svg: str) -> None:
    """Compare an SVG screenshot with tests/snapshots/tui/NAME.svg.

    KNIT_UPDATE_SNAPSHOTS=1 rewrites them (look at the diff before committing).
    A mismatch leaves NAME.actual.svg beside the expected one.
    """
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    path = SNAPSHOTS / f"{name}.svg"
    actual = SNAPSHOTS / f"{name}.actual.svg"
    if os.environ.get("KNIT_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(svg)
        actual.unlink(missing_ok=True)
        if not os.environ.get("KNIT_UPDATE_SNAPSHOTS"):
            raise AssertionError(f"no snapshot {path.name} yet: written now; look at it and commit it")
        return
    if path.read_text() != svg:
        actual.write_text(svg)
        raise AssertionError(f"screen differs from {path} (see {actual.name}; KNIT_UPDATE_SNAPSHOTS=1 accepts it)")
    actual.unlink(missing_ok=True)
