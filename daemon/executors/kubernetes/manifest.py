"""A run's pod, as Kubernetes JSON: pure functions from a `Job` to its manifest.

The pod (docs/ARCHITECTURE.md#daemon): an `emptyDir` volume per input and per output and a small
one for markers (`CTL`); the init container `STAGE` waits until knitd has streamed the inputs in
and touched `CTL/staged`; the task container sees the inputs read-only and the outputs writable;
the `KEEPER` holds the outputs after the task ended until knitd has streamed them back. The pod
shares one process namespace so the keeper can signal the task (`stop`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..base import Job

LABEL_RUN = "knit.run"
LABEL_PLAN = "knit.plan"
LABEL_HOME = "knit.home"
ANNOTATION_HOME = "knit.home/path"

STAGE = "knit-stage-in"
TASK = "task"
KEEPER = "knit-keeper"
IN_ROOT = "/knit/in"
OUT_ROOT = "/knit/out"
CTL = "/knit/ctl"

DEFAULT_HELPER_IMAGE = "busybox:1.36"


def home_hash(home: str) -> str:
    """A label value for a knit home (a path can't be one: too long, and '/' is not allowed)."""
    return hashlib.sha256(home.encode()).hexdigest()[:20]


def pod_name(run_id: str) -> str:
    return f"knit-{run_id}"


def _quantity_cpu(cpu: float) -> str:
    return f"{int(round(cpu * 1000))}m"


def _kv(item: str) -> tuple[str, str]:
    k, _, v = item.partition("=")
    return k.strip(), v.strip()


def scheduling(on_node: Mapping[str, Sequence[str] | None]) -> dict[str, Any]:
    """`on_node` → tolerations and node affinity (may: toleration; prefer: + preferred; must: + required)."""
    spec: dict[str, Any] = {}
    tolerations = []
    seen = set()
    for kind in ("may", "prefer", "must"):
        for item in on_node.get(kind) or ():
            k, v = _kv(item)
            if (k, v) not in seen:
                seen.add((k, v))
                tolerations.append({"key": k, "operator": "Equal", "value": v})  # any effect
    if tolerations:
        spec["tolerations"] = tolerations
    affinity: dict[str, Any] = {}
    prefer = [_kv(i) for i in on_node.get("prefer") or ()]
    if prefer:
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": 1, "preference": {"matchExpressions": [{"key": k, "operator": "In", "values": [v]}]}}
            for k, v in prefer
        ]
    must = [_kv(i) for i in on_node.get("must") or ()]
    if must:
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in must]}]
        }
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    return spec


def resources(job: Job) -> dict[str, dict[str, str]]:
    """Plan resources → requests and limits (gpu → nvidia.com/gpu limits; any other resource by its own name
    in limits, which Kubernetes copies to requests)."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if job.cpu:
        requests["cpu"] = limits["cpu"] = _quantity_cpu(job.cpu)
    if job.memory:
        requests["memory"] = limits["memory"] = str(job.memory)
    if job.gpu:
        limits["nvidia.com/gpu"] = str(job.gpu if isinstance(job.gpu, int) else len(job.gpu))
    for name, amount in sorted(((job.extra or {}).get("extended_resources") or {}).items()):
        limits[name] = str(amount)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def pod_manifest(job: Job, *, home_label: str, helper_image: str, image_pull_secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The pod of a run, as Kubernetes JSON (a pure function: tests read it back from the fake)."""
    ins = [(f"in-{i}", path) for i, (path, _src) in enumerate(job.inputs)]
    outs = [(f"out-{i}", path) for i, (path, _dst) in enumerate(job.outputs)]
    volumes = [{"name": "knit-ctl", "emptyDir": {}}] + [{"name": n, "emptyDir": {}} for n, _ in ins + outs]
    ctl = {"name": "knit-ctl", "mountPath": CTL}
    small = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
    helper_security = {"allowPrivilegeEscalation": False, "privileged": False}
    stage = {
        "name": STAGE,
        "image": helper_image,
        "command": ["sh", "-c", f"until [ -e {CTL}/staged ]; do sleep 0.2; done"],
        "volumeMounts": [ctl] + [{"name": n, "mountPath": f"{IN_ROOT}/{i}"} for i, (n, _) in enumerate(ins)],
        "resources": small,
        "securityContext": helper_security,
    }
    env = [{"name": k, "value": str(v)} for k, v in sorted(job.env.items())]
    task: dict[str, Any] = {
        "name": TASK,
        "image": job.image,
        "env": env,
        "volumeMounts": [{"name": n, "mountPath": p, "readOnly": True} for n, p in ins]
        + [{"name": n, "mountPath": p} for n, p in outs],
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False},
    }
    if job.entrypoint is not None:
        task["command"] = list(job.entrypoint)
    if job.args:
        task["args"] = list(job.args)
    res = resources(job)
    if res:
        task["resources"] = res
    keeper = {
        "name": KEEPER,
        "image": helper_image,
        "command": ["sh", "-c", (
            f"echo $$ > {CTL}/keeper.pid; trap 'exit 0' TERM INT; "
            f"while [ ! -e {CTL}/collected ]; do sleep 1 & wait $!; done"
        )],
        "volumeMounts": [ctl] + [{"name": n, "mountPath": f"{OUT_ROOT}/{i}"} for i, (n, _) in enumerate(outs)],
        "resources": small,
        "securityContext": helper_security,
    }
    extra: Mapping[str, Any] = job.extra or {}
    annotations = {ANNOTATION_HOME: home_label}
    for item in extra.get("annotations") or ():
        k, v = _kv(item)
        annotations[k] = v
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "shareProcessNamespace": True,
        "terminationGracePeriodSeconds": 10,
        "initContainers": [stage],
        "containers": [task, keeper],
        "volumes": volumes,
        **scheduling(extra.get("on_node") or {}),
    }
    if extra.get("service_account"):
        spec["serviceAccountName"] = extra["service_account"]
    secrets = list(image_pull_secrets)
    if secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in secrets]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(job.run_id),
            "labels": {LABEL_RUN: job.run_id, LABEL_PLAN: job.plan_id, LABEL_HOME: home_hash(home_label)},
            "annotations": annotations,
        },
        "spec": spec,
    }
