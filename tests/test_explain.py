"""`knitctl explain data|plan|run`: why something ran, or didn't."""

from __future__ import annotations

import pytest

from knitctl import data as data_api
from knitctl import explain
from knitctl import runs as runs_api
from knitctl.catalog import records
from knitctl.errors import NotFound
from knitctl.plans import registry

from conftest import apply_plan, finish_run, push_datum, runs_of

TWO_INPUTS = {"/in/data": ["project:p", "type:dataset"], "/in/model": ["project:p", "type:model"]}


def out_of(session, run_id, path="/out") -> str:
    return session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = ?", (run_id, path))[0]


# -- data ------------------------------------------------------------------------------------------


def test_a_datum_fits_a_plan_input(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    d = push_datum(session, "project:p", "type:dataset", "extra:1")
    doc = explain.explain_data(session, d.knit_id)
    assert doc["knit_id"] == d.knit_id and doc["status"] == "done"
    assert doc["fits"] == [{"plan_id": plan.plan_id, "path": "/in/data", "active": True, "runs_with_it": False}]
    assert "not_nominated" not in doc


def test_fits_say_whether_runs_use_the_datum(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    d = push_datum(session, "project:p", "type:dataset")
    push_datum(session, "project:p", "type:model")
    (fit,) = explain.explain_data(session, d.knit_id)["fits"]
    assert fit["runs_with_it"] is True and fit["plan_id"] == plan.plan_id


def test_near_misses_name_the_tags_lacking(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    d = push_datum(session, "project:q", "type:model")
    doc = explain.explain_data(session, d.knit_id)
    assert doc["fits"] == []
    assert doc["near_misses"] == [{"plan_id": plan.plan_id, "path": "/in/model", "active": True, "lacks": ["project:p"]}]


def test_a_datum_sharing_no_tag_with_an_input_is_no_near_miss(session):
    apply_plan(session, {"/in": ["a:1", "b:2"]})
    apply_plan(session, {"/in": ["c:1", "d:1", "e:1", "f:1"]})       # lacks 3 of 4: too far to be near
    d = push_datum(session, "z:9", "c:1")
    doc = explain.explain_data(session, d.knit_id)
    assert doc["fits"] == [] and doc["near_misses"] == []


def test_a_fit_on_an_inactive_plan_says_so(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, active=False).plan
    d = push_datum(session, "k:v")
    assert explain.explain_data(session, d.knit_id)["fits"] == [
        {"plan_id": plan.plan_id, "path": "/in", "active": False, "runs_with_it": True}
    ]


def test_a_processing_datum_is_not_nominated_and_says_why(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan
    b = apply_plan(session, {"/in": ["s:1"]}).plan
    push_datum(session, "s:0")
    (run_id, _, _), = runs_of(session, a.plan_id)
    out = out_of(session, run_id)
    doc = explain.explain_data(session, out)
    assert doc["status"] == "processing"
    assert doc["not_nominated"] == f"its producing run {run_id} is not done yet"
    assert doc["fits"] == []
    assert doc["near_misses"] == [{"plan_id": b.plan_id, "path": "/in", "active": True, "lacks": [], "why": doc["not_nominated"]}]


def test_a_failed_datum_is_not_nominated_and_says_why(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan
    apply_plan(session, {"/in": ["s:1"]})
    push_datum(session, "s:0")
    (run_id, _, _), = runs_of(session, a.plan_id)
    finish_run(session, run_id, "failed")
    doc = explain.explain_data(session, out_of(session, run_id))
    assert doc["status"] == "failed"
    assert "failed" in doc["not_nominated"] and "retry" in doc["not_nominated"] and run_id in doc["not_nominated"]
    assert doc["fits"] == []


def test_a_done_output_fits_downstream(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan
    b = apply_plan(session, {"/in": ["s:1"]}).plan
    push_datum(session, "s:0")
    (run_id, _, _), = runs_of(session, a.plan_id)
    finish_run(session, run_id)
    doc = explain.explain_data(session, out_of(session, run_id))
    assert doc["fits"] == [{"plan_id": b.plan_id, "path": "/in", "active": True, "runs_with_it": True}]


def test_explain_of_an_unknown_datum(session):
    with pytest.raises(NotFound):
        explain.explain_data(session, "abcdef")


# -- plan --------------------------------------------------------------------------------------------


def test_plan_counts_fitting_data_per_input_and_runs(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    push_datum(session, "project:p", "type:dataset", n=2)
    push_datum(session, "project:p", "type:model", n=3)
    (first, _, _) = runs_of(session, plan.plan_id)[0]
    finish_run(session, first)
    runs_api.rm(session, first)
    doc = explain.explain_plan(session, plan.plan_id)
    assert doc["inputs"] == [
        {"path": "/in/data", "tags": ["project:p", "type:dataset"], "fitting_data": 2},
        {"path": "/in/model", "tags": ["project:p", "type:model"], "fitting_data": 3},
    ]
    assert (doc["combinations"], doc["runs"], doc["invalidated"]) == (6, 6, 1)
    assert doc["by_status"] == {"waiting": 5, "invalidated": 1}
    assert doc["why_not_more"] == []


def test_plan_explains_missing_data_and_inactivity(session):
    plan = apply_plan(session, TWO_INPUTS, active=False).plan
    push_datum(session, "project:p", "type:dataset")
    doc = explain.explain_plan(session, plan.plan_id)
    assert doc["active"] is False and doc["combinations"] == 0 and doc["runs"] == 0
    assert doc["why_not_more"] == [
        "the plan is inactive: its runs wait as deactivated (`knitctl plan active yes`)",
        "input /in/model has no fitting data: push or tag data with project:p, type:model",
    ]


def test_plan_counts_only_combinations_a_run_can_take(session):
    plan = apply_plan(session, {"/in/a": ["k:v"], "/in/b": ["k:v"]}).plan
    push_datum(session, "k:v", n=3)
    doc = explain.explain_plan(session, plan.plan_id)
    assert (doc["combinations"], doc["runs"]) == (6, 6)
    assert doc["why_not_more"] == ["3 combination(s) would put one datum on two inputs; a run takes each datum once"]


def test_plan_counts_pinned_inputs(session):
    d1, d2 = push_datum(session, "k:v", n=2)
    plan = apply_plan(session, {"/in": ["k:v", f"knit#id:{d1.knit_id}"]}).plan
    doc = explain.explain_plan(session, plan.plan_id)
    assert doc["inputs"][0]["fitting_data"] == 1 and doc["runs"] == 1


# -- run ---------------------------------------------------------------------------------------------


def test_run_gives_its_assignment_and_history(session):
    plan = apply_plan(session, TWO_INPUTS, {"/out": ["type:score"]}).plan
    d = push_datum(session, "project:p", "type:dataset")
    m = push_datum(session, "project:p", "type:model")
    (run_id, _, _), = runs_of(session, plan.plan_id)
    registry.set_active(session, plan.plan_id, False)
    registry.set_active(session, plan.plan_id, True)
    finish_run(session, run_id)
    doc = explain.explain_run(session, run_id)
    assert doc["run_id"] == run_id and doc["plan_id"] == plan.plan_id and doc["status"] == "done"
    assert doc["why"] == [
        {"path": "/in/data", "knit_id": d.knit_id, "matched_tags": ["project:p", "type:dataset"]},
        {"path": "/in/model", "knit_id": m.knit_id, "matched_tags": ["project:p", "type:model"]},
    ]
    assert [h["status"] for h in doc["history"]] == ["waiting", "deactivated", "waiting", "ready", "running", "completing", "done"]
    assert [h.get("note") for h in doc["history"]][1:3] == ["plan deactivated", "plan activated"]


def test_an_upload_run_says_a_person_pushed_it(session):
    d = push_datum(session, "k:v")
    doc = explain.explain_run(session, d.run_id)
    assert doc["plan_id"] == records.UPLOAD_PLAN
    assert doc["why"] == "an upload: a person pushed this data"
    assert doc["outputs"] == [{"path": "/upload", "knit_id": d.knit_id}]


# -- the CLI ------------------------------------------------------------------------------------------


def test_cli_explain_text_and_json(session, cli_inproc):
    plan = apply_plan(session, TWO_INPUTS, active=False).plan
    d = push_datum(session, "project:p", "type:dataset")
    near = push_datum(session, "project:x", "type:model")

    r = cli_inproc("explain", "data", d.knit_id)
    assert r.code == 0, r
    assert r.out_lines == [
        f"datum {d.knit_id} (done)",
        f"fits plan {plan.plan_id} input /in/data (plan inactive)",
        f"nearly fits plan {plan.plan_id} input /in/model: lacks type:model",
    ]

    r = cli_inproc("explain", "data", near.knit_id, "-o", "json")
    assert r.code == 0 and r.json()["near_misses"][0]["lacks"] == ["project:p"], r

    data_api.tag(session, near.knit_id, add=["project:p"])
    r = cli_inproc("explain", "plan", plan.plan_id)
    assert r.code == 0, r
    assert f"plan {plan.plan_id} (inactive)" == r.out_lines[0]
    assert "input /in/data (project:p type:dataset): 1 datum/data fit" in r.out_lines
    assert "1 combination(s); 1 run(s) exist (0 invalidated)" in r.out_lines
    assert any(line.startswith("why not more: the plan is inactive") for line in r.out_lines)

    (run_id, _, _), = runs_of(session, plan.plan_id)
    r = cli_inproc("explain", "run", run_id, "-o", "json")
    assert r.code == 0 and r.json()["status"] == "deactivated" and len(r.json()["why"]) == 2, r
    r = cli_inproc("explain", "plan", "abcdef")
    assert r.code == 1 and r.err_lines == ["knitctl: error: no plan with id 'abcdef'; list them with `knitctl plan find`"], r
