"""The Kubernetes executor's pure parts, without a cluster: what a pod's status says
(daemon/executors/kubernetes/status.py, read at a given time) and how API failures read
(daemon/executors/kubernetes/errors.py, the one translation point). The pods are the client's
own model objects, as `read_namespaced_pod` returns them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import urllib3
from kubernetes import client as k
from kubernetes.client.rest import ApiException

from daemon.executors.base import ExecutorError, Outcome
from daemon.executors.kubernetes import status
from daemon.executors.kubernetes.errors import ApiError, Target, Unreachable, from_handshake, translate

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
WHERE = Target(context="lab", server="https://10.0.0.1:6443", namespace="knit", kubeconfig="/home/u/.kube/config")
READ = {"context": "lab", "image_pull_secrets": (), "unschedulable_grace": 300.0}


def pod(*, phase="Pending", reason=None, message=None, conditions=(), init=(), containers=()):
    return k.V1Pod(status=k.V1PodStatus(phase=phase, reason=reason, message=message, conditions=list(conditions),
                                        init_container_statuses=list(init), container_statuses=list(containers)))


def container(name, *, waiting=None, running=False, terminated=None, image="busybox:1.36"):
    state = k.V1ContainerState(
        waiting=k.V1ContainerStateWaiting(reason=waiting[0], message=waiting[1]) if waiting else None,
        running=k.V1ContainerStateRunning(started_at=T0) if running else None,
        terminated=k.V1ContainerStateTerminated(exit_code=terminated[0], reason=terminated[1]) if terminated else None,
    )
    return k.V1ContainerStatus(name=name, image=image, image_id="", ready=running, restart_count=0, state=state)


def unschedulable(message: str):
    return k.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message=message,
                            last_transition_time=T0)


# -- status ---------------------------------------------------------------------------------------


def test_an_unschedulable_pod_is_trouble_only_after_the_grace_with_the_plan_fields_to_change():
    p = pod(conditions=[unschedulable("0/3 nodes are available: 3 Insufficient nvidia.com/gpu, 1 Insufficient cpu.")])
    t = T0.timestamp()
    assert status.trouble(p, **READ, now=t + 299) is None
    assert status.outcome(p, **READ, now=t + 299) is None  # still waiting: the run goes on
    assert status.waiting_note(p) == (
        "not scheduled yet (Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu, 1 Insufficient cpu.)")
    msg = status.trouble(p, **READ, now=t + 300)
    assert msg is not None and msg.startswith("the cluster can't place the pod (context lab): 0/3 nodes")
    assert "the plan's `resources.gpu` (nvidia.com/gpu) or `resources.cpu` can't be met there" in msg
    assert status.outcome(p, **READ, now=t + 300) == Outcome(None, message=msg)


def test_an_image_that_can_not_be_pulled_names_the_image_and_the_pull_secrets():
    p = pod(containers=[container("task", waiting=("ImagePullBackOff", "Back-off pulling image \"reg/x:9\""),
                                  image="reg/x:9")])
    msg = status.trouble(p, **{**READ, "image_pull_secrets": ("regcred", "other")}, now=0)
    assert msg is not None and "can't pull image reg/x:9 for container task (ImagePullBackOff" in msg
    assert msg.endswith("image pull secrets (regcred, other)")
    assert "image pull secrets (none)" in (status.trouble(p, **READ, now=0) or "")


def test_the_tasks_end_is_its_outcome_oom_and_unusual_reasons_kept():
    assert status.outcome(pod(phase="Running", containers=[container("task", terminated=(0, "Completed"))]),
                          **READ, now=0) == Outcome(0)
    assert status.outcome(pod(containers=[container("task", terminated=(137, "OOMKilled"))]),
                          **READ, now=0) == Outcome(137, oom_killed=True)
    assert status.outcome(pod(containers=[container("task", terminated=(2, "DeadlineExceeded"))]),
                          **READ, now=0) == Outcome(2, message="DeadlineExceeded")
    assert status.outcome(pod(phase="Running", containers=[container("task", running=True)]), **READ, now=0) is None


def test_an_evicted_pod_or_one_ended_without_its_task_ends_the_run_without_an_exit_code():
    evicted = pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory.")
    assert status.outcome(evicted, **READ, now=0) == Outcome(
        None, message="the cluster evicted the pod (context lab): The node was low on resource: memory.")
    failed = pod(phase="Failed", reason="NodeLost", message="gone")
    assert status.outcome(failed, **READ, now=0) == Outcome(None, message="its pod ended (Failed: NodeLost gone) without the task")


def test_staging_and_keeper_states_read_from_the_containers():
    waiting = pod(init=[container(status.STAGE, waiting=("PodInitializing", None))])
    assert status.stage_state(waiting) is None and status.maybe_staging(waiting)
    staging = pod(init=[container(status.STAGE, running=True)])
    assert status.stage_state(staging) == "running" and status.maybe_staging(staging)
    staged = pod(phase="Running", init=[container(status.STAGE, terminated=(0, "Completed"))],
                 containers=[container("task", running=True), container(status.KEEPER, running=True)])
    assert status.stage_state(staged) == "ended" and not status.maybe_staging(staged)
    assert status.task_started(staged) and not status.task_ended(staged)
    assert status.keeper_state(staged) == "running"
    broken = pod(init=[container(status.STAGE, terminated=(1, "Error"))])
    assert status.trouble(broken, **READ, now=0) == (
        "the pod's staging container failed (Error, exit 1); its inputs never arrived")
    assert status.keeper_state(pod()) is None and status.phase(pod()) == "phase Pending"
    assert status.phase(k.V1Pod()) == "no status yet"


# -- errors -----------------------------------------------------------------------------------------


def api_error(code: int, message: str) -> ApiException:
    e = ApiException(status=code, reason="reason")
    e.body = json.dumps({"kind": "Status", "message": message})
    return e


def test_credentials_permissions_and_namespaces_read_as_what_to_do():
    e = translate(api_error(401, "Unauthorized"), "get", "pods", WHERE)
    assert type(e) is ExecutorError and "rejected knit's credentials (401 Unauthorized: Unauthorized)" in str(e)
    assert "refresh the kubeconfig (/home/u/.kube/config)" in str(e)
    e = translate(api_error(403, 'pods is forbidden: User "u" cannot create resource "pods"'), "create", "pods", WHERE)
    assert "forbids knit to create pods in namespace knit (403 Forbidden: pods is forbidden" in str(e)
    assert "grant `create` on `pods`" in str(e)
    e = translate(api_error(403, 'error looking up service account knit/trainer: serviceaccount "trainer" not found'),
                  "create", "pods", WHERE)
    assert "has no such service account in namespace knit" in str(e)
    e = translate(api_error(404, 'namespaces "knit" not found'), "create", "pods", WHERE)
    assert isinstance(e, ApiError) and e.status == 404 and "has no namespace knit" in str(e)
    e = translate(api_error(404, 'pods "knit-x" not found'), "get", "pods", WHERE)
    assert isinstance(e, ApiError) and e.status == 404 and "answered 404 to get pods" in str(e)
    e = translate(api_error(422, "Pod is invalid: spec.containers[0].image: Required value"), "create", "pods", WHERE)
    assert str(e) == "the cluster of context lab refused the pod: Pod is invalid: spec.containers[0].image: Required value"


def test_a_cluster_that_can_not_be_reached_is_unreachable_with_the_root_cause():
    cause = urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused")
    e = translate(urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/knit/pods", cause), "list", "pods", WHERE)
    assert isinstance(e, Unreachable)
    assert str(e).startswith("can't reach the cluster of context lab (https://10.0.0.1:6443): Connection refused; ")
    assert "`knitctl doctor --context lab`" in str(e)


def test_a_refused_exec_handshake_reads_like_the_same_refusal_over_rest():
    # as websocket-client words a refused upgrade, and the client's stream wraps it (status 0)
    body = '{"kind":"Status","status":"Failure","message":"pods \\"knit-x\\" is forbidden: exec not allowed","code":403}'
    refused = ApiException(status=0, reason=f"Handshake status 403 Forbidden -+-+- {{'audit-id': 'a'}} -+-+- {body}")
    e = translate(from_handshake(refused), "create", "pods/exec", WHERE)
    assert type(e) is ExecutorError  # not Unreachable: the cluster answered
    assert "forbids knit to create pods/exec in namespace knit (403 Forbidden: " in str(e)
    assert 'pods \\"knit-x\\" is forbidden: exec not allowed' in str(e)
    bare = ApiException(status=0, reason=f"Handshake status 404 Not Found -+-+- {body}")
    assert from_handshake(bare).body == body
    other = ApiException(status=0, reason="something else")
    assert from_handshake(other) is other


@pytest.mark.parametrize("e", [OSError("[Errno -2] Name or service not known"), ApiException(status=0, reason="x")])
def test_no_status_at_all_is_unreachable(e):
    assert isinstance(translate(e, "get", "pods", WHERE), Unreachable)
