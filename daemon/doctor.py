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


def context_checks() -> list[dict]:
    from knitctl import config as config_mod

    out = []
    cfg = config_mod.load()
    for name, settings in sorted(cfg.contexts.items()):
        if settings.get("kind", "kubernetes") == "docker":
            continue
        try:
            from kubernetes import client, config as kconfig

            files = settings.get("kubeconfig")
            api_client = kconfig.new_client_from_config(
                config_file=files.split(os.pathsep)[0] if files else None, context=settings.get("kube-context"))
            v = client.VersionApi(api_client).get_code(_request_timeout=5)
            out.append(check(f"context {name}", True, f"Kubernetes {v.git_version}, namespace {settings.get('namespace')}"))
        except Exception as e:  # any failure to reach the cluster is the finding
            out.append(check(f"context {name}", False, f"unreachable: {str(e).splitlines()[0][:200]}",
                             f"check the kubeconfig and credentials of context {name} (`knitctl context show {name}`)"))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m daemon.doctor")
    p.add_argument("--contexts", action="store_true", help="also check each Kubernetes context")
    a = p.parse_args(argv)
    results = docker_checks() + (context_checks() if a.contexts else [])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
