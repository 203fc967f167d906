"""Runs (docs/ARCHITECTURE.md#semantics): the state machine, stop/abort, retry, rm, find and show — at the catalog level."""

from __future__ import annotations

import pytest

from knitctl import data as data_api
from knitctl import runs as runs_api
from knitctl import runstate
from knitctl import tags as tagrules
from knitctl.catalog import mlmd, records
from knitctl.errors import Conflict, NotFound, UsageError
from knitctl.plans import registry

from conftest import apply_plan, finish_run, push_datum, runs_of

# docs/ARCHITECTURE.md#run-states, written out again so a change to either side shows up here.
DESIGN_TABLE = {
    "deactivated": {"waiting", "aborting"},
    "waiting": {"deactivated", "ready", "aborting"},
    "ready": {"starting", "running", "completing", "aborting"},
    "starting": {"running", "completing", "aborting"},
    "running": {"completing", "aborting"},
    "completing": {"done"},
    "aborting": {"failed"},
    "done": set(),
    "failed": set(),
    "invalidated": set(),
}

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
    "invalidated": ["ready", "running", "completing", "done"],
}


def one_run(session, *, outputs=None, tag="k:v"):
    """A plan with one input (`tag`) and a datum fitting it: (plan, datum, run id)."""
    plan = apply_plan(session, {"/in": [tag]}, outputs if outputs is not None else {"/out": ["type:out"]}).plan
    d = push_datum(session, tag)
    (run_id, status, _), = [r for r in runs_of(session, plan.plan_id) if r[2] == f"/in={d.knit_id}"]
    assert status == "waiting"
    return plan, d, run_id


def bring(session, run_id, status):
    with session.catalog.write() as conn:
        for s in ROUTE[status]:
            runstate.move(conn, run_id, s)
        if status == "invalidated":
            runstate.invalidate(conn, run_id, note="test")


def status_of(session, run_id) -> str:
    return session.catalog.one("SELECT status FROM run WHERE run_id = ?", (run_id,))[0]


def history_of(session, run_id) -> list[str]:
    return [r[0] for r in session.catalog.query("SELECT status FROM run_history WHERE run_id = ? ORDER BY rowid", (run_id,))]


def outputs_of(session, run_id) -> list[str]:
    return [r[0] for r in session.catalog.query("SELECT knit_id FROM data WHERE run_id = ? ORDER BY output_path", (run_id,))]


# -- the state machine -----------------------------------------------------------------------------


def test_the_transition_table_is_designs():
    assert {k: set(v) for k, v in runstate.TRANSITIONS.items()} == DESIGN_TABLE
    assert {"done", "failed", "invalidated"} == runstate.TERMINAL


@pytest.mark.parametrize("current", sorted(DESIGN_TABLE))
def test_every_transition_from_a_status_is_allowed_or_refused_as_the_table_says(session, current):
    """All 10 × 10 pairs: listed ones move (and are recorded), every other one raises Conflict and changes nothing."""
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    push_datum(session, "k:v")
    (run_id, _, _), = runs_of(session, plan.plan_id)
    for new in sorted(DESIGN_TABLE):
        # put the run in `current` directly: this test is about the one move that follows
        with session.catalog.write() as conn:
            conn.execute("UPDATE run SET status = ? WHERE run_id = ?", (current, run_id))
        history = history_of(session, run_id)
        assert runstate.can_move(current, new) == (new in DESIGN_TABLE[current])
        if new in DESIGN_TABLE[current]:
            with session.catalog.write() as conn:
                assert runstate.move(conn, run_id, new, note="t") == current
            assert status_of(session, run_id) == new
            assert history_of(session, run_id) == history + [new]
        else:
            with pytest.raises(Conflict) as info, session.catalog.write() as conn:
                runstate.move(conn, run_id, new)
            assert f"is {current} and can't become {new}" in info.value.message
            assert status_of(session, run_id) == current
            assert history_of(session, run_id) == history


def test_a_refusal_says_what_is_allowed(session):
    _, _, run_id = one_run(session)
    with pytest.raises(Conflict, match=r"allowed from waiting: aborting, deactivated, ready"):
        with session.catalog.write() as conn:
            runstate.move(conn, run_id, "done")
    bring(session, run_id, "done")
    with pytest.raises(Conflict, match="none: it is final"):
        with session.catalog.write() as conn:
            runstate.move(conn, run_id, "waiting")


def test_move_of_a_missing_run_is_refused(session):
    with pytest.raises(Conflict, match="does not exist"):
        with session.catalog.write() as conn:
            runstate.move(conn, "0123456789ab", "ready")


def test_move_with_expect_is_a_compare_and_set(session):
    _, _, run_id = one_run(session)
    with pytest.raises(Conflict, match="is waiting, not ready"):
        with session.catalog.write() as conn:
            runstate.move(conn, run_id, "starting", expect="ready")
    assert status_of(session, run_id) == "waiting"
    with session.catalog.write() as conn:
        runstate.move(conn, run_id, "ready", expect="waiting")
    assert status_of(session, run_id) == "ready"


def test_moves_record_times_codes_and_the_mlmd_states(session):
    _, _, run_id = one_run(session)
    out = outputs_of(session, run_id)[0]

    def row():
        return session.catalog.one(
            "SELECT r.started_ms, r.finished_ms, r.exit_code, r.message, e.last_known_state, a.state"
            " FROM run r JOIN execution e ON e.id = r.execution_id, data d JOIN artifact a ON a.id = d.artifact_id"
            " WHERE r.run_id = ? AND d.knit_id = ?",
            (run_id, out),
        )

    assert tuple(row()) == (None, None, None, None, mlmd.E_NEW, mlmd.A_PENDING)
    with session.catalog.write() as conn:
        runstate.move(conn, run_id, "ready")
        runstate.move(conn, run_id, "running")
    started, finished, _, _, state, art = row()
    assert started is not None and finished is None and (state, art) == (mlmd.E_RUNNING, mlmd.A_PENDING)
    with session.catalog.write() as conn:
        runstate.move(conn, run_id, "aborting", exit_code=137, message="killed: out of memory (resources.memory)")
        runstate.move(conn, run_id, "failed")
    s2, finished, code, msg, state, art = row()
    assert s2 == started and finished >= started
    assert (code, msg, state, art) == (137, "killed: out of memory (resources.memory)", mlmd.E_FAILED, mlmd.A_ABANDONED)
    assert data_api.get(session, out).status == "failed"
    assert tagrules.Tag(tagrules.KEY_TRANSIENT, "failed") in data_api.get(session, out).all_tags


def test_done_makes_outputs_live_with_a_timestamp(session):
    _, _, run_id = one_run(session)
    bring(session, run_id, "done")
    d = data_api.get(session, outputs_of(session, run_id)[0])
    assert d.status == "done" and d.timestamp_ms is not None
    art = session.catalog.one("SELECT state FROM artifact a JOIN data d ON d.artifact_id = a.id WHERE d.knit_id = ?", (d.knit_id,))[0]
    assert art == mlmd.A_LIVE


@pytest.mark.parametrize("status", ["waiting", "running", "completing", "invalidated"])
def test_reset_is_only_for_done_or_failed_runs(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    with pytest.raises(Conflict, match="only done or failed runs can be retried"):
        with session.catalog.write() as conn:
            runstate.reset(conn, run_id, note="t")


@pytest.mark.parametrize("status", ["waiting", "deactivated", "running", "aborting", "invalidated"])
def test_invalidate_is_only_for_done_or_failed_runs(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    with pytest.raises(Conflict, match="stop or abort it before removing it"):
        with session.catalog.write() as conn:
            runstate.invalidate(conn, run_id, note="t")


# -- stop and abort ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fail", [True, False], ids=["abort", "stop"])
@pytest.mark.parametrize("status", ["waiting", "deactivated"])
def test_a_run_that_has_not_started_fails_on_stop_or_abort(session, status, fail):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    run = runs_api.stop(session, run_id, fail=fail)
    assert run.status == "failed"
    assert history_of(session, run_id)[-2:] == ["aborting", "failed"]
    assert "before it started" in run.message
    assert data_api.get(session, run.outputs[0]["knit_id"]).status == "failed"
    assert session.catalog.one("SELECT request FROM run WHERE run_id = ?", (run_id,))[0] is None


@pytest.mark.parametrize("status", ["ready", "starting", "running"])
def test_stop_asks_a_started_run_to_complete(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    run = runs_api.stop(session, run_id)
    assert run.status == "completing"
    assert session.catalog.one("SELECT request FROM run WHERE run_id = ?", (run_id,))[0] == "stop"
    assert run.message == "stopped by the user"


@pytest.mark.parametrize("status", ["ready", "starting", "running"])
def test_abort_asks_a_started_run_to_fail(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    run = runs_api.stop(session, run_id, fail=True)
    assert run.status == "aborting"
    assert session.catalog.one("SELECT request FROM run WHERE run_id = ?", (run_id,))[0] == "abort"
    # the daemon finishes it
    with session.catalog.write() as conn:
        runstate.move(conn, run_id, "failed")
    assert status_of(session, run_id) == "failed"


@pytest.mark.parametrize("status, what", [("completing", "already completing"), ("aborting", "already aborting"),
                                          ("done", "already ended"), ("failed", "already ended"), ("invalidated", "already ended")])
@pytest.mark.parametrize("fail", [True, False], ids=["abort", "stop"])
def test_stop_of_an_ending_or_ended_run_is_refused(session, status, what, fail):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    with pytest.raises(Conflict, match=what):
        runs_api.stop(session, run_id, fail=fail)
    assert status_of(session, run_id) == status


# -- retry ---------------------------------------------------------------------------------------------


def two_step(session):
    """upload → run A (done) → its output feeds a waiting run B."""
    a = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}, log=["type:log"]).plan
    b = apply_plan(session, {"/in": ["type:mid"]}, {"/out": ["type:final"]}).plan
    push_datum(session, "type:raw")
    (run_a, _, _), = runs_of(session, a.plan_id)
    finish_run(session, run_a)
    (run_b, status, _), = runs_of(session, b.plan_id)
    assert status == "waiting"
    return a, b, run_a, run_b


def test_retry_is_refused_while_an_output_feeds_a_live_downstream_run(session):
    _, _, run_a, run_b = two_step(session)
    for step in ([], ["ready", "running"], ["completing", "done"]):   # B waiting, then running, then done
        with session.catalog.write() as conn:
            for st in step:
                runstate.move(conn, run_b, st)
        with pytest.raises(Conflict) as info:
            runs_api.retry(session, run_a)
        assert f"its outputs feed run(s) {run_b}" in info.value.message and "knitctl run rm" in info.value.message
        assert status_of(session, run_a) == "done" and len(outputs_of(session, run_a)) == 2


def test_retry_is_allowed_once_the_downstream_run_is_removed(session):
    a, b, run_a, run_b = two_step(session)
    old_outputs = outputs_of(session, run_a)
    finish_run(session, run_b)
    runs_api.rm(session, run_b)
    run = runs_api.retry(session, run_a)
    assert run.status == "waiting"
    new_outputs = [o["knit_id"] for o in run.outputs]
    assert len(new_outputs) == 2 and not set(new_outputs) & set(old_outputs)
    assert [o["path"] for o in run.outputs] == ["/out", "log"]
    for kid in old_outputs:
        with pytest.raises(NotFound):
            data_api.get(session, kid)
    assert all(data_api.get(session, k).status == "processing" for k in new_outputs)
    assert history_of(session, run_a)[-1] == "waiting"
    assert run.exit_code is None and run.finished_ms is None
    # when it finishes again, its new output is a new assignment for B
    finish_run(session, run_a)
    assert sorted(s for _, s, _ in runs_of(session, b.plan_id)) == ["invalidated", "waiting"]


def test_retry_of_a_failed_run(session):
    _, _, run_id = one_run(session)
    bring(session, run_id, "failed")
    assert runs_api.retry(session, run_id).status == "waiting"


def test_retry_on_an_inactive_plan_waits_deactivated(session):
    plan, _, run_id = one_run(session)
    bring(session, run_id, "done")
    registry.set_active(session, plan.plan_id, False)
    assert runs_api.retry(session, run_id).status == "deactivated"
    registry.set_active(session, plan.plan_id, True)
    assert status_of(session, run_id) == "waiting"


@pytest.mark.parametrize("status", ["waiting", "deactivated", "running", "completing", "invalidated"])
def test_retry_is_only_for_done_or_failed_runs(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    with pytest.raises(Conflict, match="only done or failed runs can be retried"):
        runs_api.retry(session, run_id)


def test_retry_of_an_upload_is_refused(session):
    d = push_datum(session, "k:v")
    with pytest.raises(Conflict, match="is an upload"):
        runs_api.retry(session, d.run_id)


# -- rm ---------------------------------------------------------------------------------------------------


def test_rm_invalidates_a_run_and_discards_its_outputs(session):
    plan, d, run_id = one_run(session)
    bring(session, run_id, "done")
    out = outputs_of(session, run_id)
    assert runs_api.rm(session, run_id) == "invalidated"
    assert status_of(session, run_id) == "invalidated"
    assert outputs_of(session, run_id) == []
    with pytest.raises(NotFound):
        data_api.get(session, out[0])
    state = session.catalog.one("SELECT e.last_known_state FROM run r JOIN execution e ON e.id = r.execution_id WHERE r.run_id = ?", (run_id,))[0]
    assert state == mlmd.E_CANCELED
    assert history_of(session, run_id)[-1] == "invalidated"
    # hidden from listings by default, shown when asked for
    assert run_id not in [r.run_id for r in runs_api.find(session)]
    assert [r.run_id for r in runs_api.find(session, statuses=["invalidated"])] == [run_id]


def test_an_invalidated_combination_never_runs_again(session):
    plan, d, run_id = one_run(session)
    bring(session, run_id, "failed")
    runs_api.rm(session, run_id)
    data_api.tag(session, d.knit_id, remove=["k:v"])
    data_api.tag(session, d.knit_id, add=["k:v"])
    assert runs_of(session, plan.plan_id) == [(run_id, "invalidated", f"/in={d.knit_id}")]


@pytest.mark.parametrize("status", ["waiting", "deactivated", "running", "aborting"])
def test_rm_of_a_run_that_has_not_ended_is_refused(session, status):
    _, _, run_id = one_run(session)
    bring(session, run_id, status)
    with pytest.raises(Conflict, match="stop or abort it before removing it"):
        runs_api.rm(session, run_id)
    assert status_of(session, run_id) == status and outputs_of(session, run_id)


def test_rm_twice_is_refused(session):
    _, _, run_id = one_run(session)
    bring(session, run_id, "done")
    runs_api.rm(session, run_id)
    with pytest.raises(Conflict, match="already removed"):
        runs_api.rm(session, run_id)


def test_rm_is_refused_while_outputs_feed_a_live_run(session):
    _, _, run_a, run_b = two_step(session)
    with pytest.raises(Conflict, match=f"its outputs feed run\\(s\\) {run_b}"):
        runs_api.rm(session, run_a)
    assert status_of(session, run_a) == "done"


def test_rm_of_an_upload_deletes_it_and_its_datum(session):
    d = push_datum(session, "nothing:fits")
    path = session.store.path_of(d.knit_id)
    assert path.exists()
    assert runs_api.rm(session, d.run_id) == "deleted"
    with pytest.raises(NotFound):
        data_api.get(session, d.knit_id)
    assert session.catalog.one("SELECT count(*) FROM run WHERE run_id = ?", (d.run_id,))[0] == 0
    assert not path.exists()


def test_rm_of_an_upload_that_feeds_a_run_is_refused(session):
    plan, d, run_id = one_run(session)
    with pytest.raises(Conflict, match=f"feed run\\(s\\) {run_id}"):
        runs_api.rm(session, d.run_id)
    assert data_api.get(session, d.knit_id).status == "done"


# -- find and show ---------------------------------------------------------------------------------------------


@pytest.fixture
def several(session):
    """Two plans; runs in several states with fixed creation times."""
    a = apply_plan(session, {"/in": ["k:a"]}, {"/out": ["type:out"]}).plan
    b = apply_plan(session, {"/in": ["k:b"]}).plan
    da1, da2 = push_datum(session, "k:a", n=2)
    db = push_datum(session, "k:b")
    ra1 = next(r.run_id for r in runs_api.find(session, inputs=[da1.knit_id]))
    ra2 = next(r.run_id for r in runs_api.find(session, inputs=[da2.knit_id]))
    (rb, _, _), = runs_of(session, b.plan_id)
    bring(session, ra1, "done")
    bring(session, rb, "running")
    base = 1_800_000_000_000
    with session.catalog.write() as conn:
        for n, r in enumerate((ra1, ra2, rb)):
            conn.execute("UPDATE run SET created_ms = ? WHERE run_id = ?", (base + n * 3_600_000, r))
    return dict(a=a, b=b, da1=da1, da2=da2, db=db, ra1=ra1, ra2=ra2, rb=rb, base=base)


def ids_of(found) -> list[str]:
    return [r.run_id for r in found]


def test_find_lists_runs_of_real_plans_oldest_first(session, several):
    s = several
    assert ids_of(runs_api.find(session)) == [s["ra1"], s["ra2"], s["rb"]]


def test_find_by_plan(session, several):
    s = several
    assert ids_of(runs_api.find(session, plans=[s["a"].plan_id])) == [s["ra1"], s["ra2"]]
    assert ids_of(runs_api.find(session, plans=[s["a"].plan_id, s["b"].plan_id[:6]])) == [s["ra1"], s["ra2"], s["rb"]]


def test_find_by_input_datum(session, several):
    s = several
    assert ids_of(runs_api.find(session, inputs=[s["da2"].knit_id])) == [s["ra2"]]
    assert ids_of(runs_api.find(session, inputs=[s["da1"].knit_id, s["da2"].knit_id])) == []


def test_find_by_output_datum(session, several):
    s = several
    out = outputs_of(session, s["ra1"])[0]
    assert ids_of(runs_api.find(session, outputs=[out])) == [s["ra1"]]
    # an uploaded datum's run is its upload
    (up,) = runs_api.find(session, outputs=[s["db"].knit_id])
    assert up.run_id == s["db"].run_id and up.plan_id == records.UPLOAD_PLAN


def test_find_by_status(session, several):
    s = several
    assert ids_of(runs_api.find(session, statuses=["done"])) == [s["ra1"]]
    assert ids_of(runs_api.find(session, statuses=["waiting", "running"])) == [s["ra2"], s["rb"]]
    assert ids_of(runs_api.find(session, statuses=["failed"])) == []


def test_find_by_time_window(session, several):
    s = several
    since = tagrules.format_time(s["base"] + 3_600_000)
    assert ids_of(runs_api.find(session, since=since)) == [s["ra2"], s["rb"]]
    assert ids_of(runs_api.find(session, since=since, duration="1h")) == [s["ra2"]]
    assert ids_of(runs_api.find(session, since=tagrules.format_time(s["base"]), duration="2h")) == [s["ra1"], s["ra2"]]
    assert ids_of(runs_api.find(session, since=tagrules.format_time(s["base"] + 10 * 3_600_000))) == []


def test_find_filters_combine(session, several):
    s = several
    assert ids_of(runs_api.find(session, plans=[s["a"].plan_id], statuses=["waiting"])) == [s["ra2"]]
    assert ids_of(runs_api.find(session, plans=[s["b"].plan_id], statuses=["waiting"])) == []


@pytest.mark.parametrize(
    "kw, err, what",
    [
        (dict(statuses=["sleeping"]), UsageError, "is not a run status"),
        (dict(duration="1h"), UsageError, "--duration needs --since"),
        (dict(since="yesterday"), UsageError, "RFC 3339"),
        (dict(since="2026-01-01T00:00:00Z", duration="soon"), UsageError, "not a duration"),
        (dict(plans=["0123456789ab"]), NotFound, "no plan with id"),
        (dict(inputs=["0123456789ab"]), NotFound, "no data with id"),
        (dict(plans=["not-hex"]), UsageError, "ids are hexadecimal"),
    ],
)
def test_find_errors(session, several, kw, err, what):
    with pytest.raises(err, match=what):
        runs_api.find(session, **kw)


def test_show_gives_assignment_outputs_and_history(session, several):
    s = several
    run = runs_api.show(session, s["ra1"][:5])
    assert run.run_id == s["ra1"] and run.plan_id == s["a"].plan_id and run.image == "busybox:1.36"
    assert run.inputs == [{"path": "/in", "knit_id": s["da1"].knit_id}]
    assert [o["path"] for o in run.outputs] == ["/out"]
    assert [h["status"] for h in run.history] == ["waiting", "ready", "running", "completing", "done"]
    d = run.to_dict()
    assert d["status"] == "done" and d["finished"] and d["history"][0]["status"] == "waiting"
    assert run.duration_ms is not None and run.duration_ms >= 0


def test_show_of_an_unknown_run(session):
    with pytest.raises(NotFound, match="no run with id"):
        runs_api.show(session, "abcdef")


# -- the CLI: exit codes and messages ------------------------------------------------------------------------------


def test_cli_run_find_show_stop_abort_retry_rm(session, cli_inproc):
    _, _, run_a, run_b = two_step(session)
    plan_b = session.catalog.one("SELECT plan_id FROM run WHERE run_id = ?", (run_b,))[0]

    r = cli_inproc("run", "find", "-p", plan_b, "--output", "json")
    assert r.code == 0, r
    assert [x["run_id"] for x in r.json()] == [run_b]

    r = cli_inproc("run", "find", "-s", "done", "-i", session.catalog.one(
        "SELECT knit_id FROM data d JOIN run r ON r.run_id = d.run_id WHERE r.plan_id = 'knit#uploaded'")[0])
    assert r.code == 0 and [line.split("\t")[0] for line in r.out_lines] == [run_a], r

    r = cli_inproc("run", "find", "-O", outputs_of(session, run_a)[0], "--since", "2000-01-01T00:00:00Z",
                   "--duration", "100000d", "--output", "json")
    assert r.code == 0 and [x["run_id"] for x in r.json()] == [run_a], r

    r = cli_inproc("run", "show", run_b, "-o", "json")
    assert r.code == 0 and r.json()["status"] == "waiting" and r.json()["history"][0]["status"] == "waiting", r

    r = cli_inproc("run", "retry", run_a)
    assert r.code == 1 and r.out == "", r
    assert r.err_lines == [f"knitctl: error: run {run_a} can't be retried: its outputs feed run(s) {run_b}; "
                           "remove those first (`knitctl run rm`)"]

    r = cli_inproc("run", "abort", run_b)
    assert r.code == 0 and f"run {run_b} is failed" in r.err, r

    r = cli_inproc("run", "stop", run_b)
    assert r.code == 1 and "already ended (failed)" in r.err, r

    r = cli_inproc("run", "rm", run_b)
    assert r.code == 0 and "run invalidated" in r.err, r
    assert status_of(session, run_b) == "invalidated"


def test_cli_run_stop_asks_a_running_run_to_complete(session, cli_inproc):
    _, _, run_id = one_run(session)
    bring(session, run_id, "running")
    r = cli_inproc("run", "stop", run_id)
    assert r.code == 0 and f"run {run_id} is completing" in r.err, r


def test_cli_run_errors_are_one_line(cli, session):
    r = cli("run", "show", "abcdef")
    assert r.code == 1 and r.err_lines == ["knitctl: error: no run with id 'abcdef'; list them with `knitctl run find`"], r
    r = cli("run", "find", "-s", "sleeping")
    assert r.code == 2 and len(r.err_lines) == 1 and "is not a run status" in r.err, r
