"""`knitctl plan`: template, apply, show, find, active, resource, serviceaccount, annotate, graph."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import projectdefaults
from ..catalog import plans as plan_rows
from ..plans import registry
from ..plans.graph import edges
from ..plans.spec import SCRATCH_TEMPLATE, TEMPLATE, load_plan
from . import oneliners
from .common import OutputOpt, open_session
from .graphs import GraphFormat, parse_depth, print_graph
from .output import Format, emit, message

app = typer.Typer(help="Plans: an image, the tags its inputs accept, the tags its outputs get.", no_args_is_help=True)


_runs_summary = oneliners.runs_summary
COLUMNS = oneliners.PLAN_COLUMNS


@app.command("template")
def template(scratch: bool = typer.Option(False, "--scratch", help="A bare skeleton without comments.")):
    """Print a commented plan file to start from (with the tags and resources of the knit.yaml that applies here)."""
    typer.echo(projectdefaults.template(SCRATCH_TEMPLATE if scratch else TEMPLATE, projectdefaults.current()[1]), nl=False)


@app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="The plan file (YAML)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing."),
    output: Format | None = OutputOpt,
):
    """Register a plan and create the runs its inputs call for."""
    defaults = projectdefaults.current()[1]
    spec = projectdefaults.with_resources(load_plan(str(file)), defaults)
    if spec.resources is defaults.resources:
        message(f"resources from {defaults.path} (the plan file gives none): "
                + " ".join(f"{k}={v}" for k, v in spec.resources.to_dict().items()))
    with open_session() as s:
        result = registry.apply(s, spec, dry_run=dry_run)
    for w in result.warnings:
        message(f"warning: {w}")
    if result.created:
        message(f"dry run: would create a new plan with {len(result.new_runs)} run(s)" if dry_run else f"created plan {result.plan.plan_id} with {len(result.new_runs)} run(s)")
    else:
        message(f"plan {result.plan.plan_id} already exists with the same image, inputs and outputs")
    d = result.plan.to_dict()
    if dry_run:
        d["plan_id"] = None if result.created else d["plan_id"]
        d["would_create_runs"] = result.assignments
        for a in result.assignments:
            message("  would run with " + ", ".join(f"{p}={k}" for p, k in sorted(a.items())))
    emit([d], output, COLUMNS, single=output in (Format.json, Format.yaml))


@app.command("show")
def show(plan_id: str = typer.Argument(..., help="Plan id (a unique prefix is enough)."), output: Format | None = OutputOpt):
    """One plan: inputs with the plans upstream, outputs with the plans downstream."""
    with open_session() as s:
        p = registry.get(s, plan_id)
        up, down = registry.neighbours(s, p.plan_id)
    d = p.to_dict()
    for m in d["inputs"]:
        m["upstream"] = [{"plan_id": u, "path": op} for u, op, dn, ip in up if ip == m["path"]]
    for m in d["outputs"]:
        m["downstream"] = [{"plan_id": dn, "path": ip} for u, op, dn, ip in down if op == m["path"]]
    if d.get("log") is not None:
        d["log"] = {"tags": d["log"], "downstream": [{"plan_id": dn, "path": ip} for u, op, dn, ip in down if op == "log"]}
    if output in (Format.json, Format.yaml):
        emit([d], output, [], single=True)
        return
    rows = [("id", d["plan_id"]), ("image", d["image"]), ("active", "yes" if d["active"] else "no")]
    if d["entrypoint"]:
        rows.append(("entrypoint", " ".join(d["entrypoint"])))
    if d["args"]:
        rows.append(("args", " ".join(d["args"])))
    for m in d["inputs"]:
        ups = ", ".join(f'plan {u["plan_id"]} {u["path"]}' for u in m["upstream"]) or "uploads only"
        rows.append((f'input {m["path"]}', " ".join(m["tags"]) + f"  ← {ups}"))
    for m in d["outputs"]:
        downs = ", ".join(f'plan {x["plan_id"]} {x["path"]}' for x in m["downstream"]) or "-"
        rows.append((f'output {m["path"]}', " ".join(m["tags"]) + f"  → {downs}"))
    if d.get("log") is not None:
        downs = ", ".join(f'plan {x["plan_id"]} {x["path"]}' for x in d["log"]["downstream"]) or "-"
        rows.append(("log", " ".join(d["log"]["tags"]) + f"  → {downs}"))
    rows.append(("resources", " ".join(f"{k}={v}" for k, v in d["resources"].items()) or "-"))
    rows.append(("cache", "on: a done run's outputs are reused for inputs of the same content" if d.get("cache") else "off"))
    if d["service_account"]:
        rows.append(("service account", d["service_account"]))
    if d["annotations"]:
        rows.append(("annotations", " ".join(d["annotations"])))
    rows.append(("runs", _runs_summary(d.get("runs", {}))))
    emit([{"field": k, "value": v} for k, v in rows], output, [("field", lambda r: r["field"]), ("value", lambda r: r["value"])])


@app.command("find")
def find(
    active: str = typer.Option("both", "--active", help="yes, no or both."),
    image: str | None = typer.Option(None, "--image", help="Only plans with this image (name or name:tag)."),
    in_tag: list[str] = typer.Option([], "-i", "--in-tag", help="Only plans with an input accepting these tags."),
    out_tag: list[str] = typer.Option([], "-O", "--out-tag", help="Only plans with an output carrying these tags."),
    output: Format | None = OutputOpt,
):
    """List plans."""
    oneliners.plan_find(active=active, image=image, in_tag=in_tag, out_tag=out_tag, output=output)


@app.command("active")
def active(
    state: str = typer.Argument(..., help="yes or no."),
    plan_id: str = typer.Argument(..., help="Plan id."),
):
    """Activate or deactivate a plan (its waiting runs wait as deactivated)."""
    if state not in ("yes", "no"):
        from ..errors import UsageError

        raise UsageError(f"{state!r} is not yes or no: `knitctl plan active yes|no PLAN_ID`")
    with open_session() as s:
        p, moved = registry.set_active(s, plan_id, state == "yes")
    message(f"plan {p.plan_id} is {'active' if p.active else 'inactive'}; {moved} run(s) now {'waiting' if p.active else 'deactivated'}")


@app.command("cache")
def cache(
    state: str = typer.Argument(..., help="yes or no."),
    plan_id: str = typer.Argument(..., help="Plan id."),
):
    """Turn reuse on or off: with it on, a new run whose inputs have the same content as a done run's of
    this plan does not execute; it ends done at once with that run's outputs (no bytes copied)."""
    if state not in ("yes", "no"):
        from ..errors import UsageError

        raise UsageError(f"{state!r} is not yes or no: `knitctl plan cache yes|no PLAN_ID`")
    with open_session() as s:
        p = registry.set_cache(s, plan_id, state == "yes")
    message(f"plan {p.plan_id}: cache {'on' if p.cache else 'off'} for its runs from now on")


@app.command("resource")
def resource(
    plan_id: str = typer.Argument(..., help="Plan id."),
    set_: list[str] = typer.Option([], "-s", "--set", help="NAME=QUANTITY, e.g. memory=2Gi, cpu=2, gpu=1, amd.com/gpu=1."),
    unset: list[str] = typer.Option([], "-u", "--unset", help="A resource to remove."),
    output: Format | None = OutputOpt,
):
    """Change a plan's resources (for runs that start from now on).

    Any resource Kubernetes takes for a container: cpu, memory, gpu (nvidia.com/gpu), ephemeral-storage,
    hugepages-SIZE, or an extended resource DOMAIN/NAME such as amd.com/gpu (Kubernetes contexts only).
    """
    with open_session() as s:
        p = registry.set_resources(s, plan_id, set_, unset)
    emit([p.to_dict()], output, [("id", lambda d: d["plan_id"]), ("resources", lambda d: " ".join(f"{k}={v}" for k, v in d["resources"].items()))], single=output in (Format.json, Format.yaml))


@app.command("serviceaccount", epilog=(
    "Examples:\n\n\b\n  knitctl plan serviceaccount 3f2a --set trainer\n  knitctl plan serviceaccount 3f2a --unset"))
def serviceaccount(
    plan_id: str = typer.Argument(..., help="Plan id."),
    set_: str | None = typer.Option(None, "-s", "--set", help="The service account's name."),
    unset: bool = typer.Option(False, "-u", "--unset", help="Run with the namespace's default service account."),
    output: Format | None = OutputOpt,
):
    """Change the Kubernetes service account a plan's runs start with (from now on)."""
    if (set_ is None) == (not unset):
        from ..errors import UsageError

        raise UsageError("give one of --set NAME or --unset: `knitctl plan serviceaccount PLAN_ID --set NAME`")
    with open_session() as s:
        p = registry.set_service_account(s, plan_id, None if unset else set_)
    emit([p.to_dict()], output, [("id", lambda d: d["plan_id"]), ("service_account", lambda d: d["service_account"] or "-")],
         single=output in (Format.json, Format.yaml))


@app.command("annotate")
def annotate(
    plan_id: str = typer.Argument(..., help="Plan id."),
    add: list[str] = typer.Option([], "--add", help="key=value to add."),
    remove: list[str] = typer.Option([], "--remove", help="key=value to remove."),
    remove_key: list[str] = typer.Option([], "--remove-key", help="Remove every annotation with this key."),
    output: Format | None = OutputOpt,
):
    """Change a plan's annotations."""
    with open_session() as s:
        p = registry.annotate(s, plan_id, add, remove, remove_key)
    emit([p.to_dict()], output, [("id", lambda d: d["plan_id"]), ("annotations", lambda d: d["annotations"])], single=output in (Format.json, Format.yaml))


@app.command("graph")
def graph(
    plan_id: str = typer.Argument(..., help="Plan id."),
    upstream: bool = typer.Option(False, "-u", "--upstream", help="Only plans feeding it."),
    downstream: bool = typer.Option(False, "-d", "--downstream", help="Only plans it feeds."),
    numbers: str = typer.Option("3", "-n", "--numbers", help="How many hops, or 'all'."),
    output: GraphFormat = typer.Option(GraphFormat.dot, "-o", "--output",
                                       help="dot, mermaid, json, tree, or a picture: svg or png (drawn by Graphviz's dot)."),
):
    """The plans around a plan, linked by matching tags.

    -o svg or -o png draws them with Graphviz's dot (apt-get install graphviz)."""
    depth = parse_depth(numbers)
    both = not upstream and not downstream
    with open_session() as s:
        root = registry.get(s, plan_id)
        with s.catalog.read() as conn:
            shapes = registry.shapes(s)
            images = plan_rows.images(conn)
    all_edges = edges(shapes)
    keep: set = set()
    nodes = {root.plan_id}
    for direction in ("up", "down"):
        if (direction == "up" and not (upstream or both)) or (direction == "down" and not (downstream or both)):
            continue
        frontier, hops = {root.plan_id}, 0
        while frontier and (depth is None or hops < depth):
            nxt = set()
            for e in all_edges:
                a, b = (e[2], e[0]) if direction == "up" else (e[0], e[2])
                if a in frontier:
                    keep.add(e)
                    if b not in nodes:
                        nxt.add(b)
                        nodes.add(b)
            frontier, hops = nxt, hops + 1
    g = {
        "root": {"kind": "plan", "id": root.plan_id},
        "nodes": [{"kind": "plan", "id": p, "image": images.get(p)} for p in sorted(nodes)],
        "edges": [{"from": {"kind": "plan", "id": u}, "to": {"kind": "plan", "id": d}, "path": f"{op} → {ip}"} for u, op, d, ip in sorted(keep)],
    }
    print_graph(g, output)
