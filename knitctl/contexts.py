"""Contexts (docs/ARCHITECTURE.md#contexts): where runs execute. `local` is Docker on this host;
other contexts name a Kubernetes cluster through a kubeconfig.

The current context: the `--context` flag (which sets KNIT_CONTEXT for the
process), else `$KNIT_CONTEXT`, else — in the knitctl command line — the `context:`
of the knit.yaml that applies (knitctl/projectdefaults.py), else the config file's
`current-context`, else `local`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from . import safeyaml
from .config import LOCAL
from .controlchars import escape, first_control
from .errors import NotFound, UsageError
from .safeyaml import read_text

KINDS = ("docker", "kubernetes")
KUBE_KEYS = ("kind", "kubeconfig", "kube-context", "namespace", "image-pull-secrets")


_cache: dict = {}

# where the current context comes from (Current.source)
FROM_ENV = "env"              # $KNIT_CONTEXT, which --context sets
FROM_PROJECT = "knit.yaml"    # the project defaults' context:
FROM_CONFIG = "config"        # the config file's current-context
FROM_DEFAULT = "default"      # none of those: local


@dataclass(frozen=True)
class Current:
    name: str
    source: str               # one of FROM_*
    file: str | None = None   # the knit.yaml or config file it was read from


def current(cfg: config_mod.Config | None = None) -> str:
    return current_source(cfg).name


def current_source(cfg: config_mod.Config | None = None) -> Current:
    """The current context and where it was decided: flag/env > knit.yaml > config file > local."""
    env = os.environ.get("KNIT_CONTEXT")
    if env:
        return Current(env, FROM_ENV)
    from . import projectdefaults

    project = projectdefaults.active()
    if project is not None and project.context:
        return Current(project.context, FROM_PROJECT, str(project.path))
    path = config_mod.config_path()
    if cfg is None:
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except FileNotFoundError:
            return Current(LOCAL, FROM_DEFAULT)
        if _cache.get("key") != key:  # re-read only when the file changed
            _cache.update(key=key, value=config_mod.load(path).current_context)
        name = _cache["value"]
    else:
        name = cfg.current_context if path.exists() else None
    return Current(name, FROM_CONFIG, str(path)) if name else Current(LOCAL, FROM_DEFAULT)


def get(name: str, cfg: config_mod.Config | None = None) -> dict:
    cfg = cfg or config_mod.load()
    if name not in cfg.contexts:
        known = ", ".join(sorted(cfg.contexts))
        raise NotFound(f"no context named {name!r} (known: {known}); `knitctl context add` or `import-kube` makes one")
    return {"name": name, **cfg.contexts[name]}


def name_problem(name: str) -> str | None:
    """Why `name` can't be a context's name, or None. Pure."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        return f"context name '{escape(name)}': use letters, digits, '-', '_' or '.'"
    return None


def validate(name: str, settings: dict) -> dict:
    problem = name_problem(name)
    if problem:
        raise UsageError(problem)
    kind = settings.get("kind", "kubernetes")
    if kind not in KINDS:
        raise UsageError(f"context {name}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "kubernetes" and not settings.get("namespace"):
        raise UsageError(f"context {name}: a Kubernetes context needs --namespace")
    return {k: v for k, v in settings.items() if v not in (None, [], "")}


def use(name: str) -> None:
    cfg = config_mod.load()
    get(name, cfg)
    cfg.current_context = name
    config_mod.save(cfg)


def add(name: str, settings: dict, *, replace: bool = False) -> dict:
    cfg = config_mod.load()
    if name == LOCAL:
        raise UsageError("the context 'local' is built in (Docker on this host); choose another name")
    if name in cfg.contexts and not replace:
        raise UsageError(f"context {name!r} exists; remove it first (`knitctl context rm {name}`) or pass --replace")
    cfg.contexts[name] = validate(name, settings)
    config_mod.save(cfg)
    return {"name": name, **cfg.contexts[name]}


def remove(name: str) -> None:
    cfg = config_mod.load()
    if name == LOCAL:
        raise UsageError("the context 'local' is built in and can't be removed")
    get(name, cfg)
    del cfg.contexts[name]
    if cfg.current_context == name:
        cfg.current_context = LOCAL
    config_mod.save(cfg)


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


MAX_KUBECONFIG_BYTES = 16 << 20   # kubeconfigs carry certificates inline; none is near this


def read_kube_contexts(paths: list[Path]) -> tuple[list[dict], str | None]:
    """Contexts from kubeconfig files (first file wins per name, as kubectl merges), and current-context."""
    seen: dict[str, dict] = {}
    current_ctx = None
    for p in paths:
        if not p.exists():
            continue
        text = read_text(p, max_bytes=MAX_KUBECONFIG_BYTES, what="kubeconfig", hint="pass --kubeconfig")
        try:
            doc = safeyaml.load(text, str(p))
        except safeyaml.YamlError as e:
            raise UsageError(f"not a valid kubeconfig: {e.message}") from None
        file_current, contexts = parse_kubeconfig(doc, str(p))
        if current_ctx is None and file_current:
            current_ctx = file_current
        for name, ns in contexts:
            if name not in seen:
                seen[name] = {"name": name, "namespace": ns, "file": str(p)}
    if not seen:
        raise UsageError("no Kubernetes contexts found in " + ", ".join(str(p) for p in paths) + "; pass --kubeconfig")
    return list(seen.values()), current_ctx


def parse_kubeconfig(doc, source: str) -> tuple[str | None, list[tuple[str, str]]]:
    """A loaded kubeconfig's current-context and (name, namespace) of each context. Pure.

    Anything not shaped like a kubeconfig is one UsageError naming the file and the field.
    """
    def bad(field: str, what: str) -> UsageError:
        return UsageError(f"{source}: {field}: {what}; is this a kubeconfig? (`kubectl config view` shows a valid one)")

    if doc is None:
        return None, []
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: not a kubeconfig (a YAML mapping with `contexts`, not {type(doc).__name__}); pass the right file with --kubeconfig")
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise bad("current-context", "must be a context's name")
    entries = doc.get("contexts") or []
    if not isinstance(entries, list):
        raise bad("contexts", f"must be a list of {{name, context}}, not {type(entries).__name__}")
    out = []
    for i, c in enumerate(entries):
        if not isinstance(c, dict):
            raise bad(f"contexts[{i}]", "must be a mapping with name and context")
        name = c.get("name")
        if name is None or name == "":
            continue
        if not isinstance(name, str):
            raise bad(f"contexts[{i}].name", "must be text")
        if first_control(name):
            raise UsageError(f"{source}: contexts[{i}].name: '{escape(name)}' holds control characters; rename that context (`kubectl config rename-context`)")
        ctx = c.get("context") or {}
        if not isinstance(ctx, dict):
            raise bad(f"contexts[{i}].context", "must be a mapping (cluster, user, namespace)")
        ns = ctx.get("namespace") or "default"
        if not isinstance(ns, str):
            raise bad(f"contexts[{i}].context.namespace", "must be text")
        out.append((name, ns))
    return current or None, out


def import_kube(explicit: str | None = None, *, namespace: str | None = None) -> list[dict]:
    """Make a knit context for every kubeconfig context; the kubeconfig's current one becomes current."""
    paths = kubeconfig_paths(explicit)
    found, kube_current = read_kube_contexts(paths)
    cfg = config_mod.load()
    made = []
    kubeconfig = os.pathsep.join(str(p) for p in paths)
    for c in found:
        name = c["name"] if c["name"] != LOCAL else f"kube-{c['name']}"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
        cfg.contexts[safe] = validate(safe, {
            "kind": "kubernetes", "kubeconfig": kubeconfig, "kube-context": c["name"],
            "namespace": namespace or c["namespace"],
        })
        made.append({"name": safe, **cfg.contexts[safe]})
        if c["name"] == kube_current:
            cfg.current_context = safe
    config_mod.save(cfg)
    return made
