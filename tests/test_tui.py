"""The TUI driven with Textual's Pilot on a catalog the tests make: every screen and key
the TUI offers, and live updates while the test watches."""

from __future__ import annotations

import stat

import pytest

from conftest import push_datum
from tui_support import build_world, drive, make_app, screen_text, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def world(session):
    return build_world(session)


def screen_name(app) -> str:
    """The top screen's class, once it is mounted and filled (knit's screens say when)."""
    screen = app.screen
    return type(screen).__name__ if getattr(screen, "ready", True) else "(mounting)"


def move(session, run_id, *statuses, **kw):
    from knitctl import runstate

    with session.catalog.write() as c:
        for s in statuses:
            runstate.move(c, run_id, s, **kw)


# -- Runs: the default screen ----------------------------------------------------------------------


def test_runs_screen_lists_runs_newest_first_with_header(world):
    app = make_app(world.home)

    async def scenario(pilot):
        assert screen_name(app) == "RunsScreen"
        table = app.screen.table
        assert table.keys == [world.run_waiting, world.run_failed, world.run_done]   # uploads hidden
        text = screen_text(app)
        assert "context local" in text and "knitd ○ stopped" in text
        assert "3 loaded of 3" in text
        for rid in (world.run_done, world.run_failed, world.run_waiting):
            assert rid in text
        line = next(ln for ln in text.splitlines() if world.run_failed in ln)
        assert "failed" in line and f"/in={world.raw[1]}" in line and world.plan_a in line

    drive(app, scenario)


def test_header_follows_knitd_and_context(world, monkeypatch):
    monkeypatch.setenv("KNIT_CONTEXT", "gpu-cluster")
    app = make_app(world.home, context=None, watch_knitd=True, poll_interval=0.02)

    async def scenario(pilot):
        assert "context gpu-cluster" in screen_text(app)
        assert "knitd ○ stopped" in screen_text(app)
        from knitctl.home import Home
        from knitctl.knitd import PidLock

        lock = PidLock(Home.resolve(world.home))
        lock.acquire()   # what a running knitd holds
        try:
            await until(pilot, lambda: "knitd ● running" in screen_text(app), what="knitd shown running")
        finally:
            lock.release()
        await until(pilot, lambda: "knitd ○ stopped" in screen_text(app), what="knitd shown stopped")

    drive(app, scenario)


def test_live_run_updates_in_place_keeping_selection_and_log_follows(world, session):
    """A run goes waiting → running → done while the Runs table and its log view watch."""
    app = make_app(world.home)
    log = session.home.run_log(world.run_waiting)

    async def scenario(pilot):
        table = app.screen.table
        await pilot.press("down")                       # select the failed run (second row)
        assert table.current.key == world.run_failed
        move(session, world.run_waiting, "ready", "running")
        await until(pilot, lambda: table.row_of(world.run_waiting).values["status"] == "running", what="running")
        line = next(ln for ln in screen_text(app).splitlines() if world.run_waiting in ln)
        assert "running" in line
        assert table.current.key == world.run_failed     # selection kept, no reload
        assert table.pages_loaded == 1

        # a new run appears above; the cursor stays on its run
        push_datum(session, "project:x", "kind:raw")
        await until(pilot, lambda: len(table.keys) == 4, what="the new run")
        assert table.current.key == world.run_failed
        assert table.keys.index(world.run_failed) == 2
        assert table.pages_loaded == 1

        # its log, followed: lines written now show up
        table.select_key(world.run_waiting)
        await pilot.press("l")
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log screen")
        screen = app.screen
        assert screen.pane.follow and "following" in screen_text(app)
        with open(log, "a") as f:
            f.write("step 1 of 2\n")
            f.flush()
            await until(pilot, lambda: "step 1 of 2" in screen_text(app), what="first log line")
            f.write("step 2 of 2\n")
        await until(pilot, lambda: "step 2 of 2" in screen_text(app), what="second log line")
        move(session, world.run_waiting, "completing", "done", exit_code=0)
        await until(pilot, lambda: screen.status == "done", what="status in the log view")
        assert "done" in screen_text(app).splitlines()[1]
        await pilot.press("escape")
        await until(pilot, lambda: table.row_of(world.run_waiting).values["status"] == "done", what="done in table")

    drive(app, scenario)


def test_lazy_paging_loads_as_the_cursor_nears_the_end(session):
    from conftest import apply_plan

    apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]})
    push_datum(session, "kind:raw", n=250)
    from tui.widgets import live_table

    app = make_app(session.home.root)

    async def scenario(pilot):
        table = app.screen.table
        assert len(table.keys) == live_table.PAGE and table.pages_loaded == 1
        await pilot.press("end")
        await until(pilot, lambda: len(table.keys) > live_table.PAGE, what="second page")
        await pilot.press("end")
        await pilot.press("end")
        await until(pilot, lambda: len(table.keys) == 250, what="every page")
        assert table.source.count(app.read_conn, table.filter) == 250
        assert len(set(table.keys)) == 250
        # scrolled down, a new run arrives above: the view keeps showing the same rows
        await pilot.press("home")
        for _ in range(4):
            await pilot.press("pagedown")
        await pilot.pause()
        top, selected = table.visible_keys()[0], table.current.key
        assert int(table.scroll_y) > 0
        push_datum(session, "kind:raw")
        await until(pilot, lambda: len(table.keys) == 251, what="the new run")
        await pilot.pause()
        assert table.visible_keys()[0] == top and table.current.key == selected

    drive(app, scenario)


# -- keys on the Runs table --------------------------------------------------------------------------------


def test_enter_opens_run_detail_and_esc_goes_back(world):
    app = make_app(world.home)

    async def scenario(pilot):
        app.screen.table.select_key(world.run_failed)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen", what="detail")
        text = screen_text(app)
        for want in (world.run_failed, "failed", "exit code", world.raw[1], "/in", "/out", "History", "Resources",
                     "project:x", "kind:raw", "created", "started", "finished"):
            assert want in text, want
        await pilot.press("escape")
        assert screen_name(app) == "RunsScreen"

    drive(app, scenario)


def test_run_detail_updates_live(world, session):
    app = make_app(world.home)

    async def scenario(pilot):
        app.open_run(world.run_waiting)
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen", what="detail")
        assert "waiting" in screen_text(app)
        move(session, world.run_waiting, "ready", "running")
        await until(pilot, lambda: "running" in screen_text(app), what="running in detail")
        move(session, world.run_waiting, "aborting", "failed", exit_code=137, message="OOM-killed")
        await until(pilot, lambda: "OOM-killed" in screen_text(app), what="message in detail")
        assert "137" in screen_text(app)

    drive(app, scenario)


def test_g_opens_lineage_and_l_opens_logs(world):
    app = make_app(world.home)

    async def scenario(pilot):
        app.screen.table.select_key(world.run_done)
        await pilot.press("g")
        await until(pilot, lambda: screen_name(app) == "LineageScreen", what="lineage")
        assert world.raw[0] in screen_text(app) and world.model in screen_text(app)
        await pilot.press("escape")
        await pilot.press("l")
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log")
        await until(pilot, lambda: "done: saved /out/model.bin" in "\n".join(app.screen.pane.all_text()), what="log read")

    drive(app, scenario)


def test_abort_asks_then_aborts(world, session):
    app = make_app(world.home)
    move(session, world.run_waiting, "ready", "running")

    async def scenario(pilot):
        table = app.screen.table
        table.select_key(world.run_waiting)
        await pilot.press("a")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
        assert f"Abort run {world.run_waiting}?" in screen_text(app)
        await pilot.press("n")
        assert screen_name(app) == "RunsScreen"
        assert session.catalog.one("SELECT status FROM run WHERE run_id = ?", (world.run_waiting,))[0] == "running"
        await pilot.press("a")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: table.row_of(world.run_waiting).values["status"] == "aborting", what="aborting")
        assert session.catalog.one("SELECT request FROM run WHERE run_id = ?", (world.run_waiting,))[0] == "abort"
        # a finished run has nothing to abort: no question, a warning
        table.select_key(world.run_done)
        await pilot.press("a")
        await pilot.pause()
        assert screen_name(app) == "RunsScreen"

    drive(app, scenario)


def test_retry_asks_then_retries(world, session):
    app = make_app(world.home)

    async def scenario(pilot):
        table = app.screen.table
        table.select_key(world.run_failed)
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
        assert f"Retry run {world.run_failed}?" in screen_text(app)
        await pilot.press("escape")
        assert session.catalog.one("SELECT status FROM run WHERE run_id = ?", (world.run_failed,))[0] == "failed"
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
        await pilot.click("#yes")
        await until(pilot, lambda: table.row_of(world.run_failed).values["status"] == "waiting", what="waiting")
        # a run whose outputs feed another can't be retried: the library says why
        table.select_key(world.run_done)
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: any("can't be retried" in str(n.message) for n in app._notifications),
                    what="the refusal")

    drive(app, scenario)


def test_help_shows_the_current_screens_keys(world):
    app = make_app(world.home)
    size = (120, 60)

    async def scenario(pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_name(app) == "HelpScreen", what="help")
        text = screen_text(app)
        for want in ("Runs — keys", "Logs", "Lineage", "Abort", "Retry", "Filter", ":runs [FILTER]", "ctrl+p"):
            assert want in text, want
        await pilot.press("escape")
        app.open_log(world.run_done)
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log")
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_name(app) == "HelpScreen", what="help")
        text = screen_text(app)
        assert "Log — keys" in text and "Wrap" in text and "Timestamps" in text and "$PAGER" in text

    drive(app, scenario, size=size)


def test_q_quits(world):
    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("q")
        await until(pilot, lambda: app._exit_renderables is not None or not app.is_running, what="exit")

    drive(app, scenario)
    assert app.return_code == 0


# -- the command line and the filter ------------------------------------------------------------------


def test_command_line_aliases(world):
    app = make_app(world.home)

    async def command(pilot, text):
        await pilot.press("colon")
        app.screen.query_one("Prompt").value = text      # typing it key by key is slow under Pilot
        await pilot.press("enter")
        await pilot.pause()

    async def scenario(pilot):
        await pilot.press("colon", *"runs failed", "enter")   # once typed for real
        await pilot.pause()
        await until(pilot, lambda: app.screen.table.keys == [world.run_failed], what=":runs failed")
        assert "filter failed" in screen_text(app)
        await command(pilot, "data project:x")
        await until(pilot, lambda: screen_name(app) == "DataScreen" and sorted(app.screen.table.keys) == sorted(world.raw),
                    what=":data project:x")
        await command(pilot, "plans")
        await until(pilot, lambda: screen_name(app) == "PlansScreen", what=":plans")
        assert app.screen.table.keys == [world.plan_b, world.plan_a]
        await command(pilot, f"run {world.run_done}")
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen", what=":run ID")
        await command(pilot, f"log {world.run_done}")
        await until(pilot, lambda: screen_name(app) == "LogScreen", what=":log ID")
        await command(pilot, f"lineage {world.model}")
        await until(pilot, lambda: screen_name(app) == "LineageScreen", what=":lineage ID")
        await command(pilot, "rs")                      # alias of :runs, no filter
        await until(pilot, lambda: screen_name(app) == "RunsScreen" and len(app.screen.table.keys) == 3, what=":rs")
        await command(pilot, "bogus")
        assert any("no command :bogus" in str(n.message) for n in app._notifications)
        await command(pilot, "q")
        await until(pilot, lambda: not app.is_running, what=":q")

    drive(app, scenario)


def test_filter_by_status_tags_and_regex(world):
    app = make_app(world.home)

    async def filt(pilot, text):
        await pilot.press("slash")
        inp = app.screen.query_one("Prompt")
        inp.value = text
        await pilot.press("enter")
        await pilot.pause()

    async def scenario(pilot):
        table = app.screen.table
        await filt(pilot, "status:done")
        assert table.keys == [world.run_done]
        await filt(pilot, "kind:model")                 # runs whose input or output carries the tag
        assert set(table.keys) == {world.run_done, world.run_failed, world.run_waiting}
        await filt(pilot, "kind:model status:waiting")
        assert table.keys == [world.run_waiting]
        await filt(pilot, f"re:^{world.run_failed[:-1]}")
        assert table.keys == [world.run_failed]
        await filt(pilot, f"plan:{world.plan_b}")
        assert table.keys == [world.run_waiting]
        await filt(pilot, "waiting knit/busybox")       # a bare status and a regex word
        assert table.keys == [world.run_waiting]
        await filt(pilot, "re:([")                      # a bad regex: an error, the filter stays
        assert any("not a regular expression" in str(n.message) for n in app._notifications)
        assert table.keys == [world.run_waiting]
        await pilot.press("escape")                     # esc clears the filter first
        assert len(table.keys) == 3 and table.filter.empty

    drive(app, scenario)


def test_filter_keeps_up_with_changes(world, session):
    """With `status:running`, a run that starts appears in place and one that ends leaves."""
    app = make_app(world.home)

    async def scenario(pilot):
        app.screen.apply_filter("running")
        table = app.screen.table
        assert table.keys == []
        move(session, world.run_waiting, "ready", "running")
        await until(pilot, lambda: table.keys == [world.run_waiting], what="appears")
        move(session, world.run_waiting, "completing", "done")
        await until(pilot, lambda: table.keys == [], what="leaves")

    drive(app, scenario)


def test_command_palette(world):
    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("ctrl+p")
        await until(pilot, lambda: screen_name(app) == "CommandPalette", what="palette")
        await pilot.press(*"Plans")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlansScreen", what="plans from the palette")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: screen_name(app) == "CommandPalette", what="palette")
        from textual.widgets import Input

        app.screen.query_one(Input).value = world.run_failed     # as if typed

        await until(pilot, lambda: f"run {world.run_failed}" in screen_text(app), what="the id found")
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen" and app.screen.run_id == world.run_failed,
                    what="run from the palette")

    drive(app, scenario)


# -- Data and Plans ---------------------------------------------------------------------------------------


def test_data_screen_live_tags_and_keys(world, session):
    from knitctl import data as data_api

    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("2")
        await until(pilot, lambda: screen_name(app) == "DataScreen", what="data")
        table = app.screen.table
        assert world.model in table.keys and all(r in table.keys for r in world.raw)
        text = screen_text(app)
        assert "project:x" in text and "upload" in text
        data_api.tag(session, world.raw[0], add=["quality:gold"])
        await until(pilot, lambda: "quality:gold" in table.row_of(world.raw[0]).values["tags"], what="new tag")
        await until(pilot, lambda: "quality:gold" in screen_text(app), what="new tag drawn")  # values change before the repaint
        table.select_key(world.model)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "DatumDetailScreen", what="datum detail")
        await until(pilot, lambda: world.run_waiting in screen_text(app), what="used by")
        await pilot.press("enter")                             # its producer
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen" and app.screen.run_id == world.run_done,
                    what="producer")
        await pilot.press("escape", "escape")
        await pilot.press("g")
        await until(pilot, lambda: screen_name(app) == "LineageScreen" and app.screen.kind == "data", what="lineage")
        await pilot.press("escape", "l")
        await until(pilot, lambda: screen_name(app) == "LogScreen" and app.screen.run_id == world.run_done, what="log")

    drive(app, scenario)


def test_plans_screen_counts_update(world, session):
    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("3")
        await until(pilot, lambda: screen_name(app) == "PlansScreen", what="plans")
        table = app.screen.table
        assert table.row_of(world.plan_a).values["runs"] == {"done": 1, "failed": 1}
        line = next(ln for ln in screen_text(app).splitlines() if world.plan_a in ln)
        assert "knit/python:3.11" in line and "project:x" in line and "done 1" in line and "failed 1" in line
        push_datum(session, "project:x", "kind:raw")
        await until(pilot, lambda: table.row_of(world.plan_a).values["runs"].get("waiting") == 1, what="count")
        table.select_key(world.plan_a)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanDetailScreen", what="plan detail")
        assert "kind:log" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "RunsScreen", what="its runs")
        assert len(app.screen.table.keys) == 3 and app.screen.table.filter.plans == (world.plan_a,)

    drive(app, scenario)


# -- the log view --------------------------------------------------------------------------------------------


def test_log_view_whole_log_search_wrap_timestamps(world, session):
    log = session.home.run_log(world.run_done)
    lines = [f"2026-03-01T10:{i // 60:02d}:{i % 60:02d}.000Z line {i} " + ("x" * 150 if i % 1000 == 7 else "")
             for i in range(5000)]
    log.write_text("\n".join(lines) + "\n")
    app = make_app(world.home)

    async def scenario(pilot):
        app.open_log(world.run_done)
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log")
        pane = app.screen.pane
        await until(pilot, lambda: len(pane.lines) == 5000, what="the whole log")
        assert not pane.follow                           # a finished run: read from the top
        assert pane.visible_text()[0] == "line 0 "
        await pilot.press("end")
        await pilot.pause()
        assert pane.visible_text()[-1] == "line 4999 "
        assert "10:83:19.000" in screen_text(app)          # the lines' own timestamps, in their column
        # the filter: lines matching a regex, matches highlighted
        await pilot.press("slash")
        app.screen.query_one("Prompt").value = r"line \d*7 x"
        await pilot.press("enter")
        await pilot.pause()
        assert pane.shown == 5 and "filter line" in screen_text(app)
        # wrap and timestamps keep it
        await pilot.press("w")
        await pilot.pause()
        assert pane.wrap and pane.shown == 5 and len(pane._rows) > 5
        await pilot.press("t")
        await pilot.pause()
        assert not pane.show_time and pane.shown == 5
        assert "10:00:07" not in screen_text(app)
        await pilot.press("t")
        await pilot.pause()
        assert "10:00:07.000" in screen_text(app) and pane.shown == 5
        await pilot.press("escape")                      # clears the filter first
        assert pane.shown == 5000 and screen_name(app) == "LogScreen"

    drive(app, scenario)


def test_log_opens_in_pager(world, tmp_path, monkeypatch):
    out = tmp_path / "paged"
    pager = tmp_path / "pager.sh"
    pager.write_text(f'#!/bin/sh\ncp "$1" {out}\n')
    pager.chmod(pager.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PAGER", str(pager))
    app = make_app(world.home)

    async def scenario(pilot):
        app.open_log(world.run_done)
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log")
        await pilot.press("o")
        await until(pilot, out.exists, what="the pager run")

    drive(app, scenario)
    assert out.read_text().endswith("done: saved /out/model.bin\n")


def test_log_follow_toggle_and_arrival_stamps(world, session):
    log = session.home.run_log(world.run_waiting)
    log.write_text("starting\n")
    app = make_app(world.home)

    async def scenario(pilot):
        app.open_log(world.run_waiting)
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log")
        screen = app.screen
        await until(pilot, lambda: screen.pane.lines == ["starting"], what="first line")
        assert screen.pane.stamps == [None]
        await pilot.press("f")
        assert not screen.pane.follow and "paused" in screen_text(app)
        await pilot.press("f")
        with open(log, "a") as f:
            f.write("more\n")
        await until(pilot, lambda: "more" in screen.pane.lines, what="new line")
        assert screen.pane.stamps[-1] is not None     # when it arrived
        # a run that starts again (retried) rewrites its log: the view starts over
        log.write_text("again\n")
        await until(pilot, lambda: screen.pane.lines == ["again"], what="rewritten log")

    drive(app, scenario)


# -- lineage --------------------------------------------------------------------------------------------------


def test_lineage_one_hop_at_a_time_with_fanout(session):
    from conftest import apply_plan

    src = push_datum(session, "kind:raw")
    plans = []
    for i in range(13):
        plans.append(apply_plan(session, {"/in": ["kind:raw"]}, {"/out": [f"kind:m{i}"]}, args=[str(i)]).plan.plan_id)
    app = make_app(session.home.root)

    async def scenario(pilot):
        app.open_lineage("data", src.knit_id)
        await until(pilot, lambda: screen_name(app) == "LineageScreen", what="lineage")
        tree = app.screen.lineage_tree
        text = screen_text(app)
        assert "+3 runs" in text
        assert text.count("▼ run ") == 10
        # nothing past one hop is laid out
        assert not any(n.data and n.data.kind == "data" and n.data.direction == "down" for n in tree.nodes())
        more = next(n for n in tree.nodes() if n.data and n.data.kind == "more")
        tree.move_cursor(more)
        await pilot.press("enter")
        await pilot.pause()
        assert "+3 runs" not in screen_text(app)
        assert sum(1 for n in tree.nodes() if n.data and n.data.kind == "run" and n.data.direction == "down") == 13
        # expand one run: one hop more (its output)
        run_node = next(n for n in tree.nodes() if n.data and n.data.kind == "run" and n.data.direction == "down")
        tree.move_cursor(run_node)
        await pilot.press("space")
        await pilot.pause()
        assert any(n.data and n.data.kind == "data" and n.data.direction == "down" for n in run_node.children)
        # jump: enter → run detail; l → its log; p → its plan
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen", what="detail from a node")
        await pilot.press("escape", "l")
        await until(pilot, lambda: screen_name(app) == "LogScreen", what="log from a node")
        await pilot.press("escape", "p")
        await until(pilot, lambda: screen_name(app) == "PlanDetailScreen", what="plan from a node")

    drive(app, scenario)


def test_lineage_upstream_and_live_labels(world, session):
    app = make_app(world.home)

    async def scenario(pilot):
        app.open_lineage("run", world.run_waiting)
        await until(pilot, lambda: screen_name(app) == "LineageScreen", what="lineage")
        tree = app.screen.lineage_tree
        text = screen_text(app)
        assert world.model in text and "no outputs" not in text
        model = next(n for n in tree.nodes() if n.data and n.data.id == world.model)
        tree.move_cursor(model)
        await pilot.press("right")                     # upstream of the model: the run that made it
        await pilot.pause()
        assert world.run_done in screen_text(app)
        move(session, world.run_waiting, "ready", "running")
        await until(pilot, lambda: "running" in screen_text(app).splitlines()[2], what="live label")

    drive(app, scenario)


def test_knitctl_tui_is_a_command(cli_inproc):
    r = cli_inproc("tui", "--help")
    assert r.code == 0 and "live terminal UI" in r.out, r


def test_the_refresh_tick_with_no_screen_on_the_stack_does_nothing(tmp_path):
    """The once-a-second tick can fire while the app starts or shuts down: no screen, no error."""
    app = make_app(tmp_path)
    assert not app.screen_stack
    app._tick()
