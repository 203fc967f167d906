"""Checks of what knitd drives: Docker and the contexts' clusters.

`python -m daemon.doctor [--contexts]` prints JSON: a list of checks, each
{"check", "ok", "detail", "fix"}. knitctl doctor runs it, so knitctl itself
never talks to Docker or Kubernetes.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def check(name: str, ok: bool, detail: str, fix: str = "") -> dict:
    return {"check": name, "ok": ok, "detail": detail, "fix": "" if ok else fix}


def docker_checks() -> list[dict]:
    import docker
    from docker.errors import DockerException

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=5)
        info = client.info()
        version = client.version().get("Version", "?")
    except DockerException as e:
        reason = str(e).splitlines()[0][:200]
        sock = Path("/var/run/docker.sock")
        if "Permission denied" in reason or (sock.exists() and not os.access(sock, os.R_OK | os.W_OK)):
            return [check("docker", False, f"{where}: permission denied",
                          "add yourself to the docker group: sudo usermod -aG docker $USER, then log in again")]
        return [check("docker", False, f"can't reach Docker at {where} ({reason})",
                      "start the engine: sudo systemctl start docker (or packaging/docker-engine.sh); "
                      "if DOCKER_HOST is set, check it points at a running engine")]
    out = [check("docker", True, f"Docker {version} at {where}")]
    runtimes = set((info.get("Runtimes") or {}).keys())
    cdi = [d for d in ("/etc/cdi", "/var/run/cdi") if Path(d).is_dir() and any(Path(d).iterdir())]
    if "nvidia" in runtimes or cdi:
        out.append(check("gpu", True, "NVIDIA runtime" if "nvidia" in runtimes else f"CDI specs in {', '.join(cdi)}"))
    else:
        out.append(check("gpu", True, "no GPU container support (plans asking for `gpu` will fail here); "
                         "to use GPUs install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`"))
    return out


def context_checks(only: str | None = None) -> list[dict]:
    """Each Kubernetes context: reachable, allowed every call the executor makes, GPUs on its nodes."""
    from knitctl import config as config_mod

    cfg = config_mod.load()
    if only and only not in cfg.contexts:
        return [check(f"context {only}", False, "no such context", "list them with `knitctl context ls`")]
    out = []
    for name, settings in sorted(cfg.contexts.items()):
        if (only and name != only) or settings.get("kind", "kubernetes") == "docker":
            continue
        out += kube_checks(name, settings)
    return out


def kube_checks(name: str, settings: dict) -> list[dict]:
    from kubernetes import client as kclient

    from .executors import ExecutorError, make_executor
    from .executors.kubernetes import API_CALLS, KubernetesExecutor

    label = f"context {name}"
    try:
        ex = make_executor({"name": name, **settings}, "doctor")
        assert isinstance(ex, KubernetesExecutor)  # context_checks passes only Kubernetes contexts
        version = kclient.VersionApi(ex.api_client).get_code(_request_timeout=10)
    except ExecutorError as e:
        return [check(label, False, str(e), f"fix the kubeconfig of context {name} (`knitctl context show {name}`)")]
    except Exception as e:  # the cluster's unreachability is the finding
        return [check(label, False, f"unreachable at {getattr(locals().get('ex'), 'server', '?')}: {str(e).splitlines()[0][:200]}",
                      f"check the cluster is up and the credentials of context {name} are current")]
    out = [check(label, True, f"Kubernetes {version.git_version} at {ex.server}, namespace {ex.namespace}")]
    auth = kclient.AuthorizationV1Api(ex.api_client)
    missing = []
    for verb, resource in sorted(API_CALLS):
        res, _, sub = resource.partition("/")
        review = kclient.V1SelfSubjectAccessReview(spec=kclient.V1SelfSubjectAccessReviewSpec(
            resource_attributes=kclient.V1ResourceAttributes(
                namespace=ex.namespace, verb=verb, resource=res, subresource=sub or None)))
        try:
            status = auth.create_self_subject_access_review(review, _request_timeout=10).status
        except Exception as e:  # noqa: BLE001 — reported per permission
            missing.append(f"{verb} {resource} (could not ask: {str(e).splitlines()[0][:80]})")
            continue
        if status is None:
            missing.append(f"{verb} {resource} (could not ask: the review came back without a status)")
            continue
        if not status.allowed:
            missing.append(f"{verb} {resource}")
    out.append(check(f"{label} permissions", not missing,
                     f"all {len(API_CALLS)} calls knit makes are allowed in namespace {ex.namespace}" if not missing
                     else "not allowed: " + ", ".join(missing),
                     "ask a cluster admin to apply packaging/kubernetes/knit.yaml (Role knit-executor) for your user "
                     "or service account in that namespace"))
    try:
        nodes = kclient.CoreV1Api(ex.api_client).list_node(_request_timeout=10).items
        gpus = sum(int(((n.status.allocatable if n.status else None) or {}).get("nvidia.com/gpu", 0)) for n in nodes)
        out.append(check(f"{label} gpus", True, f"{gpus} GPU(s) allocatable on {len(nodes)} node(s)"
                         + ("" if gpus else "; plans asking for `gpu` won't schedule there")))
    except Exception as e:  # listing nodes needs a ClusterRole that knit itself doesn't need
        out.append(check(f"{label} gpus", True, f"GPU capacity unknown: can't list nodes ({str(e).splitlines()[0][:80]}); "
                         "knit doesn't need that permission, a run asking for more than the cluster has fails as unschedulable"))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m daemon.doctor")
    p.add_argument("--contexts", action="store_true", help="also check each Kubernetes context")
    p.add_argument("--context", help="check only this context (and not Docker)")
    a = p.parse_args(argv)
    if a.context:
        results = context_checks(a.context)
    else:
        results = docker_checks() + (context_checks() if a.contexts else [])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
