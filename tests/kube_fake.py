"""A small fake Kubernetes API server for the Kubernetes executor's tests (docs/ARCHITECTURE.md#testing).

It serves exactly what the executor calls — pods create/get/list (label selector)/delete, a pod's
log (follow), and exec over WebSocket with the v5/v4 channel protocol (stdin 0, stdout 1,
stderr 2, status 3, v5 close 255) — and runs each pod as real Docker containers: a pause
container holding the pod's process namespace, the init containers one after another, then the
containers; every `emptyDir` is a Docker volume. So inputs, outputs, logs and exec streams really
move. Memory and CPU limits become Docker limits (an OOM kill is real); GPUs are only counted (against
the node's `gpus`), and so is any other resource in limits (against its `extended`: amd.com/gpu).

One node, with allocatable resources, labels and taints, is scheduled against the way the real
scheduler reports it (`0/1 nodes are available: 1 Insufficient nvidia.com/gpu.`). Failures on
demand: `forbid` (verb, resource) pairs answer 403 as an RBAC-less API server would; a wrong
bearer token answers 401; images that are not in the local Docker (after `images` aliases) give
ErrImagePull then ImagePullBackOff; `evict(name)` evicts a pod. Every call is recorded in `calls`
as (verb, resource), every created pod's manifest in `created`.

It listens on 127.0.0.1 (a free port, plain HTTP), runs in a thread of the test process, and
`stop()` removes every container and volume it made.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiohttp import WSMsgType, web

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def cpu_of(q) -> float:
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


_MEM = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def memory_of(q) -> int:
    m = re.match(r"^(\d+(?:\.\d+)?)([A-Za-z]*)$", str(q))
    if not m:
        raise ValueError(f"bad quantity {q!r}")
    return int(float(m.group(1)) * _MEM[m.group(2)])


def status_body(code: int, reason: str, message: str, **details) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


@dataclass
class Node:
    name: str = "fake-node"
    cpu: float = 8.0
    memory: int = 16 * 2**30
    gpus: int = 0
    extended: dict = field(default_factory=dict)   # other allocatable resources by name (amd.com/gpu: 2)
    labels: dict = field(default_factory=lambda: {"kubernetes.io/hostname": "fake-node"})
    taints: list = field(default_factory=list)   # [{"key", "value", "effect"}]


class FakePod:
    def __init__(self, namespace: str, manifest: dict):
        self.namespace = namespace
        self.name = manifest["metadata"]["name"]
        self.manifest = manifest
        self.uid = str(uuid.uuid4())
        meta = manifest["metadata"]
        meta.update(namespace=namespace, uid=self.uid, creationTimestamp=_now(), resourceVersion="1")
        self.lock = threading.Lock()
        self.status: dict = {"phase": "Pending", "conditions": []}
        self.containers: dict[str, str] = {}    # container name → Docker id
        self.volumes: dict[str, str] = {}       # volume name → Docker volume
        self.pause: str | None = None
        self.deleted = threading.Event()

    def set(self, **kw) -> None:
        with self.lock:
            self.status.update(kw)

    def container_status(self, name: str, *, init: bool, state: dict, image: str) -> None:
        key = "initContainerStatuses" if init else "containerStatuses"
        with self.lock:
            lst = self.status.setdefault(key, [])
            entry = {"name": name, "image": image, "imageID": "", "ready": "running" in state,
                     "restartCount": 0, "started": "running" in state, "state": state}
            for i, e in enumerate(lst):
                if e["name"] == name:
                    lst[i] = entry
                    break
            else:
                lst.append(entry)

    def state_of(self, name: str) -> dict | None:
        with self.lock:
            for key in ("initContainerStatuses", "containerStatuses"):
                for e in self.status.get(key, []):
                    if e["name"] == name:
                        return dict(e["state"])
        return None

    def to_json(self) -> dict:
        with self.lock:
            doc = copy.deepcopy(self.manifest)
            doc["status"] = copy.deepcopy(self.status)
        return doc


class FakeKube:
    """The fake API server. `start()` it, `write_kubeconfig(...)`, point the executor at it, `stop()`."""

    def __init__(self, docker_client, *, token: str | None = None, namespaces=("knit",), node: Node | None = None,
                 images: dict | None = None, pause_image: str = "knit/busybox:1"):
        self.docker = docker_client
        self.pause_image = pause_image
        self.token = token or secrets.token_hex(16)
        self.namespaces = set(namespaces)
        self.node = node or Node()
        self.images = dict(images or {})       # image alias → local image (a registry mirror)
        self.id = secrets.token_hex(4)
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.created: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.forbid: set[tuple[str, str]] = set()
        self.drivers: list[threading.Thread] = []
        self.service_accounts: set[str] | None = None   # None: any exists
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKube:
        app = web.Application(client_max_size=64 * 2**20)
        base = "/api/v1/namespaces/{ns}/pods"
        app.router.add_post(base, self.create_pod)
        app.router.add_get(base, self.list_pods)
        app.router.add_get(base + "/{name}", self.get_pod)
        app.router.add_delete(base + "/{name}", self.delete_pod)
        app.router.add_get(base + "/{name}/log", self.pod_log)
        app.router.add_get(base + "/{name}/exec", self.pod_exec)
        app.router.add_get("/version", self.version)
        app.router.add_get("/version/", self.version)
        app.router.add_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.access_review)
        app.router.add_get("/api/v1/nodes", self.list_nodes)
        app.router.add_route("*", "/{tail:.*}", self.unknown)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.runner = web.AppRunner(app, shutdown_timeout=1)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.SockSite(self.runner, sock).start())
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())
            self.loop.close()

        self.thread = threading.Thread(target=serve, daemon=True, name="fake-kube")
        self.thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self.thread is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        for pod in list(self.pods.values()):
            pod.deleted.set()
        for pod in list(self.pods.values()):
            self._teardown(pod)
        for driver in self.drivers:  # a driver caught mid-create must not leave a container behind
            driver.join(10)
        self.pods.clear()
        self.cleanup_docker()

    def cleanup_docker(self) -> None:
        for c in self.docker.api.containers(all=True, filters={"label": f"kfake={self.id}"}):
            try:
                self.docker.api.remove_container(c["Id"], force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass
        for v in self.docker.volumes.list(filters={"label": f"kfake={self.id}"}):
            try:
                v.remove(force=True)
            except Exception:  # noqa: BLE001
                pass

    def write_kubeconfig(self, path: Path, *, token: str | None = None, context: str = "fake", namespace: str = "knit",
                         server: str | None = None, current: bool = True) -> Path:
        doc = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": f"{context}-cluster", "cluster": {"server": server or self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": f"{context}-cluster", "user": f"{context}-user",
                                                       "namespace": namespace}}],
        }
        if current:
            doc["current-context"] = context
        Path(path).write_text(yaml.safe_dump(doc))
        return Path(path)

    # -- inspection and failures -----------------------------------------------------------------

    def pod(self, name: str, namespace: str = "knit") -> FakePod | None:
        """A pod that exists (not deleted)."""
        pod = self.pods.get((namespace, name))
        return None if pod is None or pod.deleted.is_set() else pod

    def live_pods(self) -> list[str]:
        return [name for (_, name), p in list(self.pods.items()) if not p.deleted.is_set()]

    def verbs(self) -> set[tuple[str, str]]:
        with self.lock:
            return set(self.calls)

    def evict(self, name: str, namespace: str = "knit", message: str | None = None) -> None:
        """Evict a pod as the kubelet does under node pressure: kill its containers, phase Failed."""
        pod = self.pods[(namespace, name)]
        message = message or ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 42Mi. "
                              "Container task was using 3Gi, request is 0, has larger consumption of its request.")
        pod.set(phase="Failed", reason="Evicted", message=message)
        for cid in list(pod.containers.values()):
            try:
                self.docker.containers.get(cid).kill()
            except Exception:  # noqa: BLE001
                pass

    # -- HTTP plumbing -----------------------------------------------------------------------------

    def _record(self, verb: str, resource: str) -> None:
        with self.lock:
            self.calls.append((verb, resource))

    def _check(self, request, verb: str, resource: str, ns: str, name: str | None = None):
        """Authenticate and authorise; a response to send back on refusal."""
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        self._record(verb, resource)
        if (verb, resource) in self.forbid:
            res, _, sub = resource.partition("/")
            who = f'{res} "{name}"' if name else res
            msg = (f'{who} is forbidden: User "system:serviceaccount:{ns}:knit" cannot {verb} resource '
                   f'"{resource}" in API group "" in the namespace "{ns}"')
            return web.json_response(status_body(403, "Forbidden", msg, name=name or "", kind=res), status=403)
        if ns not in self.namespaces:
            return web.json_response(status_body(404, "NotFound", f'namespaces "{ns}" not found',
                                                 name=ns, kind="namespaces"), status=404)
        return None

    def _pod_or_404(self, ns: str, name: str):
        pod = self.pods.get((ns, name))
        if pod is None or pod.deleted.is_set():
            return None, web.json_response(status_body(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods"),
                                           status=404)
        return pod, None

    async def version(self, request):
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        return web.json_response({
            "major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "0" * 40, "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})

    async def access_review(self, request):
        """SelfSubjectAccessReview: allowed unless the (verb, resource) is in `forbid`."""
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        body = await request.json()
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        resource = attrs.get("resource", "") + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
        allowed = (attrs.get("verb"), resource) not in self.forbid and attrs.get("namespace") in self.namespaces
        body["status"] = {"allowed": allowed, **({} if allowed else {"reason": "no RBAC rule allows it"})}
        body.setdefault("metadata", {})
        return web.json_response(body, status=201)

    async def list_nodes(self, request):
        refused = self._check(request, "list", "nodes", next(iter(self.namespaces)))
        if refused:
            return refused
        n = self.node
        node = {"metadata": {"name": n.name, "labels": n.labels},
                "spec": {"taints": n.taints},
                "status": {"allocatable": {"cpu": str(n.cpu), "memory": str(n.memory), "nvidia.com/gpu": str(n.gpus),
                                           **{k: str(v) for k, v in n.extended.items()}}}}
        return web.json_response({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node]})

    async def unknown(self, request):
        self._record(request.method.lower(), request.path)
        return web.json_response(status_body(404, "NotFound", f"the fake serves no {request.method} {request.path}"),
                                 status=404)

    async def create_pod(self, request):
        ns = request.match_info["ns"]
        refused = self._check(request, "create", "pods", ns)
        if refused:
            return refused
        body = await request.json()
        name = (body.get("metadata") or {}).get("name")
        if not name:
            return web.json_response(status_body(422, "Invalid", "Pod is invalid: metadata.name: Required value"),
                                     status=422)
        sa = (body.get("spec") or {}).get("serviceAccountName")
        if sa and self.service_accounts is not None and sa not in self.service_accounts:
            return web.json_response(status_body(
                403, "Forbidden", f'pods "{name}" is forbidden: error looking up service account {ns}/{sa}: '
                f'serviceaccount "{sa}" not found', name=name, kind="pods"), status=403)
        with self.lock:
            if (ns, name) in self.pods:
                return web.json_response(status_body(409, "AlreadyExists", f'pods "{name}" already exists',
                                                     name=name, kind="pods"), status=409)
            self.created.append(copy.deepcopy(body))
            pod = FakePod(ns, body)
            self.pods[(ns, name)] = pod
        driver = threading.Thread(target=self._run_pod, args=(pod,), daemon=True, name=f"fake-pod-{name}")
        self.drivers.append(driver)
        driver.start()
        return web.json_response(pod.to_json(), status=201)

    async def list_pods(self, request):
        ns = request.match_info["ns"]
        verb = "watch" if request.query.get("watch") in ("true", "1") else "list"
        refused = self._check(request, verb, "pods", ns)
        if refused:
            return refused
        selector = _selector(request.query.get("labelSelector", ""))
        items = [p.to_json() for (pns, _), p in list(self.pods.items())
                 if pns == ns and not p.deleted.is_set() and selector(p.manifest["metadata"].get("labels") or {})]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                  "items": items})

    async def get_pod(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        refused = self._check(request, "get", "pods", ns, name)
        if refused:
            return refused
        pod, missing = self._pod_or_404(ns, name)
        return missing or web.json_response(pod.to_json())

    async def delete_pod(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        refused = self._check(request, "delete", "pods", ns, name)
        if refused:
            return refused
        pod, missing = self._pod_or_404(ns, name)
        if missing:
            return missing
        pod.deleted.set()
        doc = pod.to_json()
        doc["metadata"]["deletionTimestamp"] = _now()
        await asyncio.get_running_loop().run_in_executor(None, self._teardown, pod)
        with self.lock:
            self.pods.pop((ns, name), None)
        return web.json_response(doc)

    def _container_for(self, pod: FakePod, name: str | None):
        spec = pod.manifest["spec"]
        names = [c["name"] for c in spec.get("containers", [])]
        inits = [c["name"] for c in spec.get("initContainers", [])]
        if name is None:
            if len(names) != 1:
                return None, web.json_response(status_body(
                    400, "BadRequest", f"a container name must be specified for pod {pod.name}, choose one of: "
                    f"[{' '.join(names)}] or one of the init containers: [{' '.join(inits)}]"), status=400)
            name = names[0]
        if name not in names + inits:
            return None, web.json_response(status_body(
                400, "BadRequest", f"container {name} is not valid for pod {pod.name}"), status=400)
        return name, None

    async def pod_log(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        refused = self._check(request, "get", "pods/log", ns, name)
        if refused:
            return refused
        pod, missing = self._pod_or_404(ns, name)
        if missing:
            return missing
        cname, bad = self._container_for(pod, request.query.get("container"))
        if bad:
            return bad
        cid = pod.containers.get(cname)
        state = pod.state_of(cname) or {}
        if cid is None or "waiting" in state:
            reason = (state.get("waiting") or {}).get("reason", "PodInitializing")
            return web.json_response(status_body(
                400, "BadRequest", f'container "{cname}" in pod "{name}" is waiting to start: {reason}'), status=400)
        follow = request.query.get("follow") in ("true", "1")
        proc = await asyncio.create_subprocess_exec(
            "docker", "logs", *(["-f"] if follow else []), cid,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        try:
            while True:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    break
                await resp.write(chunk)
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        await resp.write_eof()
        return resp

    async def pod_exec(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        # a websocket upgrade is a GET; API servers since 1.30 check `create` too
        refused = self._check(request, "get", "pods/exec", ns, name) or self._check(request, "create", "pods/exec", ns, name)
        if refused:
            return refused
        pod, missing = self._pod_or_404(ns, name)
        if missing:
            return missing
        q = request.query
        cname, bad = self._container_for(pod, q.get("container"))
        if bad:
            return bad
        cid = pod.containers.get(cname)
        if cid is None or "running" not in (pod.state_of(cname) or {}):
            return web.json_response(status_body(
                400, "BadRequest", f'unable to upgrade connection: container not found ("{cname}")'), status=400)
        command = q.getall("command", [])
        stdin = q.get("stdin") in ("true", "1")
        ws = web.WebSocketResponse(protocols=(V5, V4), max_msg_size=0)
        await ws.prepare(request)
        proc = await asyncio.create_subprocess_exec(
            "docker", "exec", *(["-i"] if stdin else []), cid, *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        async def pump(stream, channel: int):
            prefix = bytes([channel])
            while True:
                chunk = await stream.read(256 * 1024)
                if not chunk:
                    return
                await ws.send_bytes(prefix + chunk)

        async def feed():
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if not data:
                    continue
                if data[0] == 0 and stdin and proc.stdin is not None:
                    try:
                        proc.stdin.write(data[1:])
                        await proc.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif data[0] == 255 and data[1:2] == b"\x00" and ws.ws_protocol == V5 and proc.stdin is not None:
                    proc.stdin.close()
            if proc.returncode is None and stdin and proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()

        feeder = asyncio.ensure_future(feed())
        await asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))
        code = await proc.wait()
        if code == 0:
            st = {"metadata": {}, "status": "Success"}
        else:
            st = {"metadata": {}, "status": "Failure",
                  "message": f"command terminated with non-zero exit code: error executing command {command}, "
                             f"exit code {code}",
                  "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        if not ws.closed:
            await ws.send_bytes(b"\x03" + json.dumps(st).encode())
            await ws.close()
        feeder.cancel()
        return ws

    # -- pods as Docker containers -------------------------------------------------------------------

    def _unschedulable(self, spec: dict) -> str | None:
        node = self.node
        need = {"cpu": 0.0, "memory": 0, "nvidia.com/gpu": 0}
        for c in spec.get("containers", []):
            res = c.get("resources") or {}
            req = {**(res.get("limits") or {}), **(res.get("requests") or {})}
            need["cpu"] += cpu_of(req["cpu"]) if "cpu" in req else 0
            need["memory"] += memory_of(req["memory"]) if "memory" in req else 0
            need["nvidia.com/gpu"] += int((res.get("limits") or {}).get("nvidia.com/gpu", 0))
            for k, v in (res.get("limits") or {}).items():  # any other resource: a count the node must have
                if k not in ("cpu", "memory", "nvidia.com/gpu"):
                    need[k] = need.get(k, 0) + int(v)
        tail = " preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        have = {"cpu": node.cpu, "memory": node.memory, "nvidia.com/gpu": node.gpus}
        short = [k for k in need if need[k] > have.get(k, node.extended.get(k, 0))]
        if short:
            return "0/1 nodes are available: " + ", ".join(f"1 Insufficient {k}" for k in short) + "." + tail
        tolerations = spec.get("tolerations") or []
        for t in node.taints:
            if t.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any(_tolerates(tol, t) for tol in tolerations):
                return f"0/1 nodes are available: 1 node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}." + tail
        req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = req.get("nodeSelectorTerms") or []
        if terms and not any(_term_matches(term, node.labels) for term in terms):
            return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + tail
        return None

    def _run_pod(self, pod: FakePod) -> None:
        try:
            self._drive(pod)
        except Exception as e:  # noqa: BLE001 - the pod fails; the test sees why
            if not pod.deleted.is_set():
                pod.set(phase="Failed", reason="FakeError", message=f"{type(e).__name__}: {e}")

    def _drive(self, pod: FakePod) -> None:
        spec = pod.manifest["spec"]
        why = self._unschedulable(spec)
        if why:
            pod.set(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": why, "lastTransitionTime": _now()}])
            return
        with pod.lock:
            spec["nodeName"] = self.node.name
            pod.status["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]
            pod.status["startTime"] = _now()
            pod.status["hostIP"] = "127.0.0.1"
        for c in spec.get("initContainers", []):
            pod.container_status(c["name"], init=True, state={"waiting": {"reason": "PodInitializing"}}, image=c["image"])
        for c in spec.get("containers", []):
            pod.container_status(c["name"], init=False, state={"waiting": {"reason": "PodInitializing"}}, image=c["image"])
        labels = {"kfake": self.id, "kfake.pod": pod.name}
        for v in spec.get("volumes", []):
            if "emptyDir" not in v:
                raise RuntimeError(f"volume {v['name']}: the fake knows only emptyDir")
            vol = self.docker.volumes.create(name=f"kfake-{pod.uid[:8]}-{v['name']}", labels=labels)
            pod.volumes[v["name"]] = vol.name
        if pod.deleted.is_set():
            return
        pause = self.docker.containers.run(self.pause_image, ["sleep", "2147483"], detach=True,
                                           labels=labels, network_mode="none", name=f"kfake-{pod.uid[:8]}-pause")
        pod.pause = pause.id
        if pod.deleted.is_set():
            pause.remove(force=True)
            return
        for c in spec.get("initContainers", []):
            cont = self._create(pod, c, init=True)
            if cont is None:
                return
            code = self._follow(pod, c, cont, init=True)
            if code is None or pod.deleted.is_set():
                return
            if code != 0:
                pod.set(phase="Failed")
                for m in spec.get("containers", []):
                    pod.container_status(m["name"], init=False, image=m["image"],
                                         state={"terminated": {"exitCode": 0, "reason": "ContainerStatusUnknown"}})
                return
        waiters = []
        created = [(c, self._create(pod, c, init=False, start=False)) for c in spec.get("containers", [])]
        for c, cont in created:  # the kubelet starts a pod's containers one after another, quickly
            if cont is not None and self._start(pod, c, cont, init=False):
                t = threading.Thread(target=self._follow, args=(pod, c, cont), kwargs={"init": False}, daemon=True)
                t.start()
                waiters.append(t)
        if len(waiters) == len(spec.get("containers", [])) and pod.status.get("reason") != "Evicted":
            pod.set(phase="Running")
        for t in waiters:
            t.join()
        if pod.deleted.is_set() or pod.status.get("reason") == "Evicted":
            return
        with pod.lock:
            states = [e["state"] for e in pod.status.get("containerStatuses", [])]
        if all("terminated" in s for s in states):
            ok = all(s["terminated"]["exitCode"] == 0 for s in states)
            pod.set(phase="Succeeded" if ok else "Failed")

    def _image(self, image: str) -> str:
        return self.images.get(image, image)

    def _create(self, pod: FakePod, c: dict, *, init: bool, start: bool = True):
        """Create and start one container; None when its image can't be pulled (it stays waiting)."""
        from docker.errors import ImageNotFound
        from docker.types import Mount

        image = self._image(c["image"])
        try:
            self.docker.images.get(image)
        except ImageNotFound:
            ref = c["image"] if "/" in c["image"].split(":")[0] else f"docker.io/library/{c['image']}"
            msg = (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
                   f"{ref.split(':')[0]}: not found")
            pod.container_status(c["name"], init=init, image=c["image"],
                                 state={"waiting": {"reason": "ErrImagePull", "message": msg}})
            time.sleep(0.5)
            pod.container_status(c["name"], init=init, image=c["image"],
                                 state={"waiting": {"reason": "ImagePullBackOff",
                                                    "message": f'Back-off pulling image "{c["image"]}"'}})
            return None
        mounts = [Mount(target=m["mountPath"], source=pod.volumes[m["name"]], type="volume",
                        read_only=bool(m.get("readOnly"))) for m in c.get("volumeMounts", [])]
        limits = (c.get("resources") or {}).get("limits") or {}
        kwargs = {}
        if "memory" in limits:
            kwargs["mem_limit"] = kwargs["memswap_limit"] = memory_of(limits["memory"])
        if "cpu" in limits:
            kwargs["nano_cpus"] = int(cpu_of(limits["cpu"]) * 1e9)
        if pod.manifest["spec"].get("shareProcessNamespace"):
            kwargs["pid_mode"] = f"container:{pod.pause}"
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        cont = self.docker.containers.create(
            image, command=c.get("args"), entrypoint=c.get("command"), environment=env, mounts=mounts,
            labels={"kfake": self.id, "kfake.pod": pod.name, "kfake.container": c["name"]},
            name=f"kfake-{pod.uid[:8]}-{c['name']}", network_mode="none", detach=True, **kwargs)
        pod.containers[c["name"]] = cont.id
        if pod.deleted.is_set():
            cont.remove(force=True)
            return None
        if start and not self._start(pod, c, cont, init=init):
            return None
        return cont

    def _start(self, pod: FakePod, c: dict, cont, *, init: bool) -> bool:
        if pod.deleted.is_set():
            return False
        try:
            cont.start()
        except Exception:  # noqa: BLE001 - removed with its pod meanwhile
            return False
        pod.container_status(c["name"], init=init, image=c["image"], state={"running": {"startedAt": _now()}})
        return True

    def _follow(self, pod: FakePod, c: dict, cont, *, init: bool) -> int | None:
        try:
            cont.wait()
            cont.reload()
        except Exception:  # noqa: BLE001 - removed with its pod
            return None
        st = cont.attrs.get("State", {})
        code = int(st.get("ExitCode", 0))
        reason = "OOMKilled" if st.get("OOMKilled") else ("Completed" if code == 0 else "Error")
        if pod.status.get("reason") == "Evicted":
            reason = "ContainerStatusUnknown"
        pod.container_status(c["name"], init=init, image=c["image"],
                             state={"terminated": {"exitCode": code, "reason": reason, "startedAt": _now(),
                                                   "finishedAt": _now()}})
        return code

    def _teardown(self, pod: FakePod) -> None:
        pod.deleted.set()
        for c in self.docker.api.containers(all=True, filters={"label": [f"kfake={self.id}", f"kfake.pod={pod.name}"]}):
            try:
                self.docker.api.remove_container(c["Id"], force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass
        for vol in pod.volumes.values():
            for _ in range(20):
                try:
                    self.docker.volumes.get(vol).remove(force=True)
                    break
                except Exception as e:  # noqa: BLE001 - in use for a moment, or gone
                    if "404" in str(e) or "no such volume" in str(e).lower():
                        break
                    time.sleep(0.1)


def _selector(text: str):
    """An equality-based label selector (k=v, k==v, k!=v, k) as a predicate."""
    tests = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "!=" in part:
            k, v = (s.strip() for s in part.split("!=", 1))
            tests.append(lambda labels, k=k, v=v: labels.get(k) != v)
        elif "=" in part:
            k, v = (s.strip() for s in re.split(r"==?", part, maxsplit=1))
            tests.append(lambda labels, k=k, v=v: labels.get(k) == v)
        else:
            tests.append(lambda labels, k=part: k in labels)
    return lambda labels: all(t(labels) for t in tests)


def _tolerates(tol: dict, taint: dict) -> bool:
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    if tol.get("operator") == "Exists":
        return not tol.get("key") or tol["key"] == taint["key"]
    return tol.get("key") == taint["key"] and tol.get("value", "") == taint.get("value", "")


def _term_matches(term: dict, labels: dict) -> bool:
    for e in term.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
