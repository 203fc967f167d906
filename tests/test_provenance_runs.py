"""Provenance of runs in real Docker containers, and `knitctl run verify`.

A run records who ran it (user, host, knit's version), the plan's image as written and the exact image
id Docker resolved when the container started (and as MLMD custom properties on its execution); `run
show` (table and json) shows them. `run verify` re-executes a done run with that image id and the same
inputs in a scratch directory: a deterministic task is reproducible (exit 0), a task writing the time
differs (exit 1) and the report names the file; nothing is recorded, nothing lands in the store, no
container is left. It says clearly when it can't: the run is not done or an upload, the image is gone,
Docker is unreachable.
"""

from __future__ import annotations

import os
import socket

import pytest

import knitctl

from conftest import BUSYBOX_IMAGE, apply_plan, catalog_dump, catalog_rows, push_datum, require_images, wait_run, wait_until


@pytest.fixture
def knitd(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


def sh(script: str) -> dict:
    return {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", script]}


def done_run(home, plan_id: str) -> str:
    rows = wait_until(lambda: catalog_rows(home, "SELECT run_id FROM run WHERE plan_id = ?", (plan_id,)),
                      timeout=30, what=f"a run of plan {plan_id}", home=home)
    run_id = rows[0][0]
    assert wait_run(home, run_id, timeout=90)["status"] == "done"
    # knitd at rest: its run's status changes taken off the hook queue (a catalog dump taken before would
    # differ from one taken after by that alone)
    wait_until(lambda: not catalog_rows(home, "SELECT 1 FROM hook_event LIMIT 1"), timeout=30,
               what="knitd to take the run's status changes off its hook queue", home=home)
    return run_id


def store_listing(home) -> list[str]:
    return sorted(os.listdir(home / "data"))


def verify_containers(client) -> list:
    return client.containers.list(all=True, filters={"label": "knit.verify"})


@pytest.fixture
def two_runs(session, knit_home, knitd):
    """A deterministic run (copies its input, writes a constant) and one that writes the time; both done."""
    same = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:copy"]}, log=["kind:log"],
                      **sh("cp /in/f.txt /out/f.txt && mkdir /out/sub && echo fixed > /out/sub/c")).plan.plan_id
    clock = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:clock"]},
                       **sh("cp /in/f.txt /out/f.txt && date +%s > /out/t && cat /proc/uptime >> /out/t")).plan.plan_id
    knitd()
    push_datum(session, "kind:src")
    return done_run(knit_home, same), done_run(knit_home, clock)


def test_a_docker_run_records_who_ran_it_and_the_exact_image(two_runs, cli, docker_client, session):
    run_id = two_runs[0]
    image = docker_client.images.get(BUSYBOX_IMAGE)
    shown = cli("run", "show", run_id, "-o", "json")
    assert shown.code == 0, shown
    prov = shown.json()["provenance"]
    assert prov["image"] == BUSYBOX_IMAGE
    assert prov["image_id"] == image.id and prov["image_id"].startswith("sha256:")
    assert prov["host"] == socket.gethostname() and prov["user"] and prov["knit_version"] == knitctl.__version__
    assert "git_commit" not in prov  # runs have no git fields; uploads from a work tree do
    repo_digests = image.attrs.get("RepoDigests") or []
    assert prov.get("repo_digest") == (repo_digests[0] if repo_digests else None)

    table = cli("run", "show", run_id)
    assert f"image id\t{image.id}" in table.out and f"host\t{socket.gethostname()}" in table.out
    assert "image (as written)" not in table.out  # the plan's image is on the `image` line already

    from knitctl.catalog import mlmd

    props = mlmd.custom_properties(session.catalog.conn, "run", run_id)
    assert props["knit.image_id"] == image.id and props["knit.image"] == BUSYBOX_IMAGE
    assert props["knit.version"] == knitctl.__version__ and props["knit.host"] == socket.gethostname()

    # the run's outputs show their producing run's provenance
    out_id = next(o["knit_id"] for o in shown.json()["outputs"] if o["path"] == "/out")
    assert cli("data", "show", out_id, "-o", "json").json()["provenance"]["image_id"] == image.id


def test_verify_reports_a_deterministic_run_reproducible_and_records_nothing(two_runs, cli, knit_home, docker_client):
    run_id = two_runs[0]
    before, data_before = catalog_dump(knit_home), store_listing(knit_home)
    r = cli("run", "verify", run_id)
    assert r.code == 0, r
    assert f"run {run_id} is reproducible" in r.out and "every output's digest matches" in r.out
    j = cli("run", "verify", run_id[:6], "-o", "json")
    assert j.code == 0, j
    doc = j.json()
    assert doc["reproducible"] is True and doc["exit_code"] == 0
    assert [(o["path"], o["matches"], o["differences"]) for o in doc["outputs"]] == [("/out", True, [])]
    assert doc["outputs"][0]["digest"] == doc["outputs"][0]["rerun_digest"]
    assert catalog_dump(knit_home) == before, "verify recorded something in the catalog"
    assert store_listing(knit_home) == data_before, "verify added to the store"
    assert verify_containers(docker_client) == []


def test_verify_names_the_file_a_task_writing_the_time_changes(two_runs, cli, knit_home, docker_client):
    run_id = two_runs[1]
    before = catalog_dump(knit_home)
    r = cli("run", "verify", run_id)
    assert r.code == 1, r
    assert f"run {run_id} is not reproducible" in r.out
    assert "changed  /out/t" in r.out
    assert "/out/f.txt" not in r.out  # the copied file is the same
    doc = cli("run", "verify", run_id, "-o", "json").json()
    assert doc["reproducible"] is False
    (out,) = doc["outputs"]
    assert out["matches"] is False and out["differences"] == [{"path": "/out/t", "change": "changed"}]
    assert catalog_dump(knit_home) == before
    assert verify_containers(docker_client) == []


def test_verify_says_why_it_cannot(two_runs, cli, knit_home, session):
    run_id = two_runs[0]
    upload = catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = 'knit#uploaded'")[0][0]
    r = cli("run", "verify", upload)
    assert r.code == 1 and "is an upload" in r.err and "Traceback" not in r.err

    # Docker unreachable
    r = cli("run", "verify", run_id, env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert r.code == 1 and "can't reach Docker" in r.err and "Traceback" not in r.err, r

    # the image it ran is gone from the host (an id no image has)
    from knitctl.catalog import provenance as q

    with session.catalog.write() as c:
        q.update(c, run_id, {"image_id": "sha256:" + "0" * 64, "repo_digest": None})
    r = cli("run", "verify", run_id)
    assert r.code == 1, r
    assert f"the image run {run_id} ran (sha256:{'0' * 64}) is no longer on this Docker host" in r.err
    assert "can't be pulled" in r.err

    # a run that is not done
    with session.catalog.write() as c:
        c.execute("UPDATE run SET status = 'failed' WHERE run_id = ?", (run_id,))
    r = cli("run", "verify", run_id)
    assert r.code == 1 and "only a done run can be verified" in r.err, r


def test_an_interrupted_verify_leaves_no_container_and_no_scratch(session, knit_home, knitd, docker_client):
    import glob
    import signal
    import subprocess
    import tempfile

    from conftest import cli_command, cli_env

    plan = apply_plan(session, {"/in": ["kind:src"]}, {"/out": ["kind:slow"]},
                      **sh("sleep 2 && cp /in/f.txt /out/f.txt")).plan.plan_id
    knitd()
    push_datum(session, "kind:src")
    run_id = done_run(knit_home, plan)
    proc = subprocess.Popen(cli_command(["run", "verify", run_id]), env=cli_env(knit_home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until(lambda: [c for c in verify_containers(docker_client) if c.status == "running"], timeout=30,
                   what="the re-execution's container running")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert verify_containers(docker_client) == []
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"knit-verify-{run_id}-*")) == []


def test_a_cached_run_verifies_with_the_image_of_the_run_it_reused(session, knit_home, knitd, cli, tmp_path):
    from knitctl import data as data_api

    from conftest import make_tree

    plan = apply_plan(session, {"/in": ["kind:same"]}, {"/out": ["kind:copied"]}, cache=True,
                      **sh("cp /in/f.txt /out/f.txt")).plan.plan_id
    knitd()
    src = make_tree(tmp_path / "same", {"f.txt": "identical"})
    data_api.push(session, [src], ["kind:same", "name:a"])
    first = done_run(knit_home, plan)
    data_api.push(session, [src], ["kind:same", "name:b"])
    second = wait_until(lambda: [r for (r,) in catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (plan,))
                                 if r != first], timeout=30, what="the second run", home=knit_home)[0]
    assert wait_run(knit_home, second, timeout=60)["status"] == "done"
    # it did not execute: its provenance names who made it and the image of the run whose outputs it reused
    mine = cli("run", "show", second, "-o", "json").json()["provenance"]
    theirs = cli("run", "show", first, "-o", "json").json()["provenance"]
    assert mine["image_id"] == theirs["image_id"] and mine["image_id"].startswith("sha256:"), (mine, theirs)
    r = cli("run", "verify", second)
    assert r.code == 0, r
    assert f"it was cached, so the image is that of run {first}" in r.out
    assert cli("run", "verify", second, "-o", "json").json()["reused_run"] == first
