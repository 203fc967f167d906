"""Projection (docs/ARCHITECTURE.md#semantics): tag matches become runs, exactly once per assignment, in the triggering transaction."""

from __future__ import annotations

import sqlite3

import pytest

from knitctl import data as data_api
from knitctl import projection, runstate
from knitctl import runs as runs_api
from knitctl import tags as tagrules
from knitctl.catalog import records
from knitctl.errors import Conflict
from knitctl.plans import registry

from conftest import apply_plan, catalog_dump, finish_run, push_datum, runs_of

TWO_INPUTS = {"/in/data": ["project:p", "type:dataset"], "/in/model": ["project:p", "type:model"]}


def assignments(session, plan_id) -> list[dict[str, str]]:
    return [dict(line.split("=", 1) for line in a.split("\n")) for _, _, a in runs_of(session, plan_id)]


def statuses(session, plan_id) -> list[str]:
    return sorted(s for _, s, _ in runs_of(session, plan_id))


# -- the pure rules -----------------------------------------------------------------------------


def test_fits_needs_every_input_tag_and_allows_extra_ones():
    have = {("a", "1"), ("b", "2"), ("c", "3")}
    assert projection.fits(have, [("a", "1"), ("b", "2")])
    assert not projection.fits(have, [("a", "1"), ("b", "9")])
    assert not projection.fits(set(), [("a", "1")])


def test_assignments_are_the_cartesian_product():
    got = list(projection.assignments({"/a": ["x", "y"], "/b": ["1", "2", "3"]}))
    assert len(got) == 6
    assert {tuple(sorted(a.items())) for a in got} == {
        (("/a", a), ("/b", b)) for a in ("x", "y") for b in ("1", "2", "3")
    }


def test_assignments_with_a_fixed_input():
    got = list(projection.assignments({"/a": ["x", "y"], "/b": []}, {"/b": "new"}))
    assert got == [{"/a": "x", "/b": "new"}, {"/a": "y", "/b": "new"}]


def test_assignments_never_repeat_a_datum():
    got = list(projection.assignments({"/a": ["x", "y"], "/b": ["x", "y"]}))
    assert got == [{"/a": "x", "/b": "y"}, {"/a": "y", "/b": "x"}]


def test_assignments_with_an_empty_pool_are_none():
    assert list(projection.assignments({"/a": ["x"], "/b": []})) == []


# -- the acceptance example ---------------------------------------------------------------------


def test_two_datasets_and_three_models_make_exactly_six_runs(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    datasets = [push_datum(session, "project:p", "type:dataset", f"n:{i}") for i in range(2)]
    models = [push_datum(session, "project:p", "type:model", f"n:{i}") for i in range(3)]
    got = assignments(session, plan.plan_id)
    assert len(got) == 6
    assert {(a["/in/data"], a["/in/model"]) for a in got} == {(d.knit_id, m.knit_id) for d in datasets for m in models}
    assert statuses(session, plan.plan_id) == ["waiting"] * 6


def test_six_runs_also_when_the_plan_comes_after_the_data(session):
    push_datum(session, "project:p", "type:dataset", n=2)
    push_datum(session, "project:p", "type:model", n=3)
    result = apply_plan(session, TWO_INPUTS)
    assert len(result.new_runs) == 6
    assert len(runs_of(session, result.plan.plan_id)) == 6
    assert len({frozenset(a.items()) for a in result.assignments}) == 6


def test_a_plan_with_one_input_gets_one_run_per_fitting_datum(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    pushed = push_datum(session, "k:v", n=3)
    assert sorted(a["/in"] for a in assignments(session, plan.plan_id)) == sorted(d.knit_id for d in pushed)


def test_extra_tags_are_fine_missing_ones_are_not(session):
    plan = apply_plan(session, {"/in": ["k:v", "x:1"]}).plan
    push_datum(session, "k:v")                       # lacks x:1
    push_datum(session, "k:v", "x:2")                # x has the wrong value
    fits = push_datum(session, "k:v", "x:1", "extra:yes", "x:2")
    assert assignments(session, plan.plan_id) == [{"/in": fits.knit_id}]


def test_a_run_never_takes_the_same_datum_on_two_inputs(session):
    # One datum is one MLMD INPUT event per run; a plan comparing two data pairs distinct ones.
    plan = apply_plan(session, {"/in/a": ["k:v"], "/in/b": ["k:v"]}).plan
    d = push_datum(session, "k:v")
    assert runs_of(session, plan.plan_id) == []
    e = push_datum(session, "k:v")
    assert sorted((a["/in/a"], a["/in/b"]) for a in assignments(session, plan.plan_id)) == sorted(
        [(d.knit_id, e.knit_id), (e.knit_id, d.knit_id)]
    )


# -- tag changes --------------------------------------------------------------------------------


def test_adding_a_tag_makes_the_runs_it_calls_for(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    push_datum(session, "project:p", "type:model", n=2)
    d = push_datum(session, "project:p")
    assert runs_of(session, plan.plan_id) == []
    data_api.tag(session, d.knit_id, add=["type:dataset"])
    assert len(runs_of(session, plan.plan_id)) == 2


def test_removing_and_re_adding_a_tag_creates_no_new_run(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    d = push_datum(session, "k:v")
    before = runs_of(session, plan.plan_id)
    assert len(before) == 1
    data_api.tag(session, d.knit_id, remove=["k:v"])
    assert runs_of(session, plan.plan_id) == before          # removing keeps the existing run
    data_api.tag(session, d.knit_id, add=["k:v"])
    data_api.tag(session, d.knit_id, remove_keys=["k"])
    data_api.tag(session, d.knit_id, add=["k:v"])
    assert runs_of(session, plan.plan_id) == before


def test_removing_a_tag_drops_future_nominations_only(session):
    a = apply_plan(session, {"/in": ["k:v"]}).plan
    d = push_datum(session, "k:v")
    data_api.tag(session, d.knit_id, remove=["k:v"])
    b = apply_plan(session, {"/in": ["k:v"]}, image="busybox:1.37").plan
    assert len(runs_of(session, a.plan_id)) == 1
    assert runs_of(session, b.plan_id) == []


def test_a_tag_change_that_changes_nothing_projects_nothing(session, monkeypatch):
    apply_plan(session, {"/in": ["k:v"]})
    d = push_datum(session, "k:v")
    calls = []
    monkeypatch.setattr(projection, "project_data", lambda conn, ids: calls.append(ids) or [])
    data_api.tag(session, d.knit_id, add=["k:v"], remove=["absent:tag"])
    assert calls == []


# -- nomination: only data whose producing run is done -------------------------------------------


def chain(session):
    """upload → plan A (/out: type:mid) → plan B takes type:mid."""
    a = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}, log=["type:log"]).plan
    b = apply_plan(session, {"/in": ["type:mid"]}, {"/out": ["type:final"]}).plan
    push_datum(session, "type:raw")
    (run_a, _, _), = runs_of(session, a.plan_id)
    return a, b, run_a


def test_new_runs_get_one_processing_datum_per_output_and_log(session):
    a, _, run_a = chain(session)
    outs = data_api.find(session, transient="yes")
    assert sorted((d.output_path, [str(t) for t in d.tags]) for d in outs) == [("/out", ["type:mid"]), ("log", ["type:log"])]
    assert all(d.run_id == run_a and d.status == "processing" for d in outs)
    assert all(tagrules.Tag(tagrules.KEY_TRANSIENT, "processing") in d.all_tags for d in outs)


def test_outputs_of_an_unfinished_run_are_not_nominated(session):
    _, b, run_a = chain(session)
    with session.catalog.write() as conn:
        for s in ("ready", "running", "completing"):
            runstate.move(conn, run_a, s)
    assert runs_of(session, b.plan_id) == []


def test_a_run_finishing_done_projects_its_outputs_in_the_same_transaction(session):
    _, b, run_a = chain(session)
    out = session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = '/out'", (run_a,))[0]
    with session.catalog.write() as conn:
        for s in ("ready", "running", "completing", "done"):
            runstate.move(conn, run_a, s)
        # still inside the transaction that made it done
        assert [tuple(r) for r in conn.execute("SELECT assignment FROM run WHERE plan_id = ?", (b.plan_id,))] == [(f"/in={out}",)]


def test_failed_outputs_are_never_nominated(session):
    _, b, run_a = chain(session)
    finish_run(session, run_a, "failed")
    assert runs_of(session, b.plan_id) == []
    # not even when a plan arrives later, or the datum is re-tagged
    c = apply_plan(session, {"/in": ["type:mid"]}, image="busybox:1.37").plan
    failed = session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = '/out'", (run_a,))[0]
    data_api.tag(session, failed, add=["more:tags"])
    assert runs_of(session, c.plan_id) == [] and runs_of(session, b.plan_id) == []


def test_a_plan_applied_after_a_run_finished_takes_its_outputs(session):
    a = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}).plan
    push_datum(session, "type:raw")
    finish_run(session, runs_of(session, a.plan_id)[0][0])
    b = apply_plan(session, {"/in": ["type:mid"]}).plan
    assert len(runs_of(session, b.plan_id)) == 1


# -- pins -------------------------------------------------------------------------------------------


def test_a_knit_id_pin_takes_only_that_datum(session):
    d1, d2 = push_datum(session, "k:v", n=2)
    plan = apply_plan(session, {"/in": ["k:v", f"knit#id:{d2.knit_id}"]}).plan
    assert assignments(session, plan.plan_id) == [{"/in": d2.knit_id}]
    push_datum(session, "k:v")
    assert assignments(session, plan.plan_id) == [{"/in": d2.knit_id}]


def test_a_pin_alone_is_enough_to_choose_a_datum(session):
    d1, d2 = push_datum(session, "k:v", n=2)
    plan = apply_plan(session, {"/in/pinned": [f"knit#id:{d1.knit_id}"], "/in/any": ["k:v"]}).plan
    assert assignments(session, plan.plan_id) == [{"/in/any": d2.knit_id, "/in/pinned": d1.knit_id}]


def test_a_pin_with_tags_needs_the_tags_too(session):
    d = push_datum(session, "k:v")
    plan = apply_plan(session, {"/in": ["other:tag", f"knit#id:{d.knit_id}"]}).plan
    assert runs_of(session, plan.plan_id) == []
    data_api.tag(session, d.knit_id, add=["other:tag"])
    assert assignments(session, plan.plan_id) == [{"/in": d.knit_id}]


def test_a_timestamp_pin_takes_the_data_finished_at_that_time(session):
    d1 = push_datum(session, "k:v")
    d2 = push_datum(session, "k:v")
    ts = tagrules.format_time(d2.timestamp_ms)
    plan = apply_plan(session, {"/in": ["k:v", f"knit#timestamp:{ts}"]}).plan
    got = {a["/in"] for a in assignments(session, plan.plan_id)}
    assert got == {d.knit_id for d in (d1, d2) if d.timestamp_ms == d2.timestamp_ms}
    later = push_datum(session, "k:v")
    assert {a["/in"] for a in assignments(session, plan.plan_id)} == got | (
        {later.knit_id} if later.timestamp_ms == d2.timestamp_ms else set()
    )


def test_a_pin_on_a_datum_pushed_later_fits_when_it_arrives(session):
    # the plan can pin only ids that exist, but the datum may get its tags later
    d = push_datum(session, "k:v")
    plan = apply_plan(session, {"/in/a": [f"knit#id:{d.knit_id}"], "/in/b": ["late:yes"]}).plan
    assert runs_of(session, plan.plan_id) == []
    e = push_datum(session, "late:yes")
    assert assignments(session, plan.plan_id) == [{"/in/a": d.knit_id, "/in/b": e.knit_id}]


def test_a_pin_on_an_unfinished_output_fits_when_its_run_is_done(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan
    push_datum(session, "s:0")
    (run_a, _, _), = runs_of(session, a.plan_id)
    out = session.catalog.one("SELECT knit_id FROM data WHERE run_id = ?", (run_a,))[0]
    only_pin = apply_plan(session, {"/in": [f"knit#id:{out}"]}).plan
    pin_and_tag = apply_plan(session, {"/in": [f"knit#id:{out}", "s:1"]}).plan
    assert runs_of(session, only_pin.plan_id) == [] and runs_of(session, pin_and_tag.plan_id) == []
    finish_run(session, run_a)
    assert assignments(session, only_pin.plan_id) == [{"/in": out}]
    assert assignments(session, pin_and_tag.plan_id) == [{"/in": out}]


# -- plans: apply twice, activation --------------------------------------------------------------------


def test_applying_a_plan_twice_yields_one_plan(session):
    push_datum(session, "k:v")
    first = apply_plan(session, {"/in": ["k:v"]})
    second = apply_plan(session, {"/in": ["k:v"]})
    assert first.created and not second.created
    assert second.plan.plan_id == first.plan.plan_id
    assert second.new_runs == []
    assert [p.plan_id for p in registry.find(session)] == [first.plan.plan_id]
    assert len(runs_of(session, first.plan.plan_id)) == 1


def test_reapplying_with_other_mutable_fields_returns_the_plan_and_says_how_to_change_them(session):
    first = apply_plan(session, {"/in": ["k:v"]})
    again = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 2}, annotations=["a=b"], active=False)
    assert again.plan.plan_id == first.plan.plan_id and not again.created
    text = " ".join(again.warnings)
    assert "plan resource" in text and "plan annotate" in text and "plan active" in text
    assert again.plan.active is True and again.plan.resources.cpu is None


def test_a_plan_applied_inactive_makes_deactivated_runs(session):
    push_datum(session, "k:v", n=2)
    plan = apply_plan(session, {"/in": ["k:v"]}, active=False).plan
    assert plan.active is False
    assert statuses(session, plan.plan_id) == ["deactivated"] * 2
    push_datum(session, "k:v")
    assert statuses(session, plan.plan_id) == ["deactivated"] * 3


def test_deactivate_and_activate_swap_waiting_and_deactivated(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    push_datum(session, "k:v", n=3)
    done_run = runs_of(session, plan.plan_id)[0][0]
    finish_run(session, done_run)
    p, moved = registry.set_active(session, plan.plan_id, False)
    assert (p.active, moved) == (False, 2)
    assert statuses(session, plan.plan_id) == ["deactivated", "deactivated", "done"]
    p, moved = registry.set_active(session, plan.plan_id, True)
    assert (p.active, moved) == (True, 2)
    assert statuses(session, plan.plan_id) == ["done", "waiting", "waiting"]
    history = [r[0] for r in session.catalog.query(
        "SELECT status FROM run_history WHERE run_id = ? ORDER BY rowid", (runs_of(session, plan.plan_id)[1][0],))]
    assert history == ["waiting", "deactivated", "waiting"]


def test_activation_creates_no_duplicate_runs(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, active=False).plan
    push_datum(session, "k:v", n=2)
    before = {r for r, _, _ in runs_of(session, plan.plan_id)}
    registry.set_active(session, plan.plan_id, True)
    registry.set_active(session, plan.plan_id, True)
    assert {r for r, _, _ in runs_of(session, plan.plan_id)} == before


def test_projecting_a_plan_again_creates_nothing(session):
    plan = apply_plan(session, TWO_INPUTS).plan
    push_datum(session, "project:p", "type:dataset", n=2)
    push_datum(session, "project:p", "type:model", n=2)
    with session.catalog.write() as conn:
        assert projection.project_plan(conn, plan.plan_id) == []
        assert projection.candidate_runs(conn, plan.plan_id) == []


def test_the_catalog_refuses_a_duplicate_assignment(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    d = push_datum(session, "k:v")
    with pytest.raises(sqlite3.IntegrityError):
        with session.catalog.write() as conn:
            projection.PlanRuns(conn, plan.plan_id).create(conn, {"/in": d.knit_id})
    assert len(runs_of(session, plan.plan_id)) == 1


# -- cycles ---------------------------------------------------------------------------------------------------


def test_a_plan_feeding_itself_is_refused(session):
    with pytest.raises(Conflict, match=r"feed itself \(this plan → this plan\)"):
        apply_plan(session, {"/in": ["type:x"]}, {"/out": ["type:x", "more:1"]})
    assert registry.find(session) == []


def test_a_plan_whose_log_feeds_itself_is_refused(session):
    with pytest.raises(Conflict, match="feed itself"):
        apply_plan(session, {"/in": ["type:log"]}, {"/out": ["type:y"]}, log=["type:log"])


def test_a_two_plan_cycle_is_refused_naming_the_other_plan(session):
    a = apply_plan(session, {"/in": ["type:x"]}, {"/out": ["type:y"]}).plan
    with pytest.raises(Conflict, match=rf"this plan → plan {a.plan_id} → this plan"):
        apply_plan(session, {"/in": ["type:y"]}, {"/out": ["type:x"]})
    assert [p.plan_id for p in registry.find(session)] == [a.plan_id]


def test_a_three_plan_cycle_is_refused_naming_every_plan(session):
    a = apply_plan(session, {"/in": ["s:1"]}, {"/out": ["s:2"]}).plan
    b = apply_plan(session, {"/in": ["s:2"]}, {"/out": ["s:3"]}).plan
    before = catalog_dump(session.home.root)
    with pytest.raises(Conflict) as info:
        apply_plan(session, {"/in": ["s:3"]}, {"/out": ["s:1"]})
    assert f"this plan → plan {a.plan_id} → plan {b.plan_id} → this plan" in info.value.message
    assert catalog_dump(session.home.root) == before


def test_a_chain_without_a_cycle_is_accepted(session):
    apply_plan(session, {"/in": ["s:1"]}, {"/out": ["s:2"]})
    apply_plan(session, {"/in": ["s:2"]}, {"/out": ["s:3"]})
    assert apply_plan(session, {"/in": ["s:3"]}, {"/out": ["s:4"]}).created


def test_a_pinned_input_is_fed_by_no_plan_so_makes_no_cycle(session):
    d = push_datum(session, "type:x")
    assert apply_plan(session, {"/in": ["type:x", f"knit#id:{d.knit_id}"]}, {"/out": ["type:x"]}).created


# -- in the triggering transaction -----------------------------------------------------------------------------


def boom(*a, **kw):
    raise RuntimeError("projection failed")


def test_a_failing_projection_rolls_back_the_tag_change(session, monkeypatch):
    apply_plan(session, {"/in": ["k:v"]})
    d = push_datum(session, "other:x")
    before = catalog_dump(session.home.root)
    monkeypatch.setattr(projection.PlanRuns, "create", boom)
    with pytest.raises(RuntimeError):
        data_api.tag(session, d.knit_id, add=["k:v"])
    assert catalog_dump(session.home.root) == before


def test_a_failing_projection_rolls_back_the_plan_apply(session, monkeypatch):
    push_datum(session, "k:v")
    before = catalog_dump(session.home.root)
    monkeypatch.setattr(projection.PlanRuns, "create", boom)
    monkeypatch.setattr(registry, "project_plan", lambda conn, pid: boom())
    with pytest.raises(RuntimeError):
        apply_plan(session, {"/in": ["k:v"]})
    assert catalog_dump(session.home.root) == before


def test_a_failing_projection_rolls_back_the_push(session, monkeypatch):
    apply_plan(session, {"/in": ["k:v"]})
    before = catalog_dump(session.home.root)
    monkeypatch.setattr(projection.PlanRuns, "create", boom)
    with pytest.raises(RuntimeError):
        push_datum(session, "k:v")
    assert catalog_dump(session.home.root) == before
    assert list(session.home.data.iterdir()) == []


# -- never again: invalidated runs ------------------------------------------------------------------------------


def test_an_invalidated_combination_is_never_projected_again(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    d = push_datum(session, "k:v")
    (run_id, _, _), = runs_of(session, plan.plan_id)
    finish_run(session, run_id)
    assert runs_api.rm(session, run_id) == "invalidated"
    data_api.tag(session, d.knit_id, remove=["k:v"])
    data_api.tag(session, d.knit_id, add=["k:v"])
    registry.set_active(session, plan.plan_id, False)
    registry.set_active(session, plan.plan_id, True)
    apply_plan(session, {"/in": ["k:v"]})
    assert runs_of(session, plan.plan_id) == [(run_id, "invalidated", f"/in={d.knit_id}")]


def test_the_upload_pseudo_plan_is_never_projected(session):
    push_datum(session, "k:v")
    assert session.catalog.one("SELECT count(*) FROM plan_input WHERE plan_id = ?", (records.UPLOAD_PLAN,))[0] == 0
    (status,), = session.catalog.query("SELECT status FROM run WHERE plan_id = ?", (records.UPLOAD_PLAN,))
    assert status == "done"
