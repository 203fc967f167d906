"""Marking data bad (knitctl.marks): a root and everything derived from it carry knit#bad:<root>, are not
nominated (unless a plan input asks for them), and unmarking nominates them again without re-running
anything that already ran."""

from __future__ import annotations

import json

import pytest

from knitctl import data as data_api
from knitctl import explain, marks, render
from knitctl import lineage as lineage_api
from knitctl.catalog import marks as mark_rows
from knitctl.catalog import mlmd
from knitctl.errors import UsageError
from knitctl.projection import fitted_inputs, nominated_for

from conftest import apply_plan, finish_run, push_datum, runs_of


def only_run(session, plan_id: str) -> str:
    rs = runs_of(session, plan_id)
    assert len(rs) == 1, rs
    return rs[0][0]


def outputs_of(session, run_id: str) -> list[str]:
    return [r[0] for r in session.catalog.query("SELECT knit_id FROM data WHERE run_id = ? ORDER BY knit_id", (run_id,))]


@pytest.fixture
def chain(session):
    """An upload U (type:raw) → plan A (type:mid, and a log) → plan B (type:final), both runs done."""
    u = push_datum(session, "type:raw")
    a = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}, log=["type:log"]).plan.plan_id
    ra = only_run(session, a)
    b = apply_plan(session, {"/in": ["type:mid"]}, {"/out": ["type:final"]}).plan.plan_id
    finish_run(session, ra)
    rb = only_run(session, b)
    finish_run(session, rb)
    mid = [k for k in outputs_of(session, ra) if "type:mid" in {str(t) for t in data_api.get(session, k).tags}][0]
    log = [k for k in outputs_of(session, ra) if k != mid][0]
    final = outputs_of(session, rb)[0]
    return {"u": u.knit_id, "a": a, "b": b, "ra": ra, "rb": rb, "mid": mid, "log": log, "final": final}


def bad_tags(session, knit_id: str) -> list[str]:
    return [str(t) for t in data_api.get(session, knit_id).system_tags if t.key == "knit#bad"]


def test_marking_marks_every_descendant_and_nothing_else(session, chain):
    other = push_datum(session, "type:other").knit_id
    r = marks.mark_bad(session, chain["u"], "labels shifted by one row")
    assert set(r.data) == {chain["u"], chain["mid"], chain["log"], chain["final"]}
    for k in r.data:
        assert bad_tags(session, k) == [f"knit#bad:{chain['u']}"]
    assert bad_tags(session, other) == []
    # the mark is an MLMD custom property too, and data show keeps the reason and the root
    assert mlmd.custom_properties(session.catalog.conn, "data", chain["final"])[marks.PROPERTY] == chain["u"]
    shown = data_api.show(session, chain["final"]).to_dict()
    assert shown["marked_bad"][0]["root"] == chain["u"] and shown["marked_bad"][0]["reason"] == "labels shifted by one row"


def test_marked_data_are_not_nominated_for_new_plans(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    conn = session.catalog.conn
    for k in (chain["u"], chain["mid"], chain["final"]):
        assert fitted_inputs(conn, k) == []
    c = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:c"]}).plan.plan_id
    d = apply_plan(session, {"/in": ["type:final"]}, {"/out": ["type:d"]}).plan.plan_id
    assert runs_of(session, c) == [] and runs_of(session, d) == []
    assert nominated_for(conn, c, "/in") == []
    # a clean datum is still nominated next to a marked one
    clean = push_datum(session, "type:raw").knit_id
    assert [a for _, _, a in runs_of(session, c)] == [f"/in={clean}"]
    # a tag change does not nominate a marked datum either
    data_api.tag(session, chain["final"], add=["again:yes"])
    assert runs_of(session, d) == []


def test_unmark_restores_nomination_without_rerunning_what_ran(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    c = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:c"]}).plan.plan_id
    d = apply_plan(session, {"/in": ["type:final"]}, {"/out": ["type:d"]}).plan.plan_id
    before_a, before_b = runs_of(session, chain["a"]), runs_of(session, chain["b"])
    r = marks.unmark(session, chain["u"])
    assert set(r.data) == {chain["u"], chain["mid"], chain["log"], chain["final"]}
    for k in r.data:
        assert bad_tags(session, k) == []
    # the plans that never took them now have their runs; A and B are unchanged (their assignments ran)
    assert [a for _, _, a in runs_of(session, c)] == [f"/in={chain['u']}"]
    assert [a for _, _, a in runs_of(session, d)] == [f"/in={chain['final']}"]
    assert runs_of(session, chain["a"]) == before_a and runs_of(session, chain["b"]) == before_b
    assert sorted(r.new_runs) == sorted(runs_of(session, c)[0][:1] + runs_of(session, d)[0][:1])
    assert marks.PROPERTY not in mlmd.custom_properties(session.catalog.conn, "data", chain["final"])
    # the marks are gone from the catalog
    assert mark_rows.roots_of(session.catalog.conn, r.data) == {}


def test_unmark_of_a_descendant_names_the_root(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    with pytest.raises(UsageError, match=f"unmark the root: knitctl data unmark {chain['u']}"):
        marks.unmark(session, chain["final"])
    with pytest.raises(UsageError, match="not marked bad"):
        marks.unmark(session, push_datum(session, "x:y").knit_id)
    assert bad_tags(session, chain["final"]) == [f"knit#bad:{chain['u']}"]


def test_two_roots_unmarking_one_keeps_the_other(session, chain):
    marks.mark_bad(session, chain["u"], "first")
    marks.mark_bad(session, chain["mid"], "second")
    assert bad_tags(session, chain["final"]) == sorted([f"knit#bad:{chain['u']}", f"knit#bad:{chain['mid']}"])
    d = apply_plan(session, {"/in": ["type:final"]}, {"/out": ["type:d"]}).plan.plan_id
    r = marks.unmark(session, chain["u"])
    assert sorted(r.data) == sorted([chain["u"], chain["log"]])   # mid and final still carry mid's mark (the log is A's, a sibling)
    assert bad_tags(session, chain["final"]) == [f"knit#bad:{chain['mid']}"]
    assert runs_of(session, d) == []


def test_a_plan_input_asking_for_marked_data_takes_them_and_its_outputs_are_marked(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    audit = apply_plan(session, {"/in": ["type:raw", f"knit#bad:{chain['u']}"]}, {"/out": ["type:audit"]}).plan.plan_id
    anyone = apply_plan(session, {"/in": ["type:final", "knit#bad:*"]}, {"/out": ["type:audit2"]}).plan.plan_id
    ra = only_run(session, audit)
    assert runs_of(session, audit)[0][2] == f"/in={chain['u']}"
    assert runs_of(session, anyone)[0][2] == f"/in={chain['final']}"
    # such an input takes only marked data
    push_datum(session, "type:raw")
    assert len(runs_of(session, audit)) == 1
    # the run was created after the mark: its output is marked when it finishes from the marked input
    out = outputs_of(session, ra)[0]
    assert bad_tags(session, out) == []
    finish_run(session, ra)
    assert bad_tags(session, out) == [f"knit#bad:{chain['u']}"]


def test_a_failed_run_from_a_marked_input_also_marks_its_outputs(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    audit = apply_plan(session, {"/in": ["type:raw", "knit#bad:*"]}, {"/out": ["type:audit"]}).plan.plan_id
    ra = only_run(session, audit)
    finish_run(session, ra, "failed")
    assert bad_tags(session, outputs_of(session, ra)[0]) == [f"knit#bad:{chain['u']}"]


def test_plan_input_may_ask_for_one_mark_only(session):
    with pytest.raises(UsageError, match="more than one knit#bad"):
        apply_plan(session, {"/in": ["type:raw", "knit#bad:a", "knit#bad:b"]}, {"/out": ["x:y"]})


def test_find_filters_and_explain(session, chain):
    marks.mark_bad(session, chain["mid"], "bad model")
    def ids(**kw):
        return {d.knit_id for d in data_api.find(session, **kw)}
    everything = ids()
    assert {chain["u"], chain["mid"], chain["final"]} <= everything        # default: both
    assert ids(marked="yes") == {chain["mid"], chain["final"]}
    assert ids(marked="no") == everything - {chain["mid"], chain["final"]}
    assert ids(tags=[f"knit#bad:{chain['mid']}"]) == {chain["mid"], chain["final"]}
    assert ids(tags=["knit#bad:*"]) == {chain["mid"], chain["final"]}
    with pytest.raises(UsageError, match="--marked"):
        data_api.find(session, marked="maybe")
    doc = explain.explain_data(session, chain["final"])
    assert "marked bad" in doc["not_nominated"] and chain["mid"] in doc["not_nominated"]
    assert doc["marked_bad"] == [{"root": chain["mid"], "reason": "bad model"}]


def test_lineage_shows_the_marks(session, chain):
    marks.mark_bad(session, chain["mid"], "bad model")
    g = lineage_api.walk(session, "data", chain["u"], up=True, down=True, depth=None).to_dict()
    nodes = {n["id"]: n for n in g["nodes"] if n["kind"] == "data"}
    assert "bad" not in nodes[chain["u"]]
    assert nodes[chain["final"]]["bad"] == [chain["mid"]]
    assert f"knit#bad:{chain['mid']}" in nodes[chain["final"]]["tags"]
    dot = render.to_dot(g)
    assert dot.count('fillcolor="#f8d0d0"') == 2    # mid and final (not A's log: a sibling, not derived from mid)
    mer = render.to_mermaid(g)
    assert mer.count("fill:#f8d0d0") == 2
    tree = render.to_tree(g)
    assert f"data {chain['final']} BAD " in tree and f"data {chain['u']} BAD" not in tree


def test_cli_mark_find_show_unmark(cli_inproc, session, chain):
    r = cli_inproc("data", "mark-bad", chain["u"], "--reason", "labels shifted", "-o", "json")
    assert r.code == 0, r.err
    assert {x["knit_id"] for x in json.loads(r.out)} == {chain["u"], chain["mid"], chain["log"], chain["final"]}
    assert "marked" in r.err
    r = cli_inproc("data", "find", "--marked", "yes", "-o", "json")
    assert r.code == 0, r.err
    found = json.loads(r.out)
    assert {d["knit_id"] for d in found} == {chain["u"], chain["mid"], chain["log"], chain["final"]}
    assert all(f"knit#bad:{chain['u']}" in d["tags"] for d in found)
    r = cli_inproc("data", "find", "--marked", "no")
    assert r.code == 0 and chain["u"] not in r.out
    r = cli_inproc("data", "find")
    assert f"knit#bad:{chain['u']}" in r.out     # both by default, the mark shown
    r = cli_inproc("data", "show", chain["final"])
    assert "marked bad" in r.out and "labels shifted" in r.out and f"from {chain['u']}" in r.out
    r = cli_inproc("data", "mark-bad", chain["u"], "--reason", "  ")
    assert r.code == 2 and "--reason" in r.err
    r = cli_inproc("data", "unmark", chain["final"])
    assert r.code == 2 and f"knitctl data unmark {chain['u']}" in r.err
    r = cli_inproc("data", "unmark", chain["u"])
    assert r.code == 0, r.err
    r = cli_inproc("data", "find", "--marked", "yes", "-o", "json")
    assert json.loads(r.out) == []


def test_tui_data_screen_and_detail_show_the_mark_live(session):
    from tui_support import build_world, drive, make_app, screen_text, until

    world = build_world(session)
    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="data")
        table = app.screen.table
        assert "knit#bad" not in screen_text(app)
        marks.mark_bad(session, world.raw[0], "bad rows")
        mark = f"knit#bad:{world.raw[0]}"
        await until(pilot, lambda: mark in table.row_of(world.model).values["tags"], what="the mark on a descendant")
        await until(pilot, lambda: mark in screen_text(app), what="the mark drawn")
        table.select_key(world.model)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "DatumDetailScreen", what="datum detail")
        await until(pilot, lambda: "marked bad" in screen_text(app) and "bad rows" in screen_text(app), what="the reason")

    drive(app, scenario)


def test_explain_run_names_its_marked_inputs(session, chain):
    marks.mark_bad(session, chain["u"], "bad sensor")
    doc = explain.explain_run(session, chain["ra"])
    assert doc["why"][0]["knit_id"] == chain["u"] and doc["why"][0]["marked_bad"] == [chain["u"]]
    assert explain.explain_run(session, chain["rb"])["why"][0]["marked_bad"] == [chain["u"]]   # mid, a descendant
    marks.unmark(session, chain["u"])
    assert "marked_bad" not in explain.explain_run(session, chain["rb"])["why"][0]


def test_mark_bad_names_the_runs_not_started_that_take_marked_data(session, chain, cli_inproc):
    c = apply_plan(session, {"/in": ["type:final"]}, {"/out": ["type:c"]}).plan.plan_id
    (waiting, status, _), = runs_of(session, c)
    assert status == "waiting"
    r = marks.mark_bad(session, chain["u"], "bad sensor")
    assert r.pending == [waiting]
    assert r.to_dict()["pending_runs"] == [waiting]
    marks.unmark(session, chain["u"])
    r = cli_inproc("data", "mark-bad", chain["u"], "--reason", "again")
    assert r.code == 0 and waiting in r.err and "knitctl run abort" in r.err
