"""The Kubernetes executor's lifecycle: create a run's pod, stage its inputs in, follow and wait
for its task, stop or kill it, bring its outputs back, delete it, and find this home's pods after
a restart. What the pod is (`manifest`), what its status means (`status`), how API failures read
(`errors`) and how bytes travel over exec (`streaming`) live beside it.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from ..base import ExecutorError, Handle, Job, LogSink, Outcome
from . import status
from .errors import ApiError, Target, Unreachable, translate
from .manifest import (
    CTL,
    DEFAULT_HELPER_IMAGE,
    IN_ROOT,
    KEEPER,
    LABEL_HOME,
    LABEL_RUN,
    OUT_ROOT,
    STAGE,
    TASK,
    home_hash,
    pod_manifest,
    pod_name,
)
from .streaming import PodExec, chunks

# (verb, resource) of every API call this executor makes: the Role's rules (packaging/kubernetes/).
# Exec is a websocket GET; API servers since 1.30 also check `create` on pods/exec for it.
API_CALLS = frozenset({
    ("create", "pods"), ("get", "pods"), ("list", "pods"), ("delete", "pods"),
    ("get", "pods/log"), ("get", "pods/exec"), ("create", "pods/exec"),
})

POLL_SECONDS = 0.25

# How long a pod may be unschedulable before the run fails (a busy cluster frees capacity; an
# autoscaler adds nodes), how long to wait for the pod to come up at all, how long the cluster
# may be unreachable while a run is followed — each overridable per context in the config file.
DEFAULTS = {"unschedulable-grace": 300.0, "start-timeout": 900.0, "lost-contact-grace": 120.0, "api-timeout": 30.0}


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
        self.where = Target(context=self.context, server=self.server, namespace=self.namespace,
                            kubeconfig=self.kubeconfig)
        self.pods = PodExec(self.configuration, self.where, self.limits["api-timeout"])

    # -- API calls ------------------------------------------------------------------------

    def _call(self, verb: str, resource: str, fn, *args, **kwargs):
        """`fn(*args, **kwargs)`, the API call `verb resource`; its failure as one clear ExecutorError."""
        kwargs.setdefault("_request_timeout", self.limits["api-timeout"])
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ConfigException) as e:
            raise translate(e, verb, resource, self.where) from None

    def _read(self, name: str):
        """The pod, or None when it does not exist."""
        try:
            return self._call("get", "pods", self.core.read_namespaced_pod, name, self.namespace)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def _delete(self, name: str) -> None:
        try:
            self._call("delete", "pods", self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=0)
        except ApiError as e:
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
            except ApiError as e:
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
            stage = status.stage_state(pod)
            if stage is not None:
                return stage == "ended"
            waiting = status.waiting_note(pod)
            if waiting and waiting != said:
                log(f"knit: pod {name}: {waiting}\n".encode())
                said = waiting
            if time.monotonic() > deadline:
                raise ExecutorError(
                    f"pod {name} did not start within {self.limits['start-timeout']:g}s (context {self.context}): "
                    f"{waiting or status.phase(pod)}"
                )
            time.sleep(POLL_SECONDS)

    # -- what the pod says (status.py reads it, with this context's settings and the clock) ----------

    def trouble(self, pod: Any) -> str | None:
        """A message when the pod can't go on (evicted, unschedulable too long, image pull, failed staging)."""
        return status.trouble(pod, context=self.context, image_pull_secrets=self.image_pull_secrets,
                              unschedulable_grace=self.limits["unschedulable-grace"], now=time.time())

    def outcome(self, pod: Any) -> Outcome | None:
        """The task's end as an Outcome, or None while it runs (or has yet to start)."""
        return status.outcome(pod, context=self.context, image_pull_secrets=self.image_pull_secrets,
                              unschedulable_grace=self.limits["unschedulable-grace"], now=time.time())

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
                if not status.task_started(pod) and self.outcome(pod) is not None:
                    return
                time.sleep(POLL_SECONDS)
                continue
            try:
                for chunk in chunks(resp):
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
            except Unreachable as e:
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
                    image_id = status.task_image_id(pod)  # provenance: the pod's imageID, read with its end
                    return replace(out, image_id=image_id) if image_id else out
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
            keeper = status.keeper_state(pod)
            if keeper == "running":
                return
            trouble = self.trouble(pod)
            if trouble or keeper == "ended" or time.monotonic() > deadline:
                raise ExecutorError(
                    f"the pod's keeper container is not running, so its outputs can't be fetched ({trouble or status.phase(pod)})")
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
        return pod is None or status.task_ended(pod)

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
            if status.maybe_staging(pod):
                try:
                    code, _ = self.exec(pod.metadata.name, STAGE, ["test", "-e", f"{CTL}/staged"], check=False)
                except ExecutorError:
                    code = 1
                if code != 0:
                    self._delete(pod.metadata.name)
                    continue
            out[run_id] = Handle(run_id, pod.metadata.name)
        return out

    # -- exec and tar streams (streaming.py) ---------------------------------------------------------

    def exec(self, name: str, container: str, command: list[str], *, stdin_chunks=None, stdout=None,
             check: bool = True) -> tuple[int, str]:
        """Run a command in a container of the pod; (exit code, stderr). stdout goes to `stdout(bytes)`."""
        return self.pods.run(name, container, command, stdin_chunks=stdin_chunks, stdout=stdout, check=check)

    def put_dir(self, name: str, container: str, src: Path, dest: str) -> int:
        """Stream a host directory into `dest` in the container as tar; bytes sent."""
        return self.pods.put_dir(name, container, src, dest)

    def get_dir(self, name: str, container: str, src: str, dest: Path) -> int:
        """Stream `src` in the container back into a host directory; bytes received."""
        return self.pods.get_dir(name, container, src, dest)
