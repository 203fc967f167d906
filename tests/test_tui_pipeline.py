"""The Pipeline screen (the plan graph in the TUI), its layout, and `plan graph -o svg|png`."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tui.pipeline_layout import BOX_W, LABEL_MAX, Link, PlanBox, feeding_edges, layers, layout, moves

from conftest import apply_plan, cli_command, cli_env, finish_run
from tui_support import build_world, check_snapshot, drive, frozen, make_app, screen_text, until


@pytest.fixture
def chain(session):
    """The TUI tests' world (A over uploads, B over A's model) and C over B's score: a 3-plan chain."""
    w = build_world(session)
    with frozen(start_ms=w_time(session), first_id=0xC0FFEE000000):
        c = apply_plan(session, {"/scores": ["kind:score"]}, {"/report": ["kind:report"]}, image="knit/busybox:1").plan.plan_id
    return w, c


def w_time(session) -> int:
    return session.catalog.one("SELECT max(created_ms) FROM plan")[0] + 1000


def screen_name(app) -> str:
    return type(app.screen).__name__


def box_line(text: str, plan_id: str, n: int) -> str:
    """The nth line inside a plan's box on the screen (0: id and state, 1: image, 2: runs)."""
    rows = text.splitlines()
    top = next(i for i, r in enumerate(rows) if f"│ {plan_id}" in r)
    return rows[top + n]


async def open_pipeline(pilot, app):
    await pilot.press("4")
    await until(pilot, lambda: screen_name(app) == "PipelineScreen" and app.screen.ready, what="pipeline")
    await pilot.pause()
    return app.screen.graph


# -- the screen ----------------------------------------------------------------------------------------


def test_pipeline_draws_the_chain_in_layers_with_labels_and_counts(chain):
    w, c = chain
    app = make_app(w.home)
    seen = {}

    async def scenario(pilot):
        graph = await open_pipeline(pilot, app)
        cv = graph.canvas
        seen["layers"] = {p: cv.boxes[p].layer for p in cv.boxes}
        seen["x"] = [cv.boxes[p].x for p in (w.plan_a, w.plan_b, c)]
        seen["links"] = [(k.up, k.down, k.tags) for k in cv.links]
        seen["text"] = screen_text(app)
        seen["selected"] = graph.selected
        await pilot.wait_for_scheduled_animations()
        seen["svg"] = app.export_screenshot(title="knit pipeline")

    drive(app, scenario, size=(160, 32))
    assert seen["layers"] == {w.plan_a: 0, w.plan_b: 1, c: 2}
    assert seen["x"] == sorted(seen["x"]) and len(set(seen["x"])) == 3
    assert seen["links"] == [(w.plan_a, w.plan_b, ("kind:model",)), (w.plan_b, c, ("kind:score",))]
    text = seen["text"]
    assert "kind:model ─▶│" in text and "kind:score ─▶│" in text       # labelled, arrow into the box
    assert "done 1 failed 1" in box_line(text, w.plan_a, 2)              # A's runs by status
    assert "knit/python:3.11" in box_line(text, w.plan_a, 1)
    assert "waiting 1" in box_line(text, w.plan_b, 2)
    assert "● active" in box_line(text, w.plan_a, 0) and "no runs" in text      # C has none
    assert "3 plans · 2 links · 3 layers" in text
    assert seen["selected"] == w.plan_a                                  # the oldest source first
    check_snapshot("pipeline", seen["svg"])


def test_pipeline_keys_move_open_and_list_runs(chain):
    w, c = chain
    app = make_app(w.home)
    trail = []

    async def scenario(pilot):
        graph = await open_pipeline(pilot, app)
        for key in ("right", "l", "h", "down", "up"):
            await pilot.press(key)
            trail.append(graph.selected)
        assert w.plan_b in screen_text(app).splitlines()[1]                  # the status line names it
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanDetailScreen", what="plan detail")
        trail.append(app.screen.plan_id)
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "PipelineScreen", what="back")
        await pilot.press("R")
        await until(pilot, lambda: screen_name(app) == "RunsScreen" and app.screen.table.filter.plans == (w.plan_b,),
                    what="runs of B")
        trail.append(sorted(app.screen.table.keys))
        await pilot.press("4")
        await until(pilot, lambda: screen_name(app) == "PipelineScreen", what="pipeline again")
        trail.append(app.screen.graph.selected)                               # kept while away
        graph = app.screen.graph
        box_c = graph.canvas.boxes[c]
        await pilot.click("#pipeline", offset=(box_c.x + 3 - graph.scroll_offset.x, box_c.y + 2 - graph.scroll_offset.y))
        trail.append(graph.selected)                                         # a click selects
        await pilot.double_click("#pipeline", offset=(box_c.x + 3 - graph.scroll_offset.x,
                                                      box_c.y + 2 - graph.scroll_offset.y))
        await until(pilot, lambda: screen_name(app) == "PlanDetailScreen", what="a double click opens")
        trail.append(app.screen.plan_id)

    drive(app, scenario)
    assert trail == [w.plan_b, c, w.plan_b, w.plan_b, w.plan_b, w.plan_b, [w.run_waiting], w.plan_b, c, c]


def test_pipeline_follows_applies_run_counts_and_deactivation(chain, session):
    from knitctl.plans import registry

    w, c = chain
    app = make_app(w.home, poll_interval=0.02)
    seen = {}

    async def scenario(pilot):
        graph = await open_pipeline(pilot, app)
        d = apply_plan(session, {"/s": ["kind:score"]}, {"/plot": ["kind:plot"]}, image="knit/busybox:1").plan.plan_id
        await until(pilot, lambda: d in graph.canvas.boxes, what="the applied plan drawn")
        seen["d"] = (graph.canvas.boxes[d].layer, [(k.up, k.down) for k in graph.canvas.links if k.down == d])
        seen["status"] = screen_text(app).splitlines()[1]
        canvas = graph.canvas
        finish_run(session, w.run_waiting, "done")
        await until(pilot, lambda: "done 1" in box_line(screen_text(app), w.plan_b, 2), what="B's counts moved")
        registry.set_active(session, c, False)
        await until(pilot, lambda: "○ inactive" in box_line(screen_text(app), c, 0), what="C deactivated")
        seen["in_place"] = graph.canvas is canvas                          # counts and state: no new layout
        seen["d_id"] = d

    drive(app, scenario, size=(160, 40))
    assert seen["d"] == (2, [(w.plan_b, seen["d_id"])])
    assert "4 plans · 3 links" in seen["status"]
    assert seen["in_place"]


def test_pipeline_with_no_plans_says_how_to_make_one(knit_home):
    app = make_app(knit_home)
    seen = {}

    async def scenario(pilot):
        graph = await open_pipeline(pilot, app)
        seen["text"] = screen_text(app)
        seen["selected"] = graph.selected
        await pilot.press("enter", "down", "R")                           # nothing to act on: no error
        seen["screen"] = screen_name(app)

    drive(app, scenario)
    assert "no plans yet: knitctl plan apply FILE" in seen["text"]
    assert seen["selected"] is None and seen["screen"] == "PipelineScreen"


# -- the layout (pure) ------------------------------------------------------------------------------------


def box(pid: str) -> PlanBox:
    return PlanBox(pid, "img", True, {})


def test_layer_is_the_longest_path_and_long_links_pass_through():
    links = [Link("a", "b", "/i", ("t:1",)), Link("b", "c", "/i", ("t:2",)), Link("a", "c", "/j", ("t:1",))]
    layer, kept = layers(["a", "b", "c"], links)
    assert layer == {"a": 0, "b": 1, "c": 2} and kept == links
    cv = layout([box("a"), box("b"), box("c")], links)
    assert cv.columns == [["a"], ["b"], ["c"]]
    assert cv.boxes["c"].ports == {"/i": cv.boxes["c"].y + 1, "/j": cv.boxes["c"].y + 2}   # a row per fed input
    # a→c crosses layer 1 below b: a horizontal line across b's column, lit as that link's
    row = next(y for y in range(cv.height) if cv.owners[y][cv.boxes["b"].x] == frozenset({2}))
    assert row > cv.boxes["b"].y + cv.boxes["b"].height - 1
    assert set("".join(cv.chars[row][cv.boxes["b"].x:cv.boxes["b"].x + BOX_W])) == {"─"}


def test_feeding_edges_are_the_plan_graphs_edges():
    import random

    from knitctl.plans.graph import PlanShape, edges

    rng = random.Random(3)
    vocab = [f"k{i}:v{j}" for i in range(4) for j in range(3)] + ["knit#id:abc"]

    def tags(n: int) -> frozenset[str]:
        return frozenset(rng.sample(vocab, n))

    shapes = [PlanShape(f"p{i}", {f"/i{j}": tags(rng.randint(0, 2)) for j in range(rng.randint(1, 3))},
                        {f"/o{j}": tags(rng.randint(1, 5)) for j in range(rng.randint(0, 3))}) for i in range(60)]
    expected = sorted(edges(shapes))
    assert len(expected) > 50
    assert sorted(feeding_edges(shapes)) == expected


def test_a_link_that_would_close_a_cycle_is_left_out():
    layer, kept = layers(["a", "b"], [Link("a", "b", "/i", ()), Link("b", "a", "/i", ())])
    assert kept == [] and layer == {"a": 0, "b": 0}


def test_long_labels_are_cut_and_moves_follow_the_layers():
    tags = tuple(f"key{i}:value{i}" for i in range(6))
    cv = layout([box("a"), box("b"), box("x")], [Link("a", "b", "/i", tags)])
    text = "\n".join("".join(r) for r in cv.chars)
    assert "key0:value0 key1:value1" in text and "…" in text and " ".join(tags) not in text
    label = next(r for r in ("".join(r) for r in cv.chars) if "key0" in r)
    assert len(label.split(" key0")[1].split("─▶")[0].strip()) <= LABEL_MAX
    m = moves(cv)
    assert cv.columns == [["a", "x"], ["b"]]
    assert (m.down["a"], m.up["x"], m.right["x"], m.left["b"]) == ("x", "a", "b", "a")


# -- plan graph -o svg / png ------------------------------------------------------------------------------


def test_plan_graph_draws_svg_and_png_with_dot(chain, tmp_path):
    w, c = chain
    assert shutil.which("dot"), "Graphviz's dot is needed here (apt-get install graphviz)"
    r = subprocess.run(cli_command(["plan", "graph", w.plan_b, "-o", "svg"]), env=cli_env(w.home),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    svg = r.stdout.decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert all(p in svg for p in (w.plan_a, w.plan_b, c)) and "/out → /in" in svg
    out = tmp_path / "graph.png"
    with out.open("wb") as f:
        r = subprocess.run(cli_command(["plan", "graph", w.plan_b, "-o", "png"]), env=cli_env(w.home),
                           stdout=f, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_graph_png_refuses_a_terminal(chain):
    import pty

    w, _ = chain
    leader, follower = pty.openpty()
    try:
        r = subprocess.run(cli_command(["plan", "graph", w.plan_b, "-o", "png"]), env=cli_env(w.home),
                           stdout=follower, stderr=subprocess.PIPE, text=True, timeout=60)
        os.close(follower)
        written = b""
        try:
            while chunk := os.read(leader, 4096):
                written += chunk
        except OSError:          # the terminal's other end is closed: all read
            pass
    finally:
        os.close(leader)
    assert r.returncode == 2 and written == b"", (r, written)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "-o png writes an image: send it to a file" in lines[0], r.stderr


def test_plan_graph_picture_without_dot_says_how_to_get_it(chain, tmp_path):
    w, _ = chain
    bare = tmp_path / "bin"          # a PATH with the interpreter's directory only: no dot
    bare.mkdir()
    env = {"PATH": str(bare)}
    for fmt in ("svg", "png"):
        r = subprocess.run(cli_command(["plan", "graph", w.plan_b, "-o", fmt]), env=cli_env(w.home, env),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and r.stdout == "", r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "apt-get install graphviz" in lines[0] and f"-o {fmt}" in lines[0], r.stderr
        assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path / "bin") == []
