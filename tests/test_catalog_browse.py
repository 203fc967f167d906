"""The TUI's reads (knitctl/catalog/browse.py) on a real catalog: keyset pages and counts, the data status
filter over runstate's sets, tag filters over INPUT and OUTPUT events, one-hop neighbours, and the TUI's
adapter (tui/query.py) deriving a datum's status from its producing run's."""

from __future__ import annotations

from knitctl import runstate
from knitctl.catalog import browse
from tui import query
from tui.filters import Filter

from conftest import apply_plan, push_datum, runs_of

ROUTE = {
    "waiting": [], "deactivated": ["deactivated"], "ready": ["ready"], "starting": ["ready", "starting"],
    "running": ["ready", "running"], "completing": ["ready", "running", "completing"],
    "aborting": ["ready", "running", "aborting"], "done": ["ready", "running", "completing", "done"],
    "failed": ["ready", "running", "aborting", "failed"],
}


def world(session):
    """One plan with a run per status (and `invalidated`); returns (plan, {status: run id}, pushed data)."""
    plan = apply_plan(session, {"/in": ["k:v"]}, {"/out": ["type:out"]}).plan
    pushed = push_datum(session, "k:v", n=len(ROUTE) + 1)
    ids = [r[0] for r in runs_of(session, plan.plan_id)]
    by_status = {}
    with session.catalog.write() as conn:
        for (status, route), run_id in zip([*ROUTE.items(), ("invalidated", ROUTE["done"])], ids):
            for s in route:
                runstate.move(conn, run_id, s)
            if status == "invalidated":
                runstate.invalidate(conn, run_id, note="test")
            by_status[status] = run_id
    return plan, by_status, pushed


def test_data_status_filter_follows_runstates_sets(session):
    plan, by_status, _ = world(session)
    conn = query.prepare(session.catalog.conn)
    listing = query.DataSource()
    for data_status, runs in (("processing", runstate.LIVE), ("failed", {"failed", "invalidated"}), ("done", {"done"})):
        flt = Filter(statuses=(data_status,), plans=(plan.plan_id,))
        rows = listing.page(conn, flt, None, 100).rows
        assert {r.values["run_id"] for r in rows} == {by_status[s] for s in runs}
        assert {r.values["status"] for r in rows} == {data_status}     # the adapter's derived status
        assert listing.count(conn, flt) == len(rows)


def test_pages_walk_newest_first_by_keyset_and_count_excludes_invalidated_runs(session):
    plan, by_status, _ = world(session)
    conn = query.prepare(session.catalog.conn)
    runs = query.RunSource()
    flt = Filter(plans=(plan.plan_id,))
    first = runs.page(conn, flt, None, 4)
    rest = runs.page(conn, flt, first.rows[-1].order, 100)
    keys = [r.key for r in first.rows + rest.rows]
    assert not first.done and rest.done
    assert len(keys) == len(set(keys)) == len(ROUTE)                   # invalidated is hidden without a status filter
    assert by_status["invalidated"] not in keys
    assert [r.order for r in first.rows + rest.rows] == sorted((r.order for r in first.rows + rest.rows), reverse=True)
    assert runs.count(conn, flt) == len(ROUTE)
    assert runs.fetch(conn, Filter(statuses=("done",)), keys).keys() == {by_status["done"]}


def test_a_tag_filter_finds_runs_by_their_inputs_and_their_outputs(session):
    plan, by_status, _ = world(session)
    conn = query.prepare(session.catalog.conn)
    runs = query.RunSource()
    by_input = runs.page(conn, Filter(tags=(("k", "v"),)), None, 100).rows
    assert {r.key for r in by_input} == {by_status[s] for s in ROUTE}
    by_output = runs.page(conn, Filter(tags=(("type", "out"),)), None, 100).rows
    assert {r.key for r in by_output} == {by_status[s] for s in ROUTE}
    assert runs.page(conn, Filter(tags=(("type", "nothing"),)), None, 100).rows == []


def test_neighbours_one_hop_each_way_and_their_labels(session):
    _, by_status, pushed = world(session)
    conn = session.catalog.conn
    run_id = by_status["done"]
    up = browse.neighbours(conn, "run", run_id, "up")
    assert up.total == 1 and up.items[0][0] == "data" and up.items[0][2] == "/in"
    down = browse.neighbours(conn, "run", run_id, "down")
    assert [(k, p) for k, _, p in down.items] == [("data", "/out")]
    source = up.items[0][1]
    assert browse.neighbours(conn, "data", source, "down").items == [("run", run_id, "/in")]
    facts = query.describe(conn, [("run", run_id), ("data", source)])
    assert facts[("run", run_id)]["status"] == "done"
    assert facts[("data", source)]["run_status"] == "done" and facts[("data", source)]["status"] == "done"
    assert browse.producer_of(conn, down.items[0][1]) == run_id
    assert browse.producer_of(conn, "nosuchdatum") is None and browse.plan_of_run(conn, "nosuchrun") is None
    assert {d.knit_id for d in pushed} >= {source}
