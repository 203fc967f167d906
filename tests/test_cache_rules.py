"""Reuse (a plan's `cache`, knitctl/reuse.py): the rules, the plan field, and the run loop over the scripted
executor (no Docker; tests/test_cache_runs.py runs the same story in real containers).

- `cache: true` is a plan file field, false by default, strict (a boolean), and not part of the plan's
  identity: turning it on or off is a mutable setting (`knitctl plan cache yes|no`), like resources.
- The input key is a hash over mount paths and content digests; unknown while a `--move` digest is.
- The decision: reuse a done run with the same key; hold for an input being hashed or for a claimed run
  with the same key; a retried run always executes; a plan with cache off is never asked.
- The loop: the second run over the same content ends done without a task, its outputs are hard links to
  the first run's files (same inodes, no bytes added), it is recorded (run_cache, MLMD CACHED,
  `knit.reused_run`) and shown (`run find -s cached`, the status column); what an interrupted cached
  finish left is discarded and the finish done again.
"""

from __future__ import annotations

import os

import pytest
import yaml
from test_run_loop_fake import settle

from knitctl import reuse
from knitctl.catalog import now_ms
from knitctl.digest import DEFERRED
from knitctl.errors import UsageError
from knitctl.plans.spec import parse_plan

from conftest import apply_plan, make_tree, plan_doc, runs_of


def spec_of(**extra):
    return parse_plan(yaml.safe_dump(plan_doc({"/in": ["kind:src"]}, {"/out": ["kind:out"]}, **extra)), "p.yaml")


# -- the plan field ------------------------------------------------------------------------------


def test_cache_is_off_by_default_and_a_boolean():
    assert spec_of().cache is False
    assert spec_of(cache=True).cache is True
    with pytest.raises(UsageError, match=r"p.yaml: cache: must be true or false"):
        spec_of(cache="yes")
    with pytest.raises(UsageError, match="did you mean `cache`"):
        spec_of(cahce=True)


def test_cache_is_not_part_of_the_plans_identity_but_is_kept():
    on, off = spec_of(cache=True), spec_of()
    assert on.hash == off.hash
    assert "cache" not in on.identity()
    assert type(on).from_dict(on.to_dict()).cache is True


def test_applying_the_same_plan_with_cache_changed_keeps_the_plan_and_says_how_to_change_it(session):
    from knitctl.plans import registry

    first = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:out"]}, cache=True)
    assert first.created and first.plan.cache is True
    again = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:out"]})
    assert not again.created and again.plan.plan_id == first.plan.plan_id
    assert any(f"knitctl plan cache no {first.plan.plan_id}" in w for w in again.warnings)
    assert registry.set_cache(session, first.plan.plan_id, False).cache is False
    assert registry.get(session, first.plan.plan_id).to_dict()["cache"] is False


def test_plan_cache_command_turns_it_on_and_refuses_other_words(cli, session):
    plan_id = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:out"]}).plan.plan_id
    r = cli("plan", "cache", "yes", plan_id)
    assert r.code == 0 and "cache on" in r.err
    assert "cache\ton" in cli("plan", "show", plan_id).out
    bad = cli("plan", "cache", "maybe", plan_id)
    assert bad.code == 2 and "yes|no" in bad.err


# -- the pure rules ------------------------------------------------------------------------------


def test_the_input_key_is_over_paths_and_digests_in_any_order():
    k = reuse.input_key({"/a": "sha256:1", "/b": "sha256:2"})
    assert k == reuse.input_key({"/b": "sha256:2", "/a": "sha256:1"}) and k.startswith("sha256:")
    assert k != reuse.input_key({"/a": "sha256:2", "/b": "sha256:1"})  # same contents, swapped mounts
    assert k != reuse.input_key({"/a": "sha256:1", "/c": "sha256:2"})
    assert reuse.input_key({"/a": "sha256:1", "/b": DEFERRED}) is None
    assert reuse.input_key({"/a": None}) is None
    assert reuse.input_key({}) is None


def test_the_decision():
    d = reuse.decide("k", execute=False, pending=[], sources=["r1", "r2"], live=["r3"])
    assert (d.action, d.source) == (reuse.REUSE, "r1") and "r1" in d.why
    d = reuse.decide("k", execute=False, pending=[], sources=[], live=["r3"])
    assert d.action == reuse.HOLD and "r3" in d.why
    assert reuse.decide("k", execute=False, pending=[], sources=[], live=[]).action == reuse.RUN
    d = reuse.decide(None, execute=False, pending=["/in"], sources=[], live=[])
    assert d.action == reuse.HOLD and d.pending == ("/in",) and "--move" in d.why
    assert reuse.decide("k", execute=True, pending=[], sources=["r1"], live=[]).action == reuse.RUN


def test_the_status_label_and_assignments():
    assert reuse.status_label("done", "r1") == "done (cached)"
    assert reuse.status_label("done", None) == "done"
    assert reuse.parse_assignment("/a=x1\n/b=y2") == {"/a": "x1", "/b": "y2"}
    assert reuse.parse_assignment(None) == {}


# -- the run loop over the scripted executor --------------------------------------------------------


@pytest.fixture
def daemon(session):
    from daemon.executors.fake import FakeExecutor
    from daemon.loop import Daemon

    d = Daemon(session.home, FakeExecutor(), parallelism=2, gpus=None)
    try:
        yield d
    finally:
        settle(d)
        d.shutdown()
        d.session.close()


def push(session, content: dict, *tags: str, move: bool = False):
    from knitctl import data as data_api
    from knitctl import ids

    src = make_tree(session.home.root.parent / f"src-{ids.new_id()}", content)
    return data_api.push(session, [src], list(tags), move=move)[0]


def show(session, run_id):
    from knitctl import runs as runs_api

    return runs_api.show(session, run_id)


def the_run_taking(session, plan_id: str, knit_id: str) -> str:
    (run_id,) = [r for r, _, a in runs_of(session, plan_id) if a.endswith("=" + knit_id)]
    return run_id


def out_files(session, run_id: str) -> dict[str, dict[str, os.stat_result]]:
    """output path -> {relative file: stat} of a run's committed outputs."""
    out = {}
    for o in show(session, run_id).outputs:
        root = session.store.path_of(o["knit_id"])
        out[o["path"]] = {p.relative_to(root).as_posix(): p.stat() for p in sorted(root.rglob("*")) if p.is_file()}
    return out


def execution_state(session, run_id: str) -> str:
    """The MLMD state of the run's execution, read through the metadata API."""
    from knitctl.metadata import metadata_store
    from knitctl.metadata import metadata_store_pb2 as pb

    with metadata_store.knit_catalog(session.home.root, readonly=True) as store:
        execution = store.get_execution_by_type_and_name("knit.Run", run_id)
        return pb.Execution.State.Name(execution.last_known_state)


@pytest.fixture
def trained(session, daemon):
    """A plan with cache on whose first run executed (writes a model and a log) over content X: (plan, run)."""
    from daemon.executors.fake import Script

    plan = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:model"]}, log=["kind:log"], cache=True).plan.plan_id
    daemon.executor.scripts[plan] = Script(outputs={"/out": {"model.bin": b"weights", "sub/m.json": b"{}"}},
                                           log=b"training\n")
    first = push(session, {"x.txt": "X"}, "kind:src", "name:a")
    daemon.tick()
    settle(daemon)
    run = the_run_taking(session, plan, first.knit_id)
    assert show(session, run).status == "done" and run in daemon.executor.tasks
    return plan, run


def test_the_same_content_again_is_not_executed_its_outputs_are_the_first_runs_files(session, daemon, trained):
    from knitctl.catalog import mlmd

    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    run_id = the_run_taking(session, plan, again.knit_id)
    run = show(session, run_id)
    assert (run.status, run.reused_run) == ("done", first)
    assert run_id not in daemon.executor.tasks  # no task was started
    assert [h["status"] for h in run.history] == ["waiting", "ready", "completing", "done"]
    mine, theirs = out_files(session, run_id), out_files(session, first)
    assert set(mine) == set(theirs) == {"/out", "log"}
    for path in theirs:  # the same inodes: hard links, not one byte copied
        assert {f: (s.st_ino, s.st_nlink) for f, s in mine[path].items()} == \
               {f: (s.st_ino, 2) for f, s in theirs[path].items()}
    conn = session.catalog.conn
    for o, t in zip(run.outputs, show(session, first).outputs, strict=True):
        assert session.catalog.query("SELECT digest, size, file_count FROM data WHERE knit_id = ?", (o["knit_id"],)) == \
               session.catalog.query("SELECT digest, size, file_count FROM data WHERE knit_id = ?", (t["knit_id"],))
        session.store.verify(o["knit_id"], session.catalog.query("SELECT digest FROM data WHERE knit_id = ?",
                                                                   (o["knit_id"],))[0][0])
    assert execution_state(session, run_id) == "CACHED" and execution_state(session, first) == "COMPLETE"
    assert mlmd.custom_properties(conn, "run", run_id)[reuse.REUSED_PROPERTY] == first
    assert not (session.home.runs / run_id).exists()
    # its provenance: who made it now, and the image that made the outputs it reused
    from knitctl import provenance

    mine_p, first_p = provenance.of_run(session, run_id), provenance.of_run(session, first)
    assert {k: mine_p[k] for k in ("user", "host", "knit_version")} == provenance.who()
    assert all(mine_p.get(k) == first_p.get(k) for k in ("image", "image_id", "repo_digest")), (mine_p, first_p)
    assert mlmd.custom_properties(conn, "run", run_id)["knit.user"] == provenance.who()["user"]


def test_run_find_shows_and_filters_cached_runs(session, daemon, trained, cli):
    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    run_id = the_run_taking(session, plan, again.knit_id)
    table = cli("run", "find", "-p", plan)
    assert f"{run_id}\t{plan}\tdone (cached)" in table.out and f"{first}\t{plan}\tdone\t" in table.out
    only = cli("run", "find", "-s", "cached", "-o", "json").json()
    assert [(r["run_id"], r["status"], r["reused_run"]) for r in only] == [(run_id, "done", first)]
    both = cli("run", "find", "-s", "cached", "-s", "failed", "-o", "json").json()
    assert [r["run_id"] for r in both] == [run_id]
    shown = cli("run", "show", run_id)
    assert "done (cached)" in shown.out and f"the outputs of run {first}" in shown.out
    explained = cli("explain", "run", run_id)
    assert f"cached: it did not execute; its outputs are run {first}'s" in explained.out
    assert f"reused by run(s) {run_id}" in cli("explain", "run", first).out
    assert cli("explain", "run", run_id, "-o", "json").json()["cache"]["reused_run"] == first


def test_different_content_or_cache_off_executes(session, daemon, trained):
    from daemon.executors.fake import Script

    plan, first = trained
    other = push(session, {"x.txt": "Y"}, "kind:src", "name:c")
    off = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:other"]}).plan.plan_id
    daemon.executor.scripts[off] = Script(outputs={"/out": {"o": b"o"}})
    daemon.tick()
    settle(daemon)
    changed = the_run_taking(session, plan, other.knit_id)
    assert show(session, changed).reused_run is None and changed in daemon.executor.tasks
    same = push(session, {"x.txt": "X"}, "kind:src", "name:d")
    daemon.tick()
    settle(daemon)
    assert show(session, the_run_taking(session, plan, same.knit_id)).reused_run == first
    off_runs = [r for r, _, _ in runs_of(session, off)]
    # cache off: each executed, the two over content X too (data a and d)
    assert len(off_runs) == 3 and all(r in daemon.executor.tasks for r in off_runs)
    assert all(show(session, r).reused_run is None for r in off_runs)


def test_a_changed_plan_is_a_new_plan_whose_runs_execute(session, daemon, trained):
    from daemon.executors.fake import Script

    plan, _ = trained
    changed = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:model"]}, log=["kind:log"], cache=True,
                         args=["--epochs", "2"])
    assert changed.created and changed.plan.plan_id != plan
    daemon.executor.scripts[changed.plan.plan_id] = Script(outputs={"/out": {"m": b"2"}})
    daemon.tick()
    settle(daemon)
    (run_id, status, _), = runs_of(session, changed.plan.plan_id)
    assert status == "done" and run_id in daemon.executor.tasks and show(session, run_id).reused_run is None


def test_two_waiting_runs_with_the_same_content_execute_once(session, daemon):
    from daemon.executors.fake import Script

    plan = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:model"]}, cache=True).plan.plan_id
    daemon.executor.scripts[plan] = Script(outputs={"/out": {"m": b"w"}})
    a = push(session, {"x.txt": "X"}, "kind:src", "name:a")
    b = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    run_a, run_b = the_run_taking(session, plan, a.knit_id), the_run_taking(session, plan, b.knit_id)
    with session.catalog.write() as c:
        decisions = reuse.waiting_decisions(c)
    assert decisions[run_a].action == reuse.RUN
    assert decisions[run_b].action == reuse.HOLD and run_a in decisions[run_b].why
    daemon.tick()  # claims a; b waits for it
    settle(daemon)
    assert show(session, run_a).status == "done"
    daemon.tick()  # b: a's result exists now
    settle(daemon)
    assert show(session, run_b).reused_run == run_a and run_b not in daemon.executor.tasks


def test_a_moved_push_is_held_until_its_digest_is_known_then_reused(session, daemon, trained):
    from knitctl.data import ensure_digest

    plan, first = trained
    moved = push(session, {"x.txt": "X"}, "kind:src", "name:m", move=True)
    assert session.catalog.query("SELECT digest FROM data WHERE knit_id = ?", (moved.knit_id,))[0][0] == DEFERRED
    run_id = the_run_taking(session, plan, moved.knit_id)
    daemon.tick()
    settle(daemon)
    assert show(session, run_id).status == "waiting"  # not claimed while its input's content is unknown
    assert "--move" in reuse.explain(session.catalog.conn, run_id)["decision"]["why"]
    ensure_digest(session, moved.knit_id)  # what knitd's background hashing does
    daemon.tick()
    settle(daemon)
    assert show(session, run_id).reused_run == first


def test_a_retried_cached_run_executes(session, daemon, trained):
    from knitctl import runs as runs_api

    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    run_id = the_run_taking(session, plan, again.knit_id)
    assert show(session, run_id).reused_run == first
    runs_api.retry(session, run_id)
    assert show(session, run_id).reused_run is None
    daemon.tick()
    settle(daemon)
    run = show(session, run_id)
    assert run.status == "done" and run.reused_run is None and run_id in daemon.executor.tasks


def test_what_an_interrupted_cached_finish_left_is_discarded_and_the_finish_done_again(session, trained):
    """knitd killed after linking and publishing, before the commit: the run is still `ready`, with a
    half-linked directory in runs/ and an uncommitted output in data/. The next knitd finishes it cleanly."""
    from daemon.executors.fake import FakeExecutor
    from daemon.loop import Daemon
    from knitctl import runstate

    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    run_id = the_run_taking(session, plan, again.knit_id)
    with session.catalog.write() as c:
        runstate.move(c, run_id, "ready", expect="waiting")
    outs = {o["path"]: o["knit_id"] for o in show(session, run_id).outputs}
    half = session.home.runs / run_id / outs["log"]
    half.mkdir(parents=True)
    (half / "junk").write_bytes(b"half")
    published = session.store.path_of(outs["/out"])
    published.mkdir()
    (published / "model.bin").write_bytes(b"not the model")
    os.chmod(published, 0o500)

    d = Daemon(session.home, FakeExecutor(), parallelism=2, gpus=None)
    try:
        d.reconcile()  # what a restarted knitd does first: the `ready` run is handed to a worker again
        settle(d)
    finally:
        d.shutdown()
        d.session.close()
    run = show(session, run_id)
    assert (run.status, run.reused_run) == ("done", first)
    mine, theirs = out_files(session, run_id), out_files(session, first)
    assert {p: {f: s.st_ino for f, s in v.items()} for p, v in mine.items()} == \
           {p: {f: s.st_ino for f, s in v.items()} for p, v in theirs.items()}
    assert not (session.home.runs / run_id).exists()


def test_a_run_whose_outputs_are_marked_bad_is_not_reused(session, daemon, trained):
    from knitctl import marks

    plan, first = trained
    marks.mark_bad(session, show(session, first).outputs[0]["knit_id"], "trained on a bad shard")
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    run_id = the_run_taking(session, plan, again.knit_id)
    assert show(session, run_id).reused_run is None and run_id in daemon.executor.tasks


def test_the_tui_run_detail_shows_a_cached_run_and_the_run_it_reused(session, daemon, trained):
    from tui_support import drive, make_app, screen_text, until

    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    run_id = the_run_taking(session, plan, again.knit_id)
    app = make_app(session.home.root)

    async def scenario(pilot):
        app.open_run(run_id)
        await until(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen" and "done (cached)" in screen_text(app),
                    what="the cached run's detail")
        assert f"the outputs of run {first}" in screen_text(app)

    drive(app, scenario)


def test_a_run_whose_outputs_gc_dropped_is_not_reused(session, daemon, trained, cli):
    plan, first = trained
    dropped = cli("gc", "--older-than", "1ms", "-t", "kind:model")
    assert dropped.code == 0, dropped
    model = show(session, first).outputs[0]["knit_id"]
    assert not session.store.path_of(model).exists()  # its bytes are gone, its metadata kept
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    run_id = the_run_taking(session, plan, again.knit_id)
    with session.catalog.write() as c:
        assert reuse.waiting_decisions(c)[run_id].action == reuse.RUN  # not chosen, rather than tried and failed
    daemon.tick()
    settle(daemon)
    assert show(session, run_id).reused_run is None and run_id in daemon.executor.tasks


def test_turning_cache_on_reuses_runs_that_executed_while_it_was_off(session, daemon):
    from daemon.executors.fake import Script
    from knitctl.plans import registry

    plan = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:model"]}).plan.plan_id
    daemon.executor.scripts[plan] = Script(outputs={"/out": {"m": b"w"}})
    first = push(session, {"x.txt": "X"}, "kind:src", "name:a")
    daemon.tick()
    settle(daemon)
    executed = the_run_taking(session, plan, first.knit_id)
    assert show(session, executed).status == "done"
    registry.set_cache(session, plan, True)
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    assert show(session, the_run_taking(session, plan, again.knit_id)).reused_run == executed


def test_a_ready_run_starts_afresh_whatever_an_interrupted_attempt_left_even_with_cache_turned_off(session, trained):
    """Leftovers of a cached finish cut short, then cache turned off before knitd's restart: the run executes and
    its outputs are its task's alone."""
    from daemon.executors.fake import FakeExecutor, Script
    from daemon.loop import Daemon
    from knitctl import runstate
    from knitctl.plans import registry

    plan, _ = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    run_id = the_run_taking(session, plan, again.knit_id)
    with session.catalog.write() as c:
        runstate.move(c, run_id, "ready", expect="waiting")
    outs = {o["path"]: o["knit_id"] for o in show(session, run_id).outputs}
    (session.home.runs / run_id / outs["/out"]).mkdir(parents=True)
    (session.home.runs / run_id / outs["/out"] / "stale.bin").write_bytes(b"linked before the crash")
    published = session.store.path_of(outs["log"])
    published.mkdir()
    (published / "log").write_bytes(b"torn")
    registry.set_cache(session, plan, False)

    d = Daemon(session.home, FakeExecutor(Script(outputs={"/out": {"fresh.bin": b"new"}}, log=b"ran\n")),
               parallelism=2, gpus=None)
    try:
        d.reconcile()
        settle(d)
    finally:
        d.shutdown()
        d.session.close()
    run = show(session, run_id)
    assert (run.status, run.reused_run) == ("done", None)
    assert {f: s.st_size for f, s in out_files(session, run_id)["/out"].items()} == {"fresh.bin": 3}
    assert (session.store.path_of(outs["log"]) / "log").read_bytes() == b"ran\n"


def _store_bytes(session) -> int:
    """Bytes of the files under the store, each inode once (what the disk holds)."""
    seen = {}
    for p in session.home.data.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def test_gc_counts_a_shared_file_once_and_only_when_its_last_link_goes(session, daemon, trained):
    from knitctl import retention

    plan, first = trained
    again = push(session, {"x.txt": "X"}, "kind:src", "name:b")
    daemon.tick()
    settle(daemon)
    cached = the_run_taking(session, plan, again.knit_id)
    assert show(session, cached).reused_run == first
    models = {r: next(o["knit_id"] for o in show(session, r).outputs if o["path"] == "/out") for r in (first, cached)}

    # the first run's model goes, the cached run's keeps its files: nothing is freed, and gc says so
    older = retention.parse({"rules": [{"keep-newest": 1, "tags": ["kind:model"]}]})
    dry = retention.gc(session, older, dry_run=True)
    assert [d.knit_id for d in dry.drops] == [models[first]] and dry.size == 0
    before = _store_bytes(session)
    real = retention.gc(session, older)
    assert [d.knit_id for d in real.drops] == [models[first]] and real.size == 0
    assert _store_bytes(session) == before
    # now the last link goes: its files are freed, counted once
    every = retention.parse({"rules": [{"older-than": "1ms", "tags": ["kind:model"]}]})
    later = now_ms() + 60_000
    dry = retention.gc(session, every, dry_run=True, at_ms=later)
    assert [d.knit_id for d in dry.drops] == [models[cached]]
    real = retention.gc(session, every, at_ms=later)
    assert dry.size == real.size == before - _store_bytes(session) == len(b"weights") + len(b"{}")
