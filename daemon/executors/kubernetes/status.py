"""What a pod's status says, read by pure functions: whether it can go on (`trouble`), how its
task ended (`outcome`), and what it is waiting for. The pod is the client's V1Pod (untyped); the
clock is a parameter, so a test can read any status at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import Outcome
from .errors import short
from .manifest import KEEPER, STAGE, TASK

IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                      "RegistryUnavailable", "SignatureValidationFailed")
CREATE_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError")

_HINTS = (
    ("nvidia.com/gpu", "`resources.gpu` (nvidia.com/gpu)"),
    ("insufficient cpu", "`resources.cpu`"),
    ("insufficient memory", "`resources.memory`"),
    ("affinity", "`on_node.must` (node affinity)"),
    ("selector", "`on_node.must` (node affinity)"),
    ("taint", "`on_node` (tolerations)"),
)


def container_status(pod: Any, name: str, *, init: bool = False) -> Any:
    """The status of the pod's container (or init container) `name`, or None while it has none."""
    st = pod.status
    if st is None:
        return None
    for c in (st.init_container_statuses if init else st.container_statuses) or []:
        if c.name == name:
            return c
    return None


def task_image_id(pod: Any) -> str | None:
    """The image the task container ran, as the kubelet resolved it (its status's imageID, e.g.
    `docker.io/library/busybox@sha256:...`, the runtime's scheme prefix dropped); None before it ran."""
    c = container_status(pod, TASK)
    ref = getattr(c, "image_id", None) if c is not None else None
    if not ref:
        return None
    ref = str(ref)
    for scheme in ("docker-pullable://", "docker://", "containerd://", "cri-o://"):
        if ref.startswith(scheme):
            return ref[len(scheme):] or None
    return ref


def phase(pod: Any) -> str:
    st = pod.status
    return f"phase {st.phase}" if st is not None and st.phase else "no status yet"


def waiting_note(pod: Any) -> str | None:
    """Why the pod is not running yet, when it says (unscheduled, a container waiting), for the log."""
    st = pod.status
    if st is None:
        return None
    for cond in st.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            return f"not scheduled yet ({cond.reason}: {cond.message})"
    for c in (st.init_container_statuses or []) + (st.container_statuses or []):
        w = c.state.waiting if c.state else None
        if w is not None and w.reason not in (None, "PodInitializing", "ContainerCreating"):
            return f"{c.name} waiting ({w.reason}: {w.message})"
    return None


def hint(message: str) -> str | None:
    """The plan fields a scheduler's message points at ('Insufficient cpu' → `resources.cpu`)."""
    low = message.lower()
    found = [h for key, h in _HINTS if key in low]
    return " or ".join(dict.fromkeys(found)) or None


def stage_state(pod: Any) -> str | None:
    """The staging init container: 'running' (inputs to stream in), 'ended' (staged before), or None."""
    init = container_status(pod, STAGE, init=True)
    if init is not None and init.state is not None:
        if init.state.running is not None:
            return "running"
        if init.state.terminated is not None:
            return "ended"
    if pod.status and pod.status.phase in ("Running", "Succeeded"):
        return "ended"
    return None


def maybe_staging(pod: Any) -> bool:
    """Whether the pod may still be waiting for its inputs (its staging container has not ended and
    the pod has not got past it)."""
    init = container_status(pod, STAGE, init=True)
    staging = init is None or init.state is None or init.state.terminated is None
    return staging and not (pod.status and pod.status.phase in ("Running", "Succeeded", "Failed"))


def task_started(pod: Any) -> bool:
    task = container_status(pod, TASK)
    return task is not None and task.state is not None and bool(task.state.running or task.state.terminated)


def task_ended(pod: Any) -> bool:
    task = container_status(pod, TASK)
    return task is not None and task.state is not None and task.state.terminated is not None


def keeper_state(pod: Any) -> str | None:
    """The keeper container: 'running', 'ended', or None while it has not started."""
    keeper = container_status(pod, KEEPER)
    state = keeper.state if keeper is not None else None
    if state is not None and state.running is not None:
        return "running"
    if state is not None and state.terminated is not None:
        return "ended"
    return None


def trouble(pod: Any, *, context: str, image_pull_secrets: Sequence[str], unschedulable_grace: float,
            now: float) -> str | None:
    """A message when the pod can't go on (evicted, unschedulable too long, image pull, failed staging)."""
    st = pod.status
    if st is None:
        return None
    if st.reason == "Evicted":
        return f"the cluster evicted the pod (context {context}): {st.message or 'no reason given'}"
    for c in (st.init_container_statuses or []) + (st.container_statuses or []):
        w = c.state.waiting if c.state else None
        if w is not None and w.reason in IMAGE_PULL_REASONS:
            secrets = ", ".join(image_pull_secrets) or "none"
            return (
                f"the cluster can't pull image {c.image} for container {c.name} ({w.reason}: "
                f"{short(w.message or '')}); check the image name and tag, that the nodes reach its registry, "
                f"and the context's image pull secrets ({secrets})"
            )
        if w is not None and w.reason in CREATE_REASONS:
            return f"the cluster can't start container {c.name} ({w.reason}: {short(w.message or '')})"
    init = container_status(pod, STAGE, init=True)
    if init is not None and init.state and init.state.terminated and init.state.terminated.exit_code:
        t = init.state.terminated
        return f"the pod's staging container failed ({t.reason}, exit {t.exit_code}); its inputs never arrived"
    for cond in st.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
            since = cond.last_transition_time
            age = (now - since.timestamp()) if since else 0.0
            if age >= unschedulable_grace:
                fields = hint(cond.message or "")
                return (
                    f"the cluster can't place the pod (context {context}): {cond.message or 'unschedulable'}"
                    + (f" — the plan's {fields} can't be met there: change it, or ask the cluster's admin "
                       "for that capacity" if fields else "")
                )
    return None


def outcome(pod: Any, *, context: str, image_pull_secrets: Sequence[str], unschedulable_grace: float,
            now: float) -> Outcome | None:
    """The task's end as an Outcome, or None while it runs (or has yet to start)."""
    why = trouble(pod, context=context, image_pull_secrets=image_pull_secrets,
                  unschedulable_grace=unschedulable_grace, now=now)
    st = pod.status
    if st is not None and st.reason == "Evicted":
        return Outcome(None, message=why)
    task = container_status(pod, TASK)
    if task is not None and task.state is not None and task.state.terminated is not None:
        t = task.state.terminated
        oom = t.reason == "OOMKilled"
        msg = None
        if t.reason not in ("Completed", "Error", "OOMKilled", None):
            msg = f"{t.reason}: {t.message}" if t.message else t.reason
        return Outcome(t.exit_code, oom_killed=oom, message=msg)
    if why:
        return Outcome(None, message=why)
    if st is not None and st.phase in ("Failed", "Succeeded"):
        return Outcome(None, message=f"its pod ended ({st.phase}: {st.reason or ''} {st.message or ''}) without the task")
    return None
