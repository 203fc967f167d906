"""knitd's questions to the catalog (knitctl/catalog/scheduler.py), on a real catalog: the status sets
they ask about are runstate's, inputs are INPUT events, outputs commit with their URI, GC's known ids."""

from __future__ import annotations

import json

from knitctl import runstate
from knitctl.catalog import scheduler

from conftest import apply_plan, push_datum, runs_of

# How to reach each status from `waiting` by legal moves.
ROUTE = {
    "waiting": [],
    "deactivated": ["deactivated"],
    "ready": ["ready"],
    "starting": ["ready", "starting"],
    "running": ["ready", "running"],
    "completing": ["ready", "running", "completing"],
    "aborting": ["ready", "running", "aborting"],
    "done": ["ready", "running", "completing", "done"],
    "failed": ["ready", "running", "aborting", "failed"],
}


def runs_in_every_status(session) -> dict[str, str]:
    """status -> run id: one run of one plan per status (contexts: `ctx-<status>` for two, none for `completing`)."""
    plan = apply_plan(session, {"/in": ["k:v"]}, {"/out": ["type:out"]}).plan
    push_datum(session, "k:v", n=len(ROUTE))
    ids = [r[0] for r in runs_of(session, plan.plan_id)]
    out = {}
    with session.catalog.write() as conn:
        for (status, route), run_id in zip(ROUTE.items(), ids):
            for s in route:
                runstate.move(conn, run_id, s)
            if status in ("running", "aborting"):
                conn.execute("UPDATE run SET context = ? WHERE run_id = ?", (f"ctx-{status}", run_id))
            if status == "completing":
                conn.execute("UPDATE run SET context = NULL WHERE run_id = ?", (run_id,))
            out[status] = run_id
    return out


def test_active_runs_and_their_contexts_are_runstates_active_set(session):
    by_status = runs_in_every_status(session)
    conn = session.catalog.conn
    active = dict(scheduler.active_runs(conn))
    assert active == {by_status[s]: s for s in runstate.ACTIVE}
    assert scheduler.active_contexts(conn) == {"local", "ctx-running", "ctx-aborting"}
    started = scheduler.started_run_contexts(conn)
    assert started == {by_status["running"]: "ctx-running", by_status["aborting"]: "ctx-aborting",
                       by_status["completing"]: "local"}
    assert set(started) == {by_status[s] for s in runstate.ACTIVE - runstate.PRESTART}


def test_requests_are_the_ending_runs_among_those_asked_about(session):
    by_status = runs_in_every_status(session)
    asked = [by_status[s] for s in ("running", "completing", "aborting", "done")]
    got = dict(scheduler.ending_among(session.catalog.conn, asked))
    assert got == {by_status["completing"]: "completing", by_status["aborting"]: "aborting"}


def test_waiting_runs_oldest_first_and_a_claim_keeps_a_recorded_context(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, {"/out": ["type:out"]}, resources={"gpu": 1}).plan
    conn = session.catalog.conn
    assert not scheduler.any_waiting(conn)
    push_datum(session, "k:v", n=3)
    ids = [r[0] for r in runs_of(session, plan.plan_id)]
    assert scheduler.any_waiting(conn)
    rows = scheduler.oldest_waiting(conn, 2)
    assert [r[0] for r in rows] == ids[:2]
    assert [json.loads(r[1])["gpu"] for r in rows] == [1, 1]
    assert [r[2] for r in rows] == ["local", "local"]   # the context current when they were made
    with session.catalog.write() as c:
        c.execute("UPDATE run SET context = NULL WHERE run_id = ?", (ids[0],))
        scheduler.claim_context(c, ids[0], "first")
        scheduler.claim_context(c, ids[0], "second")
        scheduler.claim_context(c, ids[1], "third")
    assert scheduler.context_of(conn, ids[0]) == "first"
    assert scheduler.context_of(conn, ids[1]) == "local"
    assert scheduler.context_of(conn, "nosuchrun") is None
    assert scheduler.resources_and_context(conn, ids[0])[1] == "first"
    assert scheduler.resources_and_context(conn, "nosuchrun") is None


def test_a_runs_job_inputs_and_the_commit_of_its_outputs(session):
    plan = apply_plan(session, {"/b": ["k:v"], "/a": ["x:y"]}, {"/out": ["type:out"]}, log=["type:log"]).plan
    a = push_datum(session, "x:y")
    b = push_datum(session, "k:v")
    (run_id, _, _), = runs_of(session, plan.plan_id)
    conn = session.catalog.conn
    assert scheduler.plan_of(conn, run_id) == plan.plan_id
    assert scheduler.input_mounts(conn, run_id) == [("/a", a.knit_id), ("/b", b.knit_id)]
    assert scheduler.started_ms(conn, run_id) is None
    outputs = scheduler.uncommitted_outputs(conn, run_id)
    assert [p for _, p in outputs] == ["/out", "log"]
    with session.catalog.write() as c:
        scheduler.commit_output(c, outputs[0][0], digest="sha256:00", size=3, file_count=1, uri="/store/x")
    assert [p for _, p in scheduler.uncommitted_outputs(conn, run_id)] == ["log"]
    row = conn.execute("SELECT d.digest, d.size, d.file_count, a.uri FROM data d JOIN artifact a ON a.id = d.artifact_id"
                       " WHERE d.knit_id = ?", (outputs[0][0],)).fetchone()
    assert tuple(row) == ("sha256:00", 3, 1, "/store/x")


def test_gc_knows_exactly_the_catalogs_data_ids_across_chunks(session):
    pushed = push_datum(session, "k:v", n=3)
    conn = session.catalog.conn
    assert scheduler.quick_check(conn) == "ok"
    assert scheduler.data_count(conn) == 3
    strangers = [f"{i:032x}" for i in range(scheduler.GC_CHUNK * 2)]
    ids = strangers[:700] + [d.knit_id for d in pushed] + strangers[700:]
    assert scheduler.known_data_ids(conn, ids) == {d.knit_id for d in pushed}
    assert scheduler.known_data_ids(conn, []) == set()
