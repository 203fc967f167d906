"""knitd against the real dockerd: pushes drive chained runs in containers, logs are captured
and tagged, failures are clear and feed nothing, stop/abort/wait/timeout behave, the parallelism limit
holds, and knitd survives SIGKILL and SIGTERM without running or committing anything twice.

knitd runs as a real subprocess (`python -m daemon`) on the test's KNIT_HOME; the CLI runs as
subprocesses too. Waits poll with deadlines; nothing sleeps blindly. Busybox wherever Python isn't
needed, to keep this quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    apply_plan,
    catalog_rows,
    cli_command,
    cli_env,
    home_containers,
    knitd_diagnostics,
    push_datum,
    require_images,
    run_row,
    runs_of,
    wait_run,
    wait_until,
)

LIVE = ("ready", "starting", "running", "completing", "aborting")


@pytest.fixture
def knitd(knitd, docker_client):
    """conftest's knitd, once the test images are known to exist."""
    require_images(docker_client, BUSYBOX_IMAGE, PYTHON_IMAGE)
    return knitd


def sh(script: str) -> dict:
    """Plan fields running `script` with busybox sh."""
    return {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", script]}


def one_run(home: Path, plan_id: str, *, timeout: float = 30.0) -> str:
    """The id of the plan's only run, once it exists."""
    rows = wait_until(
        lambda: catalog_rows(home, "SELECT run_id FROM run WHERE plan_id = ?", (plan_id,)),
        timeout=timeout, what=f"a run of plan {plan_id}", home=home,
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def outputs_of(home: Path, run_id: str) -> dict[str, str]:
    """output path ('log' for the log) → knit id."""
    return dict(catalog_rows(home, "SELECT output_path, knit_id FROM data WHERE run_id = ?", (run_id,)))


def tags_of(home: Path, knit_id: str) -> set[str]:
    return {f"{k}:{v}" for k, v in catalog_rows(home, "SELECT key, value FROM tag WHERE knit_id = ?", (knit_id,))}


def datum_dir(home: Path, knit_id: str) -> Path:
    from knitctl.home import Home
    from knitctl.store import Store

    return Store(Home.resolve(home)).path_of(knit_id)


def log_of(home: Path, run_id: str) -> str:
    kid = outputs_of(home, run_id)["log"]
    return (datum_dir(home, kid) / "log").read_text()


def running_container(client, home: Path, run_id: str):
    """The run's container (an SDK Container) while it is running, else None."""
    from docker.errors import NotFound

    for c in home_containers(client, home, all=False):
        if c["Labels"].get("knit.run") == run_id and c["State"] == "running":
            try:
                return client.containers.get(c["Id"])
            except NotFound:
                return None
    return None


def wait_running(client, home: Path, run_id: str, *, timeout: float = 30.0):
    """Until the run is `running` in the catalog and its container is running."""
    return wait_until(
        lambda: run_row(home, run_id).get("status") == "running" and running_container(client, home, run_id),
        timeout=timeout, what=f"run {run_id} running in a container", home=home,
    )


# -- pipelines ---------------------------------------------------------------------------------

from pipeline_scripts import apply_chain, push_points  # noqa: E402  (shared with test_kubernetes)


def test_one_push_drives_a_three_plan_chain_with_lineage_and_tagged_logs(cli, knit_home, knitd, session, tmp_path):
    prepare, train, evaluate = apply_chain(session)
    knitd(parallelism=2)
    upload = push_points(cli, tmp_path)

    run_e = one_run(knit_home, evaluate, timeout=90)
    assert wait_run(knit_home, run_e, timeout=90)["status"] == "done", knitd_diagnostics(knit_home)
    run_p, run_t = one_run(knit_home, prepare), one_run(knit_home, train)
    for r in (run_p, run_t, run_e):
        assert run_row(knit_home, r)["status"] == "done"

    metrics = outputs_of(knit_home, run_e)["/metrics"]
    doc = json.loads((datum_dir(knit_home, metrics) / "metrics.json").read_text())
    assert doc["n"] == 10 and doc["mse"] < 1e-9
    assert "kind:metrics" in tags_of(knit_home, metrics)

    # lineage: metrics ← evaluate ← (model ← train ← prepared, prepared) ← prepare ← upload ← the push
    lineage = cli("data", "lineage", metrics, "-u", "-n", "all", "-o", "json")
    assert lineage.code == 0, lineage
    g = lineage.json()
    runs = {n["id"]: n for n in g["nodes"] if n["kind"] == "run"}
    data = {n["id"] for n in g["nodes"] if n["kind"] == "data"}
    assert {run_p, run_t, run_e} <= set(runs)
    assert upload in data
    upload_run = catalog_rows(knit_home, "SELECT run_id FROM data WHERE knit_id = ?", (upload,))[0][0]
    assert runs[upload_run]["plan_id"] == "knit#uploaded"
    edges = {(e["from"]["id"], e["to"]["id"]) for e in g["edges"]}
    assert (upload, run_p) in edges and (upload_run, upload) in edges

    # every run's log is a datum with its plan's log tags and what the task printed
    for run_id, step, line in ((run_p, "prepare", "prepare: 10 rows"), (run_t, "train", "train: a="),
                               (run_e, "evaluate", "evaluate: mse=")):
        log_id = outputs_of(knit_home, run_id)["log"]
        assert {"kind:log", f"step:{step}"} <= tags_of(knit_home, log_id)
        assert line in log_of(knit_home, run_id)
        shown = cli("run", "log", run_id)
        assert shown.code == 0 and line in shown.out
    found = cli("data", "find", "-t", "kind:log", "-o", "json")
    assert found.code == 0, found
    assert len(found.json()) == 3
    # the runs' directories are gone once committed
    assert not any((knit_home / "runs").iterdir())


def test_failing_task_is_failed_with_transient_outputs_and_no_downstream(cli, knit_home, knitd, session):
    up = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:half"]}, log=["kind:log"],
                    **sh("echo first line; echo partial > /out/p.txt; echo 'something broke' >&2; exit 3")).plan.plan_id
    down = apply_plan(session, {"/in": ["kind:half"]}, {"/out": ["kind:whole"]}, **sh("true")).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, up)
    row = wait_run(knit_home, run_id)
    assert row["status"] == "failed"
    assert row["exit_code"] == 3
    assert "exited with code 3" in row["message"]

    out = outputs_of(knit_home, run_id)
    shown = cli("data", "show", out["/out"], "-o", "json")
    assert shown.code == 0, shown
    assert "knit#transient:failed" in shown.json()["tags"]
    assert (datum_dir(knit_home, out["/out"]) / "p.txt").read_text() == "partial\n"  # kept for debugging
    assert "something broke" in log_of(knit_home, run_id)

    show = cli("run", "show", run_id)
    assert show.code == 0, show
    assert "something broke" in show.out and "first line" in show.out
    assert "exited with code 3" in show.out
    wait = cli("run", "wait", run_id)
    assert wait.code == 1, wait

    # nothing downstream: projection happens in the very transaction that failed the run
    assert runs_of(session, down) == []


def test_abort_ends_a_sleeping_task_within_seconds_and_wait_reports_it(cli, knit_home, knitd, session, docker_client):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, **sh("echo sleeping; sleep 300")).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    wait_running(docker_client, knit_home, run_id)

    timed_out = cli("run", "wait", run_id, "--timeout", "1s")
    assert timed_out.code == 124, timed_out

    aborted = cli("run", "abort", run_id)
    assert aborted.code == 0, aborted
    t0 = time.monotonic()
    row = wait_run(knit_home, run_id, timeout=10)
    assert time.monotonic() - t0 < 5
    assert row["status"] == "failed"
    assert "aborted" in row["message"]
    assert cli("run", "wait", run_id).code == 1
    wait_until(lambda: not home_containers(docker_client, knit_home), timeout=10, what="the container removed")


def test_stop_ends_a_sleeping_task_done_keeping_its_outputs(cli, knit_home, knitd, session, docker_client):
    script = "trap 'echo stopping; echo kept > /out/partial.txt; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"], **sh(script)).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    wait_running(docker_client, knit_home, run_id)

    stopped = cli("run", "stop", run_id)
    assert stopped.code == 0, stopped
    waited = cli("run", "wait", run_id, "--timeout", "20s")
    assert waited.code == 0, waited
    row = run_row(knit_home, run_id)
    assert row["status"] == "done" and "stopped" in row["message"]
    out = outputs_of(knit_home, run_id)["/out"]
    assert (datum_dir(knit_home, out) / "partial.txt").read_text() == "kept\n"
    assert "stopping" in log_of(knit_home, run_id)


def test_run_log_follows_a_live_run_to_its_end(cli, knit_home, knitd, session, docker_client):
    script = "for i in 1 2 3 4; do echo line$i; sleep 0.3; done"
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, log=["kind:log"], **sh(script)).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    wait_until(lambda: run_row(knit_home, run_id).get("status") in ("running",) + ("done", "failed"),
               what="the run to start", home=knit_home)
    follow = subprocess.run(cli_command(["run", "log", "-f", run_id]), env=cli_env(knit_home),
                            capture_output=True, text=True, timeout=60)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.split() == ["line1", "line2", "line3", "line4"]
    assert run_row(knit_home, run_id)["status"] == "done"
    assert cli("run", "log", run_id).out == follow.stdout


# -- surviving kills ---------------------------------------------------------------------------


def _exactly_once(home: Path, run_id: str, downstream_plan: str) -> None:
    history = [s for (s,) in catalog_rows(home, "SELECT status FROM run_history WHERE run_id = ? ORDER BY at_ms, rowid", (run_id,))]
    assert history.count("done") == 1, history
    assert history.count("running") == 1, history
    assert history[-1] == "done"
    outs = catalog_rows(home, "SELECT output_path, knit_id, digest FROM data WHERE run_id = ?", (run_id,))
    assert sorted(p for p, _, _ in outs) == ["/out", "log"]
    assert all(d is not None for _, _, d in outs)
    out = dict((p, k) for p, k, _ in outs)
    assert (datum_dir(home, out["/out"]) / "result.txt").read_text() == "finished\n"
    assert log_of(home, run_id).count("started") == 1
    # the output fed exactly one downstream run, which ran
    down = catalog_rows(home, "SELECT run_id, status FROM run WHERE plan_id = ?", (downstream_plan,))
    assert len(down) == 1 and down[0][1] == "done", down
    # every datum in the store is one the catalog knows, once; no run directories left
    committed = {k for (k,) in catalog_rows(home, "SELECT knit_id FROM data WHERE digest IS NOT NULL")}
    on_disk = {p.name for p in (home / "data").rglob("*") if p.is_dir() and p.name in committed}
    assert on_disk == committed
    assert not any((home / "runs").iterdir())


def _killable_pipeline(session):
    """A task that runs until the test lets it go (a `.go` file in its output), and one downstream."""
    task = ("echo started; i=0; while [ ! -e /out/.go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; "
            "rm -f /out/.go; echo finished > /out/result.txt; echo bye")
    first = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:mid"]}, log=["kind:log"], **sh(task)).plan.plan_id
    second = apply_plan(session, {"/in": ["kind:mid"]}, {"/out": ["kind:end"]}, **sh("cat /in/result.txt > /out/copy.txt")).plan.plan_id
    return first, second


def let_go(home: Path, run_id: str) -> None:
    """Let the killable task finish: the `.go` file in its output's staging directory."""
    (home / "runs" / run_id / outputs_of(home, run_id)["/out"] / ".go").write_text("")


def test_sigkill_mid_run_then_restart_completes_and_commits_exactly_once(knit_home, knitd, session, docker_client):
    first, second = _killable_pipeline(session)
    k = knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, first)
    container = wait_running(docker_client, knit_home, run_id)
    k.kill()
    container.reload()
    assert container.status == "running"  # the task outlives knitd
    assert run_row(knit_home, run_id)["status"] == "running"
    # it ends while no knitd watches; the next one finalises it from the exit code
    let_go(knit_home, run_id)
    wait_until(lambda: (container.reload(), container.status)[1] == "exited", timeout=30, what="the task to end")
    assert run_row(knit_home, run_id)["status"] == "running"

    knitd(parallelism=2)
    down_run = one_run(knit_home, second)
    assert wait_run(knit_home, down_run)["status"] == "done"
    assert wait_run(knit_home, run_id)["status"] == "done"
    _exactly_once(knit_home, run_id, second)
    wait_until(lambda: not home_containers(docker_client, knit_home), timeout=10, what="containers removed")


def test_killed_between_moving_outputs_into_the_store_and_committing_them(knit_home, knitd, session, docker_client):
    """knitd dies half-way through finishing (outputs renamed into data/, catalog not yet written):
    the next knitd finishes from there and commits each output once."""
    from daemon.finish import output_dirs

    first, second = _killable_pipeline(session)
    k = knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, first)
    container = wait_running(docker_client, knit_home, run_id)
    k.kill()
    let_go(knit_home, run_id)
    wait_until(lambda: (container.reload(), container.status)[1] == "exited", timeout=30, what="the task to end")
    # what finish() had done when it was killed: the task's output published, nothing in the catalog
    for knit_id, path, d in output_dirs(session, run_id):
        if path != "log":
            session.store.publish(knit_id, d)
    assert run_row(knit_home, run_id)["status"] == "running"

    knitd(parallelism=2)
    assert wait_run(knit_home, one_run(knit_home, second))["status"] == "done"
    _exactly_once(knit_home, run_id, second)


def test_sigkill_then_restart_while_the_task_runs_reattaches(knit_home, knitd, session, docker_client):
    first, second = _killable_pipeline(session)
    k = knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, first)
    container = wait_running(docker_client, knit_home, run_id)
    k.kill()
    knitd(parallelism=2)
    wait_until(lambda: "re-attaching" in (knit_home / "knitd.log").read_text(), timeout=30,
               what="the new knitd to re-attach", home=knit_home)
    container.reload()
    assert container.status == "running"
    let_go(knit_home, run_id)
    assert wait_run(knit_home, one_run(knit_home, second))["status"] == "done"
    _exactly_once(knit_home, run_id, second)
    assert len(catalog_rows(knit_home, "SELECT 1 FROM run WHERE plan_id = ?", (first,))) == 1


def test_sigterm_leaves_the_task_running_and_the_next_knitd_finishes_it(knit_home, knitd, session, docker_client):
    first, second = _killable_pipeline(session)
    k = knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, first)
    container = wait_running(docker_client, knit_home, run_id)
    assert k.terminate(timeout=10) == 0
    from knitctl.home import Home
    from knitctl.knitd import running_pid

    assert running_pid(Home.resolve(knit_home)) is None
    container.reload()
    assert container.status == "running"
    assert run_row(knit_home, run_id)["status"] == "running"

    knitd(parallelism=2)
    wait_until(lambda: "re-attaching" in (knit_home / "knitd.log").read_text(), timeout=30,
               what="the new knitd to re-attach", home=knit_home)
    let_go(knit_home, run_id)
    assert wait_run(knit_home, one_run(knit_home, second))["status"] == "done"
    _exactly_once(knit_home, run_id, second)


# -- limits and the container's shape -----------------------------------------------------------


def test_parallelism_limit_holds(knit_home, knitd, session, docker_client):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, **sh("sleep 1")).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw", n=5)
    most_containers = most_live = 0
    deadline = time.monotonic() + 60
    while True:
        most_containers = max(most_containers, len(home_containers(docker_client, knit_home)))
        statuses = [s for _, s, _ in runs_of(session, plan)]
        most_live = max(most_live, sum(s in LIVE for s in statuses))
        if len(statuses) == 5 and all(s == "done" for s in statuses):
            break
        assert time.monotonic() < deadline, f"runs not done: {statuses}\n{knitd_diagnostics(knit_home)}"
        time.sleep(0.05)
    assert most_containers == 2
    assert most_live == 2


def test_container_runs_as_the_user_with_read_only_inputs_and_knit_env(knit_home, knitd, session):
    script = (
        "echo uid=$(id -u) gid=$(id -g); "
        "if echo x > /in/intruder 2>/dev/null; then echo wrote-input; else echo cannot-write-input; fi; "
        "echo run=$KNIT_RUN_ID plan=$KNIT_PLAN_ID greeting=$GREETING; "
        "echo out > /out/ok.txt"
    )
    res = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"],
                     env={"GREETING": "hello world"}, **sh(script))
    plan = res.plan.plan_id
    knitd(parallelism=2)
    pushed = push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    assert wait_run(knit_home, run_id)["status"] == "done"
    log = log_of(knit_home, run_id)
    assert f"uid={os.getuid()} gid={os.getgid()}" in log
    assert "cannot-write-input" in log and "wrote-input" not in log
    assert f"run={run_id} plan={plan} greeting=hello world" in log
    assert not (datum_dir(knit_home, pushed.knit_id) / "intruder").exists()


def test_gpu_run_on_a_host_without_gpu_support_fails_naming_the_toolkit(knit_home, knitd, session, docker_client):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this Docker host has the NVIDIA runtime")
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, resources={"gpu": 1}, **sh("true")).plan.plan_id
    knitd(parallelism=2)  # GPUs undetected: Docker decides, and refuses
    push_datum(session, "kind:raw")
    row = wait_run(knit_home, one_run(knit_home, plan))
    assert row["status"] == "failed"
    assert "NVIDIA Container Toolkit" in row["message"]


def test_gpu_run_needing_more_gpus_than_the_host_has_fails_at_once(knit_home, knitd, session):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, resources={"gpu": 2}, **sh("true")).plan.plan_id
    knitd(parallelism=2, gpus=1)
    push_datum(session, "kind:raw")
    row = wait_run(knit_home, one_run(knit_home, plan))
    assert row["status"] == "failed"
    assert "needs 2 GPU(s)" in row["message"] and "resources.gpu" in row["message"]


def test_oom_killed_run_names_resources_memory(knit_home, knitd, session):
    script = "x=0123456789abcdef; while :; do x=$x$x; done"
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, log=["kind:log"], resources={"memory": "16Mi"},
                      **sh(script)).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    row = wait_run(knit_home, one_run(knit_home, plan))
    assert row["status"] == "failed"
    assert "out of memory" in row["message"] and "resources.memory" in row["message"]


def test_timeout_kills_the_task(knit_home, knitd, session):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, log=["kind:log"], timeout="1s", **sh("sleep 300")).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    row = wait_run(knit_home, run_id, timeout=20)
    assert row["status"] == "failed"
    assert "timed out after 1s" in row["message"]
    assert "timed out" in log_of(knit_home, run_id)


def test_missing_unpullable_image_fails_clearly(cli, knit_home, knitd, session):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, log=["kind:log"], image="knit-test/no-such-image:0",
                      args=["true"]).plan.plan_id
    knitd(parallelism=2)
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    row = wait_run(knit_home, run_id)
    assert row["status"] == "failed"
    assert "knit-test/no-such-image:0" in row["message"] and "can't be pulled" in row["message"]
    show = cli("run", "show", run_id)
    assert "can't be pulled" in show.out


# -- the daemon from the CLI --------------------------------------------------------------------


def test_up_status_down(cli, knit_home, knitd, session):
    from knitctl.home import Home
    from knitctl.knitd import running_pid

    home = Home.resolve(knit_home)
    before = cli("status", "-o", "json")
    assert before.code == 0, before
    assert before.json()["knitd"] == "stopped" and before.json()["pid"] is None

    up = cli("up", "--parallelism", "2")
    assert up.code == 0, up
    pid = running_pid(home)
    assert pid and str(pid) in up.err

    again = cli("up")
    assert again.code == 0 and "already" in again.err and str(pid) in again.err
    assert running_pid(home) == pid

    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, **sh("true")).plan.plan_id
    push_datum(session, "kind:raw")
    assert wait_run(knit_home, one_run(knit_home, plan))["status"] == "done"

    st = cli("status", "-o", "json")
    assert st.code == 0, st
    doc = st.json()
    assert doc["knitd"] == "running" and doc["pid"] == pid and doc["context"] == "local"
    assert doc["runs"] == {"done": 1}
    table = cli("status")
    assert f"running (pid {pid})" in table.out

    down = cli("down")
    assert down.code == 0, down
    assert str(pid) in down.err
    assert running_pid(home) is None
    assert cli("status", "-o", "json").json()["knitd"] == "stopped"
    gone = cli("down")
    assert gone.code == 0 and "not running" in gone.err


# -- the worker's log, with a fake executor (no Docker) -----------------------------------------


class PullingExecutor:
    """Starts by 'pulling' (knit's lines to the log), then its task prints one line and exits 0."""

    name = "fake"

    def start(self, job, log):
        from daemon.executors.base import Handle

        log(b"knit: image fake:1 is not present; pulling it\n")
        log(b"knit: pull: 0123 Download complete\n")
        return Handle(job.run_id, "fake-container")

    def follow_logs(self, handle, log):
        log(b"task says hi\n")

    def wait(self, handle, timeout):
        from daemon.executors.base import Outcome

        return Outcome(0)

    def stop(self, handle, grace):
        pass

    def kill(self, handle):
        pass

    def collect(self, handle, job):
        pass

    def remove(self, handle):
        pass

    def find(self):
        return {}


def _claimed_run(session, *states: str) -> str:
    from knitctl import runstate

    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"], **sh("true")).plan.plan_id
    push_datum(session, "kind:raw")
    (run_id, _, _), = runs_of(session, plan)
    with session.catalog.write() as c:
        for st in ("ready", *states):
            runstate.move(c, run_id, st)
    return run_id


def test_image_pull_progress_stays_in_the_log_of_a_started_run(knit_home, session):
    from daemon.worker import Worker, run_worker

    run_id = _claimed_run(session)
    run_worker(session.home, PullingExecutor(), Worker(run_id))
    assert run_row(knit_home, run_id)["status"] == "done"
    assert log_of(knit_home, run_id) == (
        "knit: image fake:1 is not present; pulling it\nknit: pull: 0123 Download complete\ntask says hi\n"
    )


def test_reattached_run_rewrites_its_log_whole_keeping_the_pull_lines(knit_home, session):
    from daemon.executors.base import Handle
    from daemon.worker import Worker, run_worker

    run_id = _claimed_run(session, "starting", "running")
    session.home.run_log(run_id).write_bytes(b"knit: pull: 0123 Download complete\ntask says hi\ntask says")
    run_worker(session.home, PullingExecutor(), Worker(run_id), attach=Handle(run_id, "fake-container"))
    assert run_row(knit_home, run_id)["status"] == "done"
    assert log_of(knit_home, run_id) == "knit: pull: 0123 Download complete\ntask says hi\n"


# -- reconciliation of what a previous knitd left ------------------------------------------------


def test_reconcile_restarts_unstarted_fails_vanished_finishes_requested_and_removes_orphans(
        knit_home, knitd, session, docker_client):
    from daemon.executors.base import Job
    from daemon.executors.docker import DockerExecutor
    from knitctl import runs as runs_api
    from knitctl import runstate

    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"],
                      **sh("echo ran > /out/r.txt")).plan.plan_id
    push_datum(session, "kind:raw", n=4)
    starting, vanished, stopped, aborted = [r for r, _, _ in runs_of(session, plan)]
    # as a knitd killed at various moments would leave them, with no container anywhere
    with session.catalog.write() as c:
        for run_id, path in ((starting, ["ready", "starting"]), (vanished, ["ready", "starting", "running"]),
                             (stopped, ["ready", "starting", "running"]), (aborted, ["ready", "starting", "running"])):
            for st in path:
                runstate.move(c, run_id, st)
    runs_api.stop(session, stopped)
    runs_api.stop(session, aborted, fail=True)
    # and a container of a run this home doesn't have live
    orphan = DockerExecutor(str(knit_home), client=docker_client).create(Job(
        run_id="0rphan000000", plan_id=plan, image=BUSYBOX_IMAGE, entrypoint=None, args=("true",), env={},
        inputs=(), outputs=()))

    knitd(parallelism=4)
    rows = {r: wait_run(knit_home, r) for r in (starting, vanished, stopped, aborted)}
    assert rows[starting]["status"] == "done"
    assert (datum_dir(knit_home, outputs_of(knit_home, starting)["/out"]) / "r.txt").read_text() == "ran\n"
    assert rows[vanished]["status"] == "failed" and "vanished" in rows[vanished]["message"]
    assert rows[stopped]["status"] == "done"
    assert rows[aborted]["status"] == "failed"
    wait_until(lambda: all(c["Id"] != orphan.id for c in home_containers(docker_client, knit_home)),
               timeout=10, what="the orphan container removed", home=knit_home)


# -- GPU slots, with a fake executor (no Docker) -------------------------------------------------


class BlockingExecutor(PullingExecutor):
    """Tasks that run until the test releases them."""

    def __init__(self):
        import threading

        self.release: dict[str, threading.Event] = {}
        self.started: list[str] = []

    def start(self, job, log):
        import threading

        from daemon.executors.base import Handle

        self.release[job.run_id] = threading.Event()
        self.started.append(job.run_id)
        return Handle(job.run_id, f"c-{job.run_id}")

    def follow_logs(self, handle, log):
        pass

    def wait(self, handle, timeout):
        from daemon.executors.base import Outcome

        return Outcome(0) if self.release[handle.run_id].wait(timeout or 60) else None


def test_gpu_runs_wait_for_free_gpus_while_others_go_ahead(knit_home, session):
    from daemon.loop import Daemon

    gpu_plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, resources={"gpu": 1}, **sh("true")).plan.plan_id
    cpu_plan = apply_plan(session, {"/data": ["kind:raw"]}, {}, **sh("true")).plan.plan_id
    push_datum(session, "kind:raw", n=3)
    ex = BlockingExecutor()
    d = Daemon(session.home, ex, parallelism=8, gpus=2)

    def status(plan):
        return sorted(s for _, s, _ in runs_of(session, plan))

    try:
        d.tick()
        wait_until(lambda: len(ex.started) == 5, timeout=10, what="five tasks started")
        assert status(gpu_plan).count("waiting") == 1  # two GPUs, three runs wanting one each
        assert "waiting" not in status(cpu_plan)       # runs without GPUs don't queue behind them
        first_gpu = next(r for r in ex.started if r in {x for x, _, _ in runs_of(session, gpu_plan)})
        ex.release[first_gpu].set()
        wait_run(knit_home, first_gpu, timeout=10)
        wait_until(lambda: (d.tick(), "waiting" not in status(gpu_plan))[1], timeout=10,
                   what="the third GPU run to take the freed GPU")
        wait_until(lambda: len(ex.started) == 6, timeout=10, what="the third GPU run's task started")
    finally:
        for e in ex.release.values():
            e.set()
        for w in list(d.workers.values()):
            w.thread.join(10)
        d.session.close()
    assert status(gpu_plan) == ["done"] * 3 and status(cpu_plan) == ["done"] * 3


def test_knitd_hashes_moved_data_in_the_background(cli, knit_home, knitd, session, tmp_path):
    """A --move push defers its digest (a rename reads no byte); knitd records it soon after."""
    from knitctl.home import Home
    from knitctl.store import DEFERRED, Store

    src = tmp_path / "moved"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(300_000))
    (src / "b.txt").write_text("b\n")
    knitd()
    r = cli("data", "push", "--move", src, "-t", "moved:yes", "-o", "json")
    assert r.code == 0, r.err
    (d,) = json.loads(r.out)
    assert d["digest"] == DEFERRED
    row = wait_until(
        lambda: (lambda rows: rows[0] if rows and rows[0][0] != DEFERRED else None)(
            catalog_rows(knit_home, "SELECT digest FROM data WHERE knit_id = ?", (d["knit_id"],))),
        timeout=30, what="knitd to hash the moved datum")
    assert row[0] == Store(Home.resolve(knit_home)).manifest(knit_home / "data" / d["knit_id"]).digest


def test_knitd_sweeps_store_directories_the_catalog_forgot(knit_home, knitd, session):
    """A retry/rm killed between its commit and the deletion leaves a directory; knitd's start removes it."""
    datum = push_datum(session, "k:v")
    orphan = knit_home / "data" / "0123456789ab"
    orphan.mkdir()
    (orphan / "f").write_text("left behind")
    os.chmod(orphan / "f", 0o400)
    os.chmod(orphan, 0o500)
    knitd()
    wait_until(lambda: not orphan.exists(), timeout=20, what="the orphan to be swept", home=knit_home)
    assert (knit_home / "data" / datum.knit_id).is_dir()  # committed data stay
