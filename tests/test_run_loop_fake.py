"""The real run loop (daemon/loop.py's Daemon and daemon/worker.py) over the scripted executor
(daemon/executors/fake.py): claiming, starting, following, finishing, stopping and aborting runs,
and the projection that feeds a downstream plan — against a real catalog and store, with no Docker.

The loop is driven by calling `Daemon.tick()` (what a catalog change would do); each run's worker
thread is joined before its end is checked, and a hanging task is awaited through the executor's
condition (`await_following`), so nothing here polls or sleeps.
"""

from __future__ import annotations

import pytest

from daemon.executors.fake import KILLED_EXIT, STOPPED_EXIT, FakeExecutor, Script

from conftest import apply_plan, push_datum, runs_of

TIMEOUT = 30.0


@pytest.fixture
def daemon(session):
    """The run loop over a FakeExecutor (its scripts set per test); hanging tasks are released and the
    workers joined at the end."""
    from daemon.loop import Daemon

    d = Daemon(session.home, FakeExecutor(), parallelism=4, gpus=None)
    try:
        yield d
    finally:
        for run_id in list(d.executor.tasks):
            d.executor.release(run_id, 0)
        for w in list(d.workers.values()):
            if w.thread is not None:
                w.thread.join(TIMEOUT)
        d.shutdown()
        d.session.close()


def settle(d) -> None:
    """Wait for every worker the loop has started to end (its run finished)."""
    for run_id, w in list(d.workers.items()):
        assert w.thread is not None
        w.thread.join(TIMEOUT)
        assert not w.thread.is_alive(), f"the worker of run {run_id} did not end within {TIMEOUT}s"


def only_run(session, plan_id: str) -> str:
    (run_id, _status, _assignment), = runs_of(session, plan_id)
    return run_id


def show(session, run_id: str):
    from knitctl import runs as runs_api

    return runs_api.show(session, run_id)


def outputs(session, run_id: str) -> dict[str, str]:
    """output path ('log' for the log) → knit id."""
    return {o["path"]: o["knit_id"] for o in show(session, run_id).outputs}


def files_of(session, knit_id: str) -> dict[str, bytes]:
    root = session.store.path_of(knit_id)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def tags_of(session, knit_id: str) -> set[str]:
    from knitctl import data as data_api

    return {str(t) for t in data_api.get(session, knit_id).tags}


def test_a_run_goes_ready_running_done_and_its_outputs_become_data_with_the_plans_tags(session, daemon):
    ex = daemon.executor
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:model", "stage:train"]},
                      log=["kind:log"]).plan.plan_id
    pushed = push_datum(session, "kind:raw")
    ex.scripts[plan] = Script(outputs={"/out": {"model.txt": b"weights\n", "sub/notes.txt": b"deep\n"}},
                              log=b"training\n", hang=True)
    run_id = only_run(session, plan)
    assert show(session, run_id).status == "waiting"

    daemon.tick()
    task = ex.await_following(run_id, TIMEOUT)
    assert show(session, run_id).status == "running"
    assert task.inputs == {"/in": files_of(session, pushed.knit_id)}  # the pushed datum, at its mount path
    assert task.job.env["KNIT_RUN_ID"] == run_id and task.job.plan_id == plan

    ex.release(run_id, 0)
    settle(daemon)
    run = show(session, run_id)
    assert (run.status, run.exit_code, run.message) == ("done", 0, None)
    assert [h["status"] for h in run.history] == ["waiting", "ready", "starting", "running", "completing", "done"]
    out = outputs(session, run_id)
    assert files_of(session, out["/out"]) == {"model.txt": b"weights\n", "sub/notes.txt": b"deep\n"}
    assert {"kind:model", "stage:train"} <= tags_of(session, out["/out"])
    assert files_of(session, out["log"]) == {"log": b"training\n"}
    assert "kind:log" in tags_of(session, out["log"])
    assert task.removed  # the task is forgotten once its run is finished
    assert ex.find() == {}


def test_a_failing_task_fails_its_run_with_its_exit_code_and_log_and_feeds_nothing(session, daemon):
    ex = daemon.executor
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"]).plan.plan_id
    downstream = apply_plan(session, {"/in": ["kind:x"]}, {}).plan.plan_id
    push_datum(session, "kind:raw")
    ex.scripts[plan] = Script(exit_code=3, outputs={"/out": {"half.txt": b"half"}}, log=b"boom: no such file\n")

    daemon.tick()
    settle(daemon)
    run_id = only_run(session, plan)
    run = show(session, run_id)
    assert (run.status, run.exit_code, run.message) == ("failed", 3, "exited with code 3")
    assert files_of(session, outputs(session, run_id)["log"]) == {"log": b"boom: no such file\n"}
    assert runs_of(session, downstream) == []  # a failed run's outputs nominate nothing


def test_a_task_that_can_not_start_fails_its_run_with_the_reason_in_its_log(session, daemon):
    ex = daemon.executor
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"]).plan.plan_id
    push_datum(session, "kind:raw")
    ex.scripts[plan] = Script(start_error="image fake:1 can't be pulled: not found")

    daemon.tick()
    settle(daemon)
    run_id = only_run(session, plan)
    run = show(session, run_id)
    assert (run.status, run.exit_code, run.message) == ("failed", None, "image fake:1 can't be pulled: not found")
    assert files_of(session, outputs(session, run_id)["log"]) == {"log": b"knit: image fake:1 can't be pulled: not found\n"}
    assert run_id not in ex.tasks


def test_aborting_a_running_run_kills_its_task_and_fails_it(session, daemon):
    from knitctl import runs as runs_api

    ex = daemon.executor
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"]).plan.plan_id
    downstream = apply_plan(session, {"/in": ["kind:x"]}, {}).plan.plan_id
    push_datum(session, "kind:raw")
    ex.scripts[plan] = Script(outputs={"/out": {"partial.txt": b"p"}}, log=b"working\n", hang=True)
    daemon.tick()
    run_id = only_run(session, plan)
    task = ex.await_following(run_id, TIMEOUT)

    runs_api.stop(session, run_id, fail=True)
    assert show(session, run_id).status == "aborting"
    daemon.tick()  # the loop passes the request on to the executor
    settle(daemon)
    run = show(session, run_id)
    assert (run.status, run.exit_code, run.message) == ("failed", KILLED_EXIT, "aborted by the user")
    assert task.ended_by == "kill" and task.removed
    assert files_of(session, outputs(session, run_id)["log"]) == {"log": b"working\n"}
    assert runs_of(session, downstream) == []


def test_stopping_a_running_run_ends_its_task_and_keeps_its_outputs(session, daemon):
    from knitctl import runs as runs_api

    ex = daemon.executor
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"]).plan.plan_id
    downstream = apply_plan(session, {"/in": ["kind:x"]}, {}).plan.plan_id
    push_datum(session, "kind:raw")
    ex.scripts[plan] = Script(outputs={"/out": {"so-far.txt": b"epoch 3\n"}}, hang=True)
    daemon.tick()
    run_id = only_run(session, plan)
    task = ex.await_following(run_id, TIMEOUT)

    runs_api.stop(session, run_id)
    daemon.tick()
    settle(daemon)
    run = show(session, run_id)
    assert (run.status, run.exit_code, run.message) == ("done", STOPPED_EXIT, "stopped by the user")
    assert task.ended_by == "stop"
    assert files_of(session, outputs(session, run_id)["/out"]) == {"so-far.txt": b"epoch 3\n"}
    assert len(runs_of(session, downstream)) == 1  # a stopped run's outputs are data like any other


def test_the_outputs_of_a_done_run_trigger_the_downstream_plan_which_reads_them(session, daemon):
    ex = daemon.executor
    upstream = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:clean"]}).plan.plan_id
    downstream = apply_plan(session, {"/data": ["kind:clean"]}, {"/model": ["kind:model"]}).plan.plan_id
    push_datum(session, "kind:raw")
    ex.scripts[upstream] = Script(outputs={"/out": {"clean.csv": b"a,b\n1,2\n"}})
    ex.scripts[downstream] = Script(outputs={"/model": {"m.bin": b"\x00\x01"}})

    daemon.tick()
    settle(daemon)
    first = only_run(session, upstream)
    assert show(session, first).status == "done"
    (second, status, _), = runs_of(session, downstream)  # projected when the upstream run was done
    assert status == "waiting"
    cleaned = outputs(session, first)["/out"]
    assert show(session, second).inputs == [{"path": "/data", "knit_id": cleaned}]

    daemon.tick()
    settle(daemon)
    assert show(session, second).status == "done"
    assert ex.tasks[second].inputs == {"/data": {"clean.csv": b"a,b\n1,2\n"}}  # what the task saw at its mount
    assert files_of(session, outputs(session, second)["/model"]) == {"m.bin": b"\x00\x01"}
    assert list(ex.tasks) == [first, second]
