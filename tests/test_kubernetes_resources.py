"""Any resource on a cluster: extended resources reach the pod's limits and the scheduler, a service account
changed after apply reaches the next pod; on Docker the executor refuses what only Kubernetes has.

Against the fake API server of tests/kube_fake.py (pods as Docker containers) with knitd, as in
test_kubernetes.py, whose helpers these tests share.
"""

from __future__ import annotations

import pytest
from test_kubernetes import add_context, created_pod, knit_config, make_job, one_run, sh, start_fake  # noqa: F401

from conftest import BUSYBOX_IMAGE, apply_plan, knitd_diagnostics, push_datum, require_images, wait_run
from kube_fake import Node

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated - use:DeprecationWarning")


def task_resources(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "task").get("resources") or {}


def test_extended_resources_reach_the_pod_spec_and_the_scheduler(cli, knit_home, docker_client, knitd, session,
                                                                 tmp_path, knit_config):  # noqa: F811
    node = Node(extended={"amd.com/gpu": 2, "ephemeral-storage": 100 * 2**30})
    fk = start_fake(docker_client, node=node)
    try:
        add_context(cli, fk, tmp_path, knit_config)
        fits = apply_plan(session, {"/in": ["kind:x"]}, {"/out": ["kind:fits"]}, **sh("echo ok > /out/ok"),
                          resources={"cpu": 0.5, "amd.com/gpu": 2, "ephemeral-storage": "1Gi"},
                          service_account="trainer").plan.plan_id
        missing = apply_plan(session, {"/in": ["kind:x"]}, {"/out": ["kind:missing"]}, **sh("echo no > /out/no"),
                             resources={"example.com/foo": 1}).plan.plan_id
        # changed after apply: the pods get the new values
        r = cli("plan", "serviceaccount", fits, "--set", "evaluator")
        assert r.code == 0, r
        r = cli("plan", "resource", fits, "-s", "amd.com/gpu=1")
        assert r.code == 0, r
        knitd()
        push_datum(session, "kind:x")
        run_fits, run_missing = one_run(knit_home, fits), one_run(knit_home, missing)
        assert wait_run(knit_home, run_fits, timeout=60)["status"] == "done", knitd_diagnostics(knit_home)
        pod = created_pod(fk, run_fits)
        assert task_resources(pod) == {"requests": {"cpu": "500m"},
                                       "limits": {"cpu": "500m", "amd.com/gpu": "1", "ephemeral-storage": str(2**30)}}
        assert pod["spec"]["serviceAccountName"] == "evaluator"

        row = wait_run(knit_home, run_missing, timeout=60)
        assert row["status"] == "failed", row
        assert "can't place the pod" in row["message"] and "Insufficient example.com/foo" in row["message"], row
        assert task_resources(created_pod(fk, run_missing)) == {"limits": {"example.com/foo": "1"}}
    finally:
        fk.stop()


def test_docker_refuses_a_run_asking_for_what_only_kubernetes_has(docker_client, tmp_path):
    """A plan applied on a Kubernetes context whose run lands on Docker (its context changed): one clear
    message, and no container made."""
    from daemon.executors.base import ExecutorError
    from daemon.executors.docker import DockerExecutor

    require_images(docker_client, BUSYBOX_IMAGE)
    job = make_job(tmp_path, "r-ext", "echo hi", extra={"extended_resources": {"amd.com/gpu": 1}})
    ex = DockerExecutor(home_label=str(tmp_path / "home"), client=docker_client)
    with pytest.raises(ExecutorError) as e:
        ex.start(job, lambda _chunk: None)
    assert str(e.value) == (
        "resources.amd.com/gpu: not available on Docker; use a Kubernetes context (`context:` in the plan or "
        "`knitctl context use NAME`), or remove it (`knitctl plan resource p0 -u amd.com/gpu`)")
    assert ex.find() == {}
