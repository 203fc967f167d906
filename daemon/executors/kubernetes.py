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
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import stream as kstream
from websocket import ABNF, WebSocketException

from .base import ExecutorError, Handle, Job, LogSink, Outcome

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

# (verb, resource) of every API call this executor makes: the Role's rules (packaging/kubernetes/).
# Exec is a websocket GET; API servers since 1.30 also check `create` on pods/exec for it.
API_CALLS = frozenset({
    ("create", "pods"), ("get", "pods"), ("list", "pods"), ("delete", "pods"),
    ("get", "pods/log"), ("get", "pods/exec"), ("create", "pods/exec"),
})

IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                      "RegistryUnavailable", "SignatureValidationFailed")
CREATE_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError")

POLL_SECONDS = 0.25
CHUNK = 1024 * 1024

# How long a pod may be unschedulable before the run fails (a busy cluster frees capacity; an
# autoscaler adds nodes), how long to wait for the pod to come up at all, how long the cluster
# may be unreachable while a run is followed — each overridable per context in the config file.
DEFAULTS = {"unschedulable-grace": 300.0, "start-timeout": 900.0, "lost-contact-grace": 120.0, "api-timeout": 30.0}

_HINTS = (
    ("nvidia.com/gpu", "`resources.gpu` (nvidia.com/gpu)"),
    ("insufficient cpu", "`resources.cpu`"),
    ("insufficient memory", "`resources.memory`"),
    ("affinity", "`on_node.must` (node affinity)"),
    ("selector", "`on_node.must` (node affinity)"),
    ("taint", "`on_node` (tolerations)"),
)


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


def scheduling(on_node: dict) -> dict:
    """`on_node` → tolerations and node affinity (may: toleration; prefer: + preferred; must: + required)."""
    spec: dict = {}
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
    affinity: dict = {}
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


def resources(job: Job) -> dict:
    """Plan resources → requests and limits (gpu → nvidia.com/gpu limits)."""
    requests: dict = {}
    limits: dict = {}
    if job.cpu:
        requests["cpu"] = limits["cpu"] = _quantity_cpu(job.cpu)
    if job.memory:
        requests["memory"] = limits["memory"] = str(job.memory)
    if job.gpu:
        limits["nvidia.com/gpu"] = str(job.gpu if isinstance(job.gpu, int) else len(job.gpu))
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def pod_manifest(job: Job, *, home_label: str, helper_image: str, image_pull_secrets=()) -> dict:
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
    task: dict = {
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
    extra = job.extra or {}
    annotations = {ANNOTATION_HOME: home_label}
    for item in extra.get("annotations") or ():
        k, v = _kv(item)
        annotations[k] = v
    spec: dict = {
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
    if image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in image_pull_secrets]
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


class _Unreachable(ExecutorError):
    """The cluster could not be reached (maybe for a moment)."""


class _ApiError(ExecutorError):
    """The API server answered with an error status."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, settings: dict, *, home_label: str, api_client: kclient.ApiClient | None = None):
        self.settings = dict(settings)
        self.context = settings.get("name") or "?"
        self.namespace = settings.get("namespace") or "default"
        self.home_label = home_label
        self.home_value = home_hash(home_label)
        self.helper_image = settings.get("helper-image") or DEFAULT_HELPER_IMAGE
        secrets = settings.get("image-pull-secrets") or []
        self.image_pull_secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        self.limits = {k: float(settings.get(k, v)) for k, v in DEFAULTS.items()}
        self.kubeconfig = settings.get("kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config"
        self.kube_context = settings.get("kube-context")
        try:
            if api_client is None:
                cfg = kclient.Configuration()
                kconfig.load_kube_config(config_file=self.kubeconfig, context=self.kube_context,
                                         client_configuration=cfg, persist_config=False)
                cfg.retries = 1  # a dead cluster is told quickly; `wait` rides out short outages itself
                api_client = kclient.ApiClient(cfg)
            self.api_client = api_client
        except (ConfigException, OSError, KeyError, TypeError, ValueError) as e:
            where = f"kube context {self.kube_context!r} of " if self.kube_context else ""
            raise ExecutorError(
                f"context {self.context}: can't load {where}kubeconfig {self.kubeconfig} ({e}); "
                f"fix the file or the context (`knitctl context show {self.context}`)"
            ) from None
        self.configuration = self.api_client.configuration
        self.core = kclient.CoreV1Api(self.api_client)
        self.server = self.configuration.host

    # -- errors -------------------------------------------------------------------------

    def _error(self, e: Exception, verb: str, resource: str) -> ExecutorError:
        """An API failure as one clear message (the run's message)."""
        status, body = _status_of(e)
        detail = _server_message(body) or (getattr(e, "reason", None) if isinstance(e, ApiException) else None) or str(e)
        if status == 401 or isinstance(e, ConfigException):
            return ExecutorError(
                f"the cluster of context {self.context} ({self.server}) rejected knit's credentials "
                f"(401 Unauthorized: {detail}); they have expired or are not valid — log in again or refresh "
                f"the kubeconfig ({self.kubeconfig}), then retry the run (`knitctl run retry ID`)"
            )
        if status == 403 and "service account" in detail.lower() and "not found" in detail.lower():
            return ExecutorError(
                f"the cluster of context {self.context} has no such service account in namespace {self.namespace} "
                f"({detail}); create it, or change the plan's `service_account`"
            )
        if status == 403:
            return ExecutorError(
                f"the cluster of context {self.context} forbids knit to {verb} {resource} in namespace "
                f"{self.namespace} (403 Forbidden: {detail}); ask a cluster admin to grant `{verb}` on "
                f"`{resource}` — packaging/kubernetes/ has the Role knit needs"
            )
        if status in (0, None):
            return _Unreachable(
                f"can't reach the cluster of context {self.context} ({self.server}): {_cause(e, detail)}; check the "
                "network or VPN, the kubeconfig's server address and that the cluster is up "
                f"(`knitctl doctor --context {self.context}`)"
            )
        if status == 404 and resource == "pods" and verb in ("create", "list"):
            return _ApiError(f"the cluster of context {self.context} has no namespace {self.namespace} ({detail}); "
                             "create it (packaging/kubernetes/) or fix the context's namespace", status)
        if status == 422:
            return _ApiError(f"the cluster of context {self.context} refused the pod: {detail}", status)
        return _ApiError(f"the cluster of context {self.context} answered {status} to {verb} {resource}: {detail}", status)

    def _call(self, verb: str, resource: str, fn, *args, **kwargs):
        kwargs.setdefault("_request_timeout", self.limits["api-timeout"])
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ConfigException) as e:
            raise self._error(e, verb, resource) from None

    def _read(self, name: str):
        """The pod, or None when it does not exist."""
        try:
            return self._call("get", "pods", self.core.read_namespaced_pod, name, self.namespace)
        except _ApiError as e:
            if e.status == 404:
                return None
            raise

    def _delete(self, name: str) -> None:
        try:
            self._call("delete", "pods", self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=0)
        except _ApiError as e:
            if e.status != 404:
                raise

    # -- start ------------------------------------------------------------------------------

    def start(self, job: Job, log: LogSink) -> Handle:
        name = pod_name(job.run_id)
        manifest = pod_manifest(job, home_label=self.home_label, helper_image=self.helper_image,
                                image_pull_secrets=self.image_pull_secrets)
        self._create(name, manifest, log)
        try:
            staged = self._await_stage_in(name, log)
            if not staged:
                for i, (path, src) in enumerate(job.inputs):
                    sent = self.put_dir(name, STAGE, Path(src), f"{IN_ROOT}/{i}")
                    log(f"knit: staged input {path} ({sent} bytes)\n".encode())
                self.exec(name, STAGE, ["touch", f"{CTL}/staged"])
        except ExecutorError:
            try:
                self._delete(name)
            except ExecutorError:
                pass
            raise
        return Handle(job.run_id, name)

    def _create(self, name: str, manifest: dict, log: LogSink) -> None:
        body = kclient.V1Pod.from_dict(manifest)
        deadline = time.monotonic() + 60
        while True:
            try:
                self._call("create", "pods", self.core.create_namespaced_pod, self.namespace, body)
                log(f"knit: pod {name} created in namespace {self.namespace} (context {self.context})\n".encode())
                return
            except _ApiError as e:
                if e.status != 409:
                    raise
            pod = self._read(name)  # a pod of this run exists (knitd restarted while starting it)
            if pod is not None and not pod.metadata.deletion_timestamp:
                log(f"knit: pod {name} exists already; using it\n".encode())
                return
            if time.monotonic() > deadline:
                raise ExecutorError(f"pod {name} of an earlier attempt is still being deleted; retry the run later")
            time.sleep(POLL_SECONDS)

    def _await_stage_in(self, name: str, log: LogSink) -> bool:
        """Until the init container runs (False: inputs to stage) or has ended (True: staged before)."""
        deadline = time.monotonic() + self.limits["start-timeout"]
        said = None
        while True:
            pod = self._read(name)
            if pod is None:
                raise ExecutorError(f"its pod {name} was deleted while starting (by someone else, or the cluster)")
            trouble = self.trouble(pod)
            if trouble:
                raise ExecutorError(trouble)
            init = _status(pod, STAGE, init=True)
            if init is not None and init.state is not None:
                if init.state.running is not None:
                    return False
                if init.state.terminated is not None:
                    return True
            if (pod.status and pod.status.phase in ("Running", "Succeeded")):
                return True
            waiting = _waiting_note(pod)
            if waiting and waiting != said:
                log(f"knit: pod {name}: {waiting}\n".encode())
                said = waiting
            if time.monotonic() > deadline:
                raise ExecutorError(
                    f"pod {name} did not start within {self.limits['start-timeout']:g}s (context {self.context}): "
                    f"{waiting or _phase(pod)}"
                )
            time.sleep(POLL_SECONDS)

    # -- what the pod says ---------------------------------------------------------------------

    def trouble(self, pod) -> str | None:
        """A message when the pod can't go on (evicted, unschedulable too long, image pull, failed staging)."""
        st = pod.status
        if st is None:
            return None
        if st.reason == "Evicted":
            return f"the cluster evicted the pod (context {self.context}): {st.message or 'no reason given'}"
        for c in (st.init_container_statuses or []) + (st.container_statuses or []):
            w = c.state.waiting if c.state else None
            if w is not None and w.reason in IMAGE_PULL_REASONS:
                secrets = ", ".join(self.image_pull_secrets) or "none"
                return (
                    f"the cluster can't pull image {c.image} for container {c.name} ({w.reason}: "
                    f"{_short(w.message or '')}); check the image name and tag, that the nodes reach its registry, "
                    f"and the context's image pull secrets ({secrets})"
                )
            if w is not None and w.reason in CREATE_REASONS:
                return f"the cluster can't start container {c.name} ({w.reason}: {_short(w.message or '')})"
        init = _status(pod, STAGE, init=True)
        if init is not None and init.state and init.state.terminated and init.state.terminated.exit_code:
            t = init.state.terminated
            return f"the pod's staging container failed ({t.reason}, exit {t.exit_code}); its inputs never arrived"
        for cond in st.conditions or []:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
                since = cond.last_transition_time
                age = (time.time() - since.timestamp()) if since else 0.0
                if age >= self.limits["unschedulable-grace"]:
                    hint = _hint(cond.message or "")
                    return (
                        f"the cluster can't place the pod (context {self.context}): {cond.message or 'unschedulable'}"
                        + (f" — the plan's {hint} can't be met there: change it, or ask the cluster's admin "
                           "for that capacity" if hint else "")
                    )
        return None

    def outcome(self, pod) -> Outcome | None:
        """The task's end as an Outcome, or None while it runs (or has yet to start)."""
        st = pod.status
        if st is not None and st.reason == "Evicted":
            return Outcome(None, message=self.trouble(pod))
        task = _status(pod, TASK)
        if task is not None and task.state is not None and task.state.terminated is not None:
            t = task.state.terminated
            oom = t.reason == "OOMKilled"
            msg = None
            if t.reason not in ("Completed", "Error", "OOMKilled", None):
                msg = f"{t.reason}: {t.message}" if t.message else t.reason
            return Outcome(t.exit_code, oom_killed=oom, message=msg)
        trouble = self.trouble(pod)
        if trouble:
            return Outcome(None, message=trouble)
        if st is not None and st.phase in ("Failed", "Succeeded"):
            return Outcome(None, message=f"its pod ended ({st.phase}: {st.reason or ''} {st.message or ''}) without the task")
        return None

    # -- while it runs --------------------------------------------------------------------------

    def follow_logs(self, handle: Handle, log: LogSink) -> None:
        name = handle.ref
        while True:
            try:
                resp = self._call("get", "pods/log", self.core.read_namespaced_pod_log, name, self.namespace,
                                  container=TASK, follow=True, _preload_content=False, _request_timeout=None)
            except ExecutorError as e:
                # 400 while the task waits to start; give up once the pod can't run it any more
                try:
                    pod = self._read(name)
                except ExecutorError:
                    pod = None
                if pod is None or getattr(e, "status", None) != 400:
                    return
                task = _status(pod, TASK)
                started = task is not None and task.state is not None and (task.state.running or task.state.terminated)
                if not started and self.outcome(pod) is not None:
                    return
                time.sleep(POLL_SECONDS)
                continue
            try:
                for chunk in _chunks(resp):
                    if chunk:
                        log(chunk)
            except (urllib3.exceptions.HTTPError, OSError):
                pass
            finally:
                try:
                    resp.release_conn()
                except Exception:  # noqa: BLE001 - already closed
                    pass
            return

    def wait(self, handle: Handle, timeout: float | None) -> Outcome | None:
        """Poll the pod until the task ends or it can't (see `outcome`); rides out short outages."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lost_since = None
        while True:
            try:
                pod = self._read(handle.ref)
            except _Unreachable as e:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > self.limits["lost-contact-grace"]:
                    return Outcome(None, message=f"lost contact with the cluster while it ran: {e}")
            except ExecutorError as e:
                return Outcome(None, message=str(e))
            else:
                lost_since = None
                if pod is None:
                    return Outcome(None, message=f"its pod {handle.ref} was deleted (by someone else, or the cluster)")
                out = self.outcome(pod)
                if out is not None:
                    return out
            if deadline is not None and time.monotonic() >= deadline:
                return None
            pause = POLL_SECONDS if deadline is None else min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)

    def _await_keeper(self, name: str) -> None:
        """Until the keeper runs: it may start after a quick task has already ended."""
        deadline = time.monotonic() + self.limits["start-timeout"]
        while True:
            pod = self._read(name)
            if pod is None:
                raise ExecutorError(f"its pod {name} is gone, and its outputs with it")
            keeper = _status(pod, KEEPER)
            state = keeper.state if keeper is not None else None
            if state is not None and state.running is not None:
                return
            trouble = self.trouble(pod)
            if trouble or (state is not None and state.terminated is not None) or time.monotonic() > deadline:
                raise ExecutorError(
                    f"the pod's keeper container is not running, so its outputs can't be fetched ({trouble or _phase(pod)})")
            time.sleep(POLL_SECONDS)

    def _signal_task(self, name: str, sig: str) -> None:
        """Signal the task's processes from the keeper (shared process namespace: everything but the
        pod's init process, the keeper and this shell)."""
        script = (
            f"i=0; while [ ! -s {CTL}/keeper.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
            f"k=$(cat {CTL}/keeper.pid 2>/dev/null); [ -n \"$k\" ] || exit 3; for d in /proc/[0-9]*; do p=${{d#/proc/}}; "
            f'case "$p" in 1|"$k"|"$$") continue;; esac; kill -{sig} "$p" 2>/dev/null; done; true'
        )
        self.exec(name, KEEPER, ["sh", "-c", script])

    def _task_ended(self, name: str) -> bool:
        pod = self._read(name)
        if pod is None:
            return True
        task = _status(pod, TASK)
        return task is not None and task.state is not None and task.state.terminated is not None

    def stop(self, handle: Handle, grace: float) -> None:
        try:
            if self._task_ended(handle.ref):
                return
            self._await_keeper(handle.ref)
            self._signal_task(handle.ref, "TERM")
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self._task_ended(handle.ref):
                    return
                time.sleep(POLL_SECONDS)
            self._signal_task(handle.ref, "KILL")
        except ExecutorError:
            pass

    def kill(self, handle: Handle) -> None:
        try:
            self._delete(handle.ref)
        except ExecutorError:
            pass

    def collect(self, handle: Handle, job: Job) -> None:
        """Stream each output back from the keeper (exec `tar -c`) into its host directory."""
        self._await_keeper(handle.ref)
        for i, (_path, dst) in enumerate(job.outputs):
            self.get_dir(handle.ref, KEEPER, f"{OUT_ROOT}/{i}", Path(dst))

    def remove(self, handle: Handle) -> None:
        try:
            self._delete(handle.ref)
        except ExecutorError:
            pass  # reconciliation removes it later

    def find(self) -> dict[str, Handle]:
        """This home's pods by run id. A pod whose inputs were never fully staged (knitd stopped while
        staging) is deleted and left out, so the run starts afresh."""
        found = self._call("list", "pods", self.core.list_namespaced_pod, self.namespace,
                           label_selector=f"{LABEL_HOME}={self.home_value}")
        out = {}
        for pod in found.items:
            run_id = (pod.metadata.labels or {}).get(LABEL_RUN)
            if not run_id or pod.metadata.deletion_timestamp:
                continue
            init = _status(pod, STAGE, init=True)
            staging = init is None or init.state is None or init.state.terminated is None
            if staging and not (pod.status and pod.status.phase in ("Running", "Succeeded", "Failed")):
                try:
                    code, _ = self.exec(pod.metadata.name, STAGE, ["test", "-e", f"{CTL}/staged"], check=False)
                except ExecutorError:
                    code = 1
                if code != 0:
                    self._delete(pod.metadata.name)
                    continue
            out[run_id] = Handle(run_id, pod.metadata.name)
        return out

    # -- exec and tar streams ----------------------------------------------------------------------

    def _open_exec(self, name: str, container: str, command: list[str], *, stdin: bool):
        # A client of its own: `stream` swaps the ApiClient's transport while it runs, which
        # must not touch the calls other threads make meanwhile.
        api_client = kclient.ApiClient(self.configuration)
        api = kclient.CoreV1Api(api_client)
        try:
            ws = kstream(api.connect_get_namespaced_pod_exec, name, self.namespace, command=command,
                         container=container, stdin=stdin, stdout=True, stderr=True, tty=False,
                         binary=True, _preload_content=False)
        except ApiException as e:
            m = re.search(r"Handshake status (\d{3})", str(e.reason or ""))
            if m:
                e = ApiException(status=int(m.group(1)), reason=str(e.reason))
                e.body = _body_from_handshake(str(e.reason))
            raise self._error(e, "create", "pods/exec") from None
        finally:
            api_client.close()  # the websocket lives on by itself
        ws.sock.settimeout(max(self.limits["api-timeout"], 300))
        return ws

    def exec(self, name: str, container: str, command: list[str], *, stdin_chunks=None, stdout=None,
             check: bool = True) -> tuple[int, str]:
        """Run a command in a container of the pod; (exit code, stderr). stdout goes to `stdout(bytes)`."""
        ws = self._open_exec(name, container, command, stdin=stdin_chunks is not None)
        try:
            if stdin_chunks is not None:
                if ws.subprotocol != "v5.channel.k8s.io":
                    raise ExecutorError(
                        f"the API server of context {self.context} can't close an exec's input "
                        "(it lacks the v5.channel.k8s.io protocol of Kubernetes 1.30+)")
                for chunk in stdin_chunks:
                    ws.write_channel(0, chunk)
                ws.close_channel(0)
            reader = _Frames(ws)
            while True:
                data = reader.read_stdout()
                if data is None:
                    break
                if stdout is not None:
                    stdout(data)
            code, err = reader.result()
        except (WebSocketException, OSError) as e:
            raise _Unreachable(f"the exec stream to pod {name} broke (context {self.context}): {e}") from None
        finally:
            ws.close()
        if check and code != 0:
            raise ExecutorError(f"`{' '.join(command)}` in pod {name} ({container}) failed with exit code {code}: {_short(err)}")
        return code, err

    def put_dir(self, name: str, container: str, src: Path, dest: str) -> int:
        """Stream a host directory into `dest` in the container as tar; bytes sent."""
        writer = _ChunkWriter()

        def produce():
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.GNU_FORMAT, bufsize=CHUNK) as tar:
                for path in sorted(_walk(src)):
                    tar.add(path, arcname=os.path.relpath(path, src), recursive=False, filter=_readable)

        self.exec(name, container, ["tar", "-x", "-f", "-", "-C", dest], stdin_chunks=writer.stream(produce))
        return writer.total

    def get_dir(self, name: str, container: str, src: str, dest: Path) -> int:
        """Stream `src` in the container back into a host directory; bytes received."""
        dest.mkdir(parents=True, exist_ok=True)
        ws = self._open_exec(name, container, ["tar", "-c", "-f", "-", "-C", src, "."], stdin=False)
        reader = _Frames(ws)
        try:
            # a stream ("r|") is only read, never sought: _Frames has what that needs, not a whole file's API
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|", bufsize=CHUNK) as tar:
                tar.extractall(dest, filter="data")
            while reader.read_stdout() is not None:
                pass
            code, err = reader.result()
        except (WebSocketException, OSError) as e:
            raise _Unreachable(f"the exec stream from pod {name} broke (context {self.context}): {e}") from None
        except tarfile.FilterError as e:  # a FIFO, device node or link out: never extracted, never read
            raise ExecutorError(
                f"the outputs of pod {name} hold what data can't hold ({e}); "
                "a task may write only files, directories and links to its outputs"
            ) from None
        except tarfile.TarError as e:
            raise ExecutorError(f"the outputs of pod {name} came back as a broken archive ({e}): {_short(reader.stderr)}") from None
        finally:
            ws.close()
        if code != 0:
            raise ExecutorError(f"fetching {src} from pod {name} failed (exit {code}): {_short(err)}")
        return reader.total


# -- helpers ------------------------------------------------------------------------------------


class _Frames:
    """Reads an exec websocket's frames: stdout as a file (`read`), stderr and the status aside."""

    def __init__(self, ws: object) -> None:  # a kubernetes.stream WSClient (the client is untyped)
        self.ws: Any = ws
        self.buf = bytearray()
        self.stderr = ""
        self.status: dict | None = None
        self.closed = False
        self.total = 0

    def _next(self) -> bytes | None:
        """The next stdout payload, b'' for other frames, None at the end."""
        if self.closed:
            return None
        op, frame = self.ws.sock.recv_data_frame(True)
        if op == ABNF.OPCODE_CLOSE:
            self.closed = True
            return None
        if op not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
            return b""
        data = frame.data if isinstance(frame.data, (bytes, bytearray)) else frame.data.encode()
        if not data:
            return b""
        ch, payload = data[0], data[1:]
        if ch == 1:
            self.total += len(payload)
            return bytes(payload)
        if ch == 2 and len(self.stderr) < 65536:
            self.stderr += bytes(payload).decode(errors="replace")
        elif ch == 3:
            try:
                self.status = json.loads(bytes(payload) or b"{}")
            except ValueError:
                self.status = {"status": "Failure", "message": bytes(payload).decode(errors="replace")}
        return b""

    def read_stdout(self) -> bytes | None:
        while True:
            data = self._next()
            if data is None or data:
                return data

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buf) < n) and not self.closed:
            data = self.read_stdout()
            if data is None:
                break
            self.buf += data
        if n < 0:
            n = len(self.buf)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def result(self) -> tuple[int, str]:
        while not self.closed:
            self._next()
        st = self.status
        if st is None:
            raise ExecutorError("the exec stream ended without a status (the connection was cut)")
        if st.get("status") == "Success":
            return 0, self.stderr
        for cause in (st.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), self.stderr
                except (TypeError, ValueError):
                    break
        raise ExecutorError(f"the exec failed: {st.get('message') or st}")


class _ChunkWriter:
    """A write-only file that a producer thread (tarfile) fills and the exec stream drains in chunks,
    a few at a time: a large input never sits in memory whole."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.total = 0
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.cancelled = False

    def write(self, b) -> int:
        if self.cancelled:
            raise OSError("the exec stream was closed")
        self.buf += b
        self.total += len(b)
        while len(self.buf) >= CHUNK:
            self.queue.put(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(b)

    def flush(self) -> None:
        pass

    def stream(self, produce: Callable[[], None]) -> Iterator[bytes]:
        """Run `produce()` (which writes here) in a thread; yield the chunks it writes."""
        failure: list[BaseException] = []

        def run():
            try:
                produce()
                if self.buf:
                    self.queue.put(bytes(self.buf))
                    self.buf.clear()
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                failure.append(e)
            finally:
                self.queue.put(None)

        t = threading.Thread(target=run, daemon=True, name="knit-tar")
        t.start()
        try:
            while True:
                chunk = self.queue.get()
                if chunk is None:
                    break
                yield chunk
        finally:
            self.cancelled = True
            while t.is_alive():  # unblock a producer waiting on a full queue
                try:
                    self.queue.get(timeout=0.1)
                except queue.Empty:
                    pass
        if failure:
            e = failure[0]
            raise ExecutorError(f"reading the input failed: {e}") from None


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            yield os.path.join(dirpath, n)


def _readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Inputs as the task will see them: owned by root, readable by any user (it may not run as ours)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


def _chunks(resp):
    if hasattr(resp, "stream"):
        yield from resp.stream(65536, decode_content=False)
    else:
        while True:
            data = resp.read(65536)
            if not data:
                return
            yield data


def _status(pod, name: str, *, init: bool = False):
    st = pod.status
    if st is None:
        return None
    for c in (st.init_container_statuses if init else st.container_statuses) or []:
        if c.name == name:
            return c
    return None


def _phase(pod) -> str:
    st = pod.status
    return f"phase {st.phase}" if st is not None and st.phase else "no status yet"


def _waiting_note(pod) -> str | None:
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


def _hint(message: str) -> str | None:
    low = message.lower()
    found = [hint for key, hint in _HINTS if key in low]
    return " or ".join(dict.fromkeys(found)) or None


def _status_of(e: Exception) -> tuple[int | None, str | None]:
    if isinstance(e, ApiException):
        return e.status, e.body
    return 0, None


def _server_message(body) -> str | None:
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        return None
    return doc.get("message") if isinstance(doc, dict) else None


def _body_from_handshake(reason: str) -> str | None:
    m = re.search(r"(\{.*\})", reason, re.S)
    if not m:
        return None
    text = m.group(1).replace("\\'", "'")
    for candidate in (text, text.encode().decode("unicode_escape", errors="ignore")):
        try:
            json.loads(candidate)
            return candidate
        except ValueError:
            continue
    return None


def _cause(e: Exception, detail: str) -> str:
    """The root of a connection failure ('Connection refused', 'Name or service not known', a TLS error)."""
    text = str(getattr(e, "reason", None) or detail)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    return _short(text, 200)


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
