"""`knitctl context`: where runs execute."""

from __future__ import annotations

import typer

from .. import config as config_mod
from .. import contexts
from .output import Format, emit, message

app = typer.Typer(help="Contexts: local Docker, or a Kubernetes cluster.", no_args_is_help=True)

COLUMNS = [
    ("current", lambda c: "*" if c["current"] else ""),
    ("name", lambda c: c["name"]),
    ("kind", lambda c: c.get("kind", "")),
    ("cluster", lambda c: c.get("kube-context", "")),
    ("namespace", lambda c: c.get("namespace", "")),
]


@app.command("ls")
def ls(output: Format | None = typer.Option(None, "-o", "--output", help="table, json or yaml.")):
    """List contexts; * marks the current one."""
    cfg = config_mod.load()
    cur = contexts.current(cfg)
    rows = [{"name": n, "current": n == cur, **s} for n, s in sorted(cfg.contexts.items())]
    emit(rows, output, COLUMNS)


@app.command("show")
def show(name: str | None = typer.Argument(None, help="Context (default: the current one)."),
         output: Format | None = typer.Option(None, "-o", "--output", help="table, json or yaml.")):
    """One context's settings."""
    cfg = config_mod.load()
    c = contexts.get(name or contexts.current(cfg), cfg)
    c["current"] = c["name"] == contexts.current(cfg)
    if output in (Format.json, Format.yaml):
        emit([c], output, [], single=True)
    else:
        emit([{"k": k, "v": v} for k, v in c.items()], output, [("field", lambda r: r["k"]), ("value", lambda r: r["v"])])


@app.command("use")
def use(name: str = typer.Argument(..., help="Context to make current.")):
    """Make a context current: runs created from now on execute there."""
    contexts.use(name)
    message(f"current context: {name}")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A name for the context."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)."),
    kube_context: str | None = typer.Option(None, "--kube-context", help="The kubeconfig context (default: its current one)."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace the pods run in."),
    image_pull_secret: list[str] = typer.Option([], "--image-pull-secret", help="Secret for pulling images (repeatable)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a context of the same name."),
):
    """Add a Kubernetes context."""
    c = contexts.add(name, {
        "kind": "kubernetes", "kubeconfig": kubeconfig, "kube-context": kube_context,
        "namespace": namespace, "image-pull-secrets": list(image_pull_secret),
    }, replace=replace)
    message(f"added context {c['name']} (namespace {c['namespace']})")


@app.command("rm")
def rm(name: str = typer.Argument(..., help="Context to remove.")):
    """Remove a context (runs that ran there keep their record)."""
    contexts.remove(name)
    message(f"removed context {name}")


@app.command("import-kube")
def import_kube(
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG list or ~/.kube/config)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Namespace for every context (default: each context's own, or 'default')."),
):
    """Create contexts from the kubeconfig's contexts; its current context becomes current."""
    made = contexts.import_kube(kubeconfig, namespace=namespace)
    for c in made:
        message(f"context {c['name']} → {c['kube-context']} (namespace {c['namespace']})")
