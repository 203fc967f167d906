"""The Kubernetes executor (docs/ARCHITECTURE.md#daemon), over the official `kubernetes` client.

It needs only API access to the cluster: no inbound connection to this machine
and no storage class. One pod per run:

- an `emptyDir` volume per input and per output, and a small one for markers;
- an init container (`knit-stage-in`, the helper image) that waits while knitd
  streams each input in as a tar archive over the exec API, then the marker
  `staged` lets it end;
- the task container, with the inputs mounted read-only and the outputs writable;
- a keeper container (`knit-keeper`) that holds the output volumes after the task
  ended, until knitd has streamed them back (exec `tar -c`); then the pod is deleted.

The pod shares one process namespace, so `stop` can signal the task from the
keeper (a task is never PID 1 there). Every call the executor makes is one of
`API_CALLS` — the RBAC Role in packaging/kubernetes/ grants exactly those.

One module per concern:

- `manifest`  the pod of a run (pure functions from a Job to Kubernetes JSON);
- `status`    what a pod's status says: trouble, the task's outcome (pure);
- `errors`    API failures as one clear message (`translate`, the one place they are read);
- `streaming` commands over the exec API and directories through them as tar;
- `executor`  `KubernetesExecutor`: the pod's lifecycle, built from the four above.
"""

from __future__ import annotations

from .executor import API_CALLS, DEFAULTS, KubernetesExecutor
from .manifest import (
    ANNOTATION_HOME,
    CTL,
    DEFAULT_HELPER_IMAGE,
    IN_ROOT,
    KEEPER,
    LABEL_HOME,
    LABEL_PLAN,
    LABEL_RUN,
    OUT_ROOT,
    STAGE,
    TASK,
    home_hash,
    pod_manifest,
    pod_name,
    resources,
    scheduling,
)

__all__ = [
    "API_CALLS", "DEFAULTS", "KubernetesExecutor",
    "ANNOTATION_HOME", "CTL", "DEFAULT_HELPER_IMAGE", "IN_ROOT", "KEEPER", "LABEL_HOME", "LABEL_PLAN", "LABEL_RUN",
    "OUT_ROOT", "STAGE", "TASK", "home_hash", "pod_manifest", "pod_name", "resources", "scheduling",
]
