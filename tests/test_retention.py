"""Retention (knitctl.retention, `knitctl gc`): each rule, dry runs that count what a real run frees, pinned and
in-use data kept, lineage and metadata kept, and a gc killed half-way finished by the next one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from knitctl import data as data_api
from knitctl import explain, render, retention, runstate
from knitctl import lineage as lineage_api
from knitctl.catalog import retention as drop_rows
from knitctl.errors import Conflict, KnitError, UsageError
from knitctl.projection import fitted_inputs

from conftest import apply_plan, finish_run, make_tree, runs_of

DAY = 86_400_000


def later(days: float) -> int:
    from knitctl.catalog import now_ms

    return now_ms() + int(days * DAY)


def rules(*items, pin: str | None = None) -> retention.Retention:
    doc: dict = {"rules": list(items)}
    if pin:
        doc["pin"] = pin
    return retention.parse(doc)


def on_disk(session, knit_id: str) -> int:
    root = session.store.path_of(knit_id)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def push_sized(session, size: int, *tags: str):
    from knitctl import ids

    src = make_tree(session.home.root.parent / f"src-{ids.new_id()}", {"blob.bin": os.urandom(size)})
    return data_api.push(session, [src], list(tags))[0]


def artifact_state(session, knit_id: str) -> str:
    from knitctl.metadata import metadata_store
    from knitctl.metadata import metadata_store_pb2 as pb

    with metadata_store.knit_catalog(session.home.root, readonly=True) as store:
        art = store.get_artifact_by_type_and_name("knit.Data", knit_id)
        return pb.Artifact.State.Name(art.state)


def dropped(session) -> dict[str, str]:
    conn = session.catalog.conn
    return {k: drop_rows.drop_of(conn, k)[0] for k in [r[0] for r in session.catalog.query("SELECT knit_id FROM data")]
            if drop_rows.drop_of(conn, k) is not None}


def finished_ms(session, knit_id: str) -> int:
    return data_api.get(session, knit_id).timestamp_ms


# -- the pure rules ------------------------------------------------------------------------------


def fact(k, t, status="done", tags=("type:m",), size=10):
    return retention.Fact(k, status, t, size, "\n" + "".join(f"{x}\n" for x in sorted(tags)))


def test_keep_newest_per_selector_and_per_exact_tag_set():
    facts = [fact("a", 1), fact("b", 2), fact("c", 3), fact("d", 4, tags=("type:m", "x:y")), fact("e", 5, tags=("other:z",))]
    sel = retention.rule("keep-newest", 2, ["type:m"], where="t")
    assert set(retention.choose(facts, [sel], set(), 100)) == {"a", "b"}          # c and d are the newest two
    per_set = retention.rule("keep-newest", 1, [], where="t")
    assert set(retention.choose(facts, [per_set], set(), 100)) == {"a", "b"}      # {type:m}: c kept; d, e alone in theirs
    assert set(retention.choose(facts, [sel], {"a"}, 100)) == {"b"}              # protected: never chosen


def test_older_than_and_failed_older_than():
    facts = [fact("old", 1), fact("new", 90), fact("oldfail", 1, status="failed"), fact("newfail", 95, status="failed")]
    assert set(retention.choose(facts, [retention.rule("older-than", "50ms", [], where="t")], set(), 100)) == {"old"}
    assert set(retention.choose(facts, [retention.rule("failed-older-than", "50ms", [], where="t")], set(), 100)) == {"oldfail"}


@pytest.mark.parametrize("doc, message", [
    ({"rules": [{"keep-newest": 0}]}, "keep at least 1"),
    ({"rules": [{"keep-newest": "lots"}]}, "whole number"),
    ({"rules": [{"older-than": "soon"}]}, "older-than"),
    ({"rules": [{"younger-than": "1d"}]}, "not a retention rule"),
    ({"rules": [{"older-than": "1d", "keep-newest": 2}]}, "exactly one"),
    ({"rules": [{"older-than": "1d", "tags": ["knit#id:x"]}]}, "reserved"),
    ({"rulez": []}, "unknown key 'rulez'"),
    ({"pin": "knit#bad:x"}, "reserved"),
    ({"every": "10ms"}, "too often"),
])
def test_bad_config_is_one_clear_error(doc, message):
    with pytest.raises(UsageError, match=message):
        retention.parse(doc)


def test_config_file_retention_section_is_checked_and_kept(tmp_path):
    from knitctl import config

    p = tmp_path / "config.yaml"
    p.write_text("retention:\n  rules:\n    - keep-newest: 3\n      tags: [type:model]\n  every: 1h\n")
    cfg = config.load(p)
    r = retention.parse(cfg.retention)
    assert [str(x) for x in r.rules] == ["keep-newest 3 [type:model]"] and r.every_ms == 3_600_000
    config.save(cfg, p)                      # saving (e.g. `context use`) keeps the section
    assert config.load(p).retention == cfg.retention
    p.write_text("retention:\n  rules:\n    - older-than: never\n")
    with pytest.raises(UsageError, match=r"config.yaml: retention.rules\[0\]"):
        config.load(p)


# -- gc on a catalog --------------------------------------------------------------------------------


def test_keep_newest_drops_the_older_ones_and_frees_their_bytes(session):
    pushed = [push_sized(session, 1000 + i, "type:model") for i in range(5)]
    other = push_sized(session, 100, "type:other")
    order = sorted(pushed, key=lambda d: (finished_ms(session, d.knit_id), d.knit_id))
    report = retention.gc(session, rules({"keep-newest": 2, "tags": ["type:model"]}))
    gone = {d.knit_id for d in report.drops}
    assert gone == {d.knit_id for d in order[:3]}
    for d in order[:3]:
        assert not session.store.path_of(d.knit_id).exists()
        assert artifact_state(session, d.knit_id) == "DELETED"
    for d in order[3:] + [other]:
        assert session.store.path_of(d.knit_id).is_dir() and artifact_state(session, d.knit_id) == "LIVE"
    assert report.drops[0].rule == "keep-newest 2 [type:model]"


def test_dry_run_counts_what_a_real_run_frees_and_changes_nothing(session, catalog_dump):
    data = [push_sized(session, 3000 * (i + 1), "type:scratch") for i in range(3)]
    keep = push_sized(session, 500, "type:keepme")
    on_disk_sizes = {d.knit_id: on_disk(session, d.knit_id) for d in data}
    before = catalog_dump(session.home.root)
    r = rules({"older-than": "1d", "tags": ["type:scratch"]})
    dry = retention.gc(session, r, dry_run=True, at_ms=later(2))
    assert catalog_dump(session.home.root) == before
    assert all(session.store.path_of(d.knit_id).is_dir() for d in data)
    real = retention.gc(session, r, at_ms=later(2))
    assert {d.knit_id for d in dry.drops} == {d.knit_id for d in real.drops} == set(on_disk_sizes)
    assert dry.size == real.size == sum(on_disk_sizes.values())
    assert session.store.path_of(keep.knit_id).is_dir()
    # a second gc has nothing left to do
    assert retention.gc(session, r, at_ms=later(2)).drops == []


def test_failed_runs_outputs_go_after_their_duration(session):
    from daemon.finish import finish, prepare_outputs

    u = push_sized(session, 10, "type:raw")
    plan = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:out"]}).plan.plan_id
    (run_id, _, _), = runs_of(session, plan)
    with session.catalog.write() as c:
        runstate.move(c, run_id, "ready")
        runstate.move(c, run_id, "running")
    for _, d in prepare_outputs(session, run_id):
        (d / "partial.txt").write_text("half a model")
    assert finish(session, run_id, False, exit_code=1, message="boom") == "failed"
    out = [k for k, in session.catalog.query("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))][0]
    r = rules({"failed-older-than": "7d"})
    assert retention.gc(session, r, at_ms=later(1)).drops == []
    report = retention.gc(session, r, at_ms=later(8))
    assert [d.knit_id for d in report.drops] == [out] and report.size == len("half a model")
    assert session.store.path_of(u.knit_id).is_dir()


def test_pinned_data_and_their_upstream_survive(session):
    u = push_sized(session, 50, "type:raw")
    plan = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}).plan.plan_id
    (run_id, _, _), = runs_of(session, plan)
    finish_run(session, run_id)
    mid = [k for k, in session.catalog.query("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))][0]
    data_api.tag(session, mid, add=["keep:true"])
    loose = push_sized(session, 50, "type:raw2")
    report = retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2))
    assert {d.knit_id for d in report.drops} == {loose.knit_id}      # u is upstream of the pinned mid
    # a configured pin tag
    data_api.tag(session, mid, remove=["keep:true"], add=["retain:forever"])
    report = retention.gc(session, rules({"older-than": "1d"}, pin="retain:forever"), at_ms=later(2))
    assert report.drops == []
    report = retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2))   # unpinned now
    assert {d.knit_id for d in report.drops} == {u.knit_id}  # mid's own row has no bytes here (a test run)


def test_inputs_of_unfinished_runs_survive(session):
    u = push_sized(session, 50, "type:raw")
    plan = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}).plan.plan_id
    (run_id, status, _), = runs_of(session, plan)
    assert status == "waiting"
    assert retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2)).drops == []
    finish_run(session, run_id)
    assert u.knit_id in {d.knit_id for d in retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2)).drops}


def test_dropped_data_keep_lineage_pull_says_why_and_feed_no_new_run(session, tmp_path):
    u = push_sized(session, 50, "type:raw")
    plan = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}).plan.plan_id
    (run_id, _, _), = runs_of(session, plan)
    finish_run(session, run_id)
    retention.gc(session, rules({"older-than": "1d", "tags": ["type:raw"]}), at_ms=later(2))
    # lineage still shows it, marked dropped
    g = lineage_api.walk(session, "data", u.knit_id, up=True, down=True, depth=None).to_dict()
    node = [n for n in g["nodes"] if n["id"] == u.knit_id][0]
    assert node["dropped"]["rule"] == "older-than 1d [type:raw]" and node["dropped"]["state"] == "dropped"
    assert ("run", run_id) in {(n["kind"], n["id"]) for n in g["nodes"]}
    assert "(dropped by gc)" in render.to_dot(g) and "(dropped)" in render.to_tree(g)
    # pull says when and by which rule
    with pytest.raises(KnitError, match=r"dropped by gc at .* \(rule: older-than 1d \[type:raw\]\)"):
        data_api.pull(session, u.knit_id, tmp_path / "out", extract=True)
    shown = data_api.show(session, u.knit_id).to_dict()
    assert shown["dropped"]["rule"] == "older-than 1d [type:raw]"
    # a new plan that would take it: no run; explain says why
    p2 = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:other"]}).plan.plan_id
    assert runs_of(session, p2) == [] and fitted_inputs(session.catalog.conn, u.knit_id) == []
    doc = explain.explain_plan(session, p2)
    assert any("dropped by gc" in why for why in doc["why_not_more"]) and doc["inputs"][0]["dropped_data"] == 1
    assert "dropped by gc" in explain.explain_data(session, u.knit_id)["not_nominated"]
    # its run can't be retried (nothing to run it on)
    from knitctl import runs as runs_api

    with pytest.raises(Conflict, match="dropped by gc"):
        runs_api.retry(session, run_id)


def test_gc_refuses_a_catalog_that_is_not_the_stores(session, monkeypatch):
    push_sized(session, 10, "type:raw")
    import knitctl.pairing as pairing

    monkeypatch.setattr(pairing, "status", lambda home, catalog: (False, "the catalog belongs to another store"))
    with pytest.raises(UsageError, match="nothing deleted: the catalog belongs to another store"):
        retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2))
    assert dropped(session) == {}


KILLED_GC = """
import sys
from knitctl import retention
from knitctl.session import Session
with Session.open() as s:
    retention.gc(s, retention.parse({"rules": [{"older-than": "1d"}]}), at_ms=int(sys.argv[1]))
"""


def test_a_gc_killed_half_way_leaves_no_half_state_and_the_next_finishes(session, knit_home):
    data = [push_sized(session, 2000, "type:scratch") for _ in range(4)]
    digests = {d.knit_id: d.digest for d in data}
    at = later(2)
    env = {**os.environ, "KNIT_HOME": str(knit_home), retention.KILL_AFTER_ENV: "1"}
    proc = subprocess.run([sys.executable, "-c", KILLED_GC, str(at)], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    states = dropped(session)
    assert set(states) == set(digests) and set(states.values()) == {"dropping"}   # chosen in one transaction
    whole = [k for k in digests if session.store.path_of(k).exists()]
    assert len(whole) == 3                                            # the first one's bytes went, the rest are whole
    for k in whole:
        assert session.store.manifest(session.store.path_of(k)).digest == digests[k]
    for k in digests:   # being dropped: never nominated, pull says so
        assert fitted_inputs(session.catalog.conn, k) == []
    with pytest.raises(KnitError, match="being dropped"):
        data_api.pull(session, whole[0], knit_home.parent / "out", extract=True)
    # the next gc (no rule matching anything new) finishes them
    report = retention.gc(session, rules({"keep-newest": 100}))
    assert {d.knit_id for d in report.drops} == set(digests) and all(d.resumed for d in report.drops)
    assert set(dropped(session).values()) == {"dropped"}
    assert not any(session.store.path_of(k).exists() for k in digests)
    assert {artifact_state(session, k) for k in digests} == {"DELETED"}
    assert report.size == 4 * 2000


def test_doctor_and_backup_do_not_miss_dropped_data(session):
    from knitctl.catalog import backup as backup_rows
    from knitctl.catalog import upkeep

    d = push_sized(session, 10, "type:raw")
    retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2))
    committed, known = upkeep.data_ids(session.catalog.conn)
    assert d.knit_id in known and d.knit_id not in committed
    assert d.knit_id not in {c.knit_id for c in backup_rows.committed(session.catalog.conn)}


def test_cli_gc(cli_inproc, session):
    a = push_sized(session, 100, "type:scratch")
    push_sized(session, 100, "type:scratch")
    r = cli_inproc("gc", "--keep-newest", "1", "-t", "type:scratch", "--dry-run", "-o", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert len(doc) == 1 and doc[0]["rule"] == "keep-newest 1 [type:scratch]" and doc[0]["size"] == 100
    assert "would drop 1 datum(s)" in r.err and "(100 bytes)" in r.err
    assert session.store.path_of(doc[0]["knit_id"]).exists()
    r = cli_inproc("gc", "--keep-newest", "1", "-t", "type:scratch")
    assert r.code == 0 and "dropped 1 datum(s)" in r.err and "(100 bytes)" in r.err
    r = cli_inproc("data", "show", doc[0]["knit_id"])
    assert "dropped" in r.out and "keep-newest 1 [type:scratch]" in r.out
    r = cli_inproc("data", "pull", doc[0]["knit_id"], str(session.home.root.parent / "o"))
    assert r.code == 1 and "dropped by gc" in r.err and "\n" not in r.err.strip()
    r = cli_inproc("gc")
    assert r.code == 2 and "no retention rules" in r.err
    r = cli_inproc("gc", "-t", "type:scratch")
    assert r.code == 2 and "--keep-newest" in r.err
    r = cli_inproc("gc", "--older-than", "soon")
    assert r.code == 2 and "--older-than" in r.err
    assert a.knit_id


def test_tui_datum_detail_says_it_was_dropped(session):
    from tui_support import build_world, drive, make_app, screen_text, until

    world = build_world(session)
    retention.gc(session, rules({"older-than": "1d", "tags": ["kind:raw"]}), at_ms=later(400))
    assert dropped(session) == {k: "dropped" for k in world.raw}   # their runs finished (done, failed); B waits on the model
    app = make_app(world.home)

    async def scenario(pilot):
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="data")
        app.screen.table.select_key(world.raw[0])
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "DatumDetailScreen", what="datum detail")
        await until(pilot, lambda: "dropped" in screen_text(app) and "older-than 1d [kind:raw]" in screen_text(app),
                    what="why it is gone")

    drive(app, scenario)


def test_a_datum_pinned_or_taken_after_the_plan_was_made_stays(session, monkeypatch):
    """The plan is made in a snapshot; what changed before the write transaction wins."""
    a = push_sized(session, 10, "type:raw")
    b = push_sized(session, 10, "type:raw")
    real_plan = retention.plan

    def plan_then_change(conn, r, now):
        drops = real_plan(conn, r, now)
        assert {d.knit_id for d in drops} == {a.knit_id, b.knit_id}
        data_api.tag(session, a.knit_id, add=["keep:true"])                                   # pinned meanwhile
        apply_plan(session, {"/in": ["type:raw", f"knit#id:{b.knit_id}"]}, {"/out": ["type:x"]})  # taken meanwhile
        return drops

    monkeypatch.setattr(retention, "plan", plan_then_change)
    report = retention.gc(session, rules({"older-than": "1d"}), at_ms=later(2))
    assert report.drops == [] and dropped(session) == {}
    assert session.store.path_of(a.knit_id).is_dir() and session.store.path_of(b.knit_id).is_dir()


def test_explain_run_says_its_input_was_dropped(session):
    u = push_sized(session, 10, "type:raw")
    plan = apply_plan(session, {"/in": ["type:raw"]}, {"/out": ["type:mid"]}).plan.plan_id
    (run_id, _, _), = runs_of(session, plan)
    finish_run(session, run_id)
    retention.gc(session, rules({"older-than": "1d", "tags": ["type:raw"]}), at_ms=later(2))
    (i,) = explain.explain_run(session, run_id)["why"]
    assert i["knit_id"] == u.knit_id and "older-than 1d [type:raw]" in i["dropped"]
