"""Plans in the catalog: apply (with dry run), read, find, and the mutable fields."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import ids, runstate
from .. import tags as tagrules
from ..catalog import cache as cache_rows
from ..catalog import marks as mark_rows
from ..catalog import plans as q
from ..catalog.records import LOG_PATH
from ..errors import Conflict, UsageError
from ..projection import nominated_for, project_plan
from ..session import Session
from .graph import PlanShape, edges, find_cycle
from .spec import PlanSpec, Resources, parse_annotation, parse_resources, parse_service_account, resource_name_problem

CARTESIAN_WARN = 100


@dataclass
class Plan:
    plan_id: str
    spec: PlanSpec
    hash: str | None
    active: bool
    resources: Resources
    annotations: tuple[str, ...]
    service_account: str | None
    created_ms: int
    runs: dict[str, int] = field(default_factory=dict)
    cache: bool = False            # reuse a done run's outputs for inputs of the same content (knitctl.reuse)

    def to_dict(self) -> dict:
        d = {"plan_id": self.plan_id, **self.spec.to_dict()}
        d.update(
            active=self.active,
            resources=self.resources.to_dict(),
            annotations=list(self.annotations),
            service_account=self.service_account,
            cache=self.cache,
            hash=self.hash,
            created=tagrules.format_time(self.created_ms),
        )
        if self.runs:
            d["runs"] = self.runs
        return d


@dataclass
class ApplyResult:
    plan: Plan
    created: bool                 # False: an equal plan existed
    new_runs: list[str]
    warnings: list[str]
    dry_run: bool
    assignments: list[dict[str, str]] = field(default_factory=list)   # of the new runs: path -> knit id


class _DryRun(Exception):
    def __init__(self, result: ApplyResult):
        self.result = result


def _row_to_plan(row) -> Plan:
    spec = PlanSpec.from_dict(json.loads(row["spec"]))
    return Plan(
        plan_id=row["plan_id"],
        spec=spec,
        hash=row["hash"],
        active=bool(row["active"]),
        resources=Resources.from_dict(json.loads(row["resources"])),
        annotations=tuple(json.loads(row["annotations"])),
        service_account=row["service_account"],
        created_ms=row["created_ms"],
        cache=bool(row["cache"]),
    )


def resolve_id(session: Session, text: str) -> str:
    prefix = ids.check_prefix(text, what="plan")
    return ids.pick_one(prefix, q.ids_with_prefix(session.catalog.conn, prefix), what="plan")


def get(session: Session, text: str) -> Plan:
    conn = session.catalog.conn
    plan_id = resolve_id(session, text)
    plan = _row_to_plan(q.row(conn, plan_id))
    plan.runs = q.run_counts(conn, plan_id).get(plan_id, {})
    return plan


def shapes(session: Session) -> list[PlanShape]:
    """Every real plan's input and output tag sets."""
    conn = session.catalog.conn
    ins: dict[str, dict[str, set[str]]] = {}
    outs: dict[str, dict[str, set[str]]] = {}
    inputs, in_tags, outputs, out_tags = q.tag_rows(conn)
    for pid, path, _pin_id, _pin_ts in inputs:
        ins.setdefault(pid, {})[path] = set()
    for pid, path, k, v in in_tags:
        ins[pid][path].add(f"{k}:{v}")
    for pid, path, pin_id, pin_ts in inputs:
        if pin_id:
            ins[pid][path].add(f"{tagrules.KEY_ID}:{pin_id}")
        if pin_ts is not None:
            ins[pid][path].add(f"{tagrules.KEY_TIMESTAMP}:{tagrules.format_time(pin_ts)}")
    for pid, path in outputs:
        outs.setdefault(pid, {})[path] = set()
    for pid, path, k, v in out_tags:
        outs[pid][path].add(f"{k}:{v}")
    pids = sorted(set(ins) | set(outs))
    return [
        PlanShape(p, {k: frozenset(v) for k, v in ins.get(p, {}).items()}, {k: frozenset(v) for k, v in outs.get(p, {}).items()})
        for p in pids
    ]


def _shape_of(plan_id: str, spec: PlanSpec) -> PlanShape:
    outs = {m.path: frozenset(m.tags) for m in spec.outputs}
    if spec.log is not None:
        outs["log"] = frozenset(spec.log)
    return PlanShape(plan_id, {m.path: frozenset(m.tags) for m in spec.inputs}, outs)


def _insert(conn: sqlite3.Connection, spec: PlanSpec) -> str:
    plan_id = ids.new_id()
    inputs = []
    for m in spec.inputs:
        user = [tagrules.parse(t) for t in m.tags]
        pin_id = next((t.value for t in user if t.key == tagrules.KEY_ID), None)
        pin_ts = next((tagrules.parse_time(t.value) for t in user if t.key == tagrules.KEY_TIMESTAMP), None)
        plain = [(t.key, t.value) for t in user if not t.reserved]
        inputs.append((m.path, len(plain), pin_id, pin_ts, plain))
    outs = [(m.path, False, m.tags) for m in spec.outputs] + ([(LOG_PATH, True, spec.log)] if spec.log is not None else [])
    outputs = [(path, is_log, [_pair(t) for t in tags]) for path, is_log, tags in outs]
    q.insert(conn, plan_id, spec.hash, spec.image, spec.to_dict(), spec.active, spec.resources.to_dict(),
             list(spec.annotations), spec.service_account, inputs, outputs)
    if spec.cache:
        cache_rows.set_plan_cache(conn, plan_id, True)
    for m in spec.inputs:  # an input asking for data marked bad (knit#bad:<root> or knit#bad:*)
        bad = next((t.split(":", 1)[1].strip() for t in m.tags if t.startswith(tagrules.KEY_BAD + ":")), None)
        if bad is not None:
            mark_rows.set_input_pin(conn, plan_id, m.path, bad)
    return plan_id


def _pair(tag: str) -> tuple[str, str]:
    key, value = tag.split(":", 1)
    return key, value


def apply(session: Session, spec: PlanSpec, *, dry_run: bool = False) -> ApplyResult:
    """Register a plan (or find its equal) and create the runs it calls for.

    A dry run is the same code in a transaction that is rolled back. Resources only Kubernetes has are
    refused first when the plan's runs would go to Docker.
    """
    refuse_on_docker(spec.resources, spec.context)
    try:
        with session.catalog.write() as conn:
            existing = q.with_hash(conn, spec.hash)
            if existing:
                plan = get(session, existing)
                result = ApplyResult(plan, False, [], _differences(plan, spec), dry_run)
                if dry_run:
                    raise _DryRun(result)
                return result
            cycle = find_cycle(shapes(session) + [_shape_of("<new plan>", spec)], "<new plan>")
            if cycle:
                names = " → ".join("this plan" if p == "<new plan>" else f"plan {p}" for p in cycle)
                raise Conflict(
                    f"refused: the plan would feed itself ({names}); change its output tags or its input tags "
                    "so no output matches its own inputs"
                )
            plan_id = _insert(conn, spec)
            warnings = []
            counts = {m.path: len(nominated_for(conn, plan_id, m.path)) for m in spec.inputs}
            for path, n in counts.items():
                if n == 0:
                    tags = ", ".join(next(m.tags for m in spec.inputs if m.path == path))
                    warnings.append(f"input {path} matches no data yet ({tags}); runs start when such data arrive")
            product = 1
            for n in counts.values():
                product *= n
            if product > CARTESIAN_WARN:
                shape = " × ".join(str(n) for n in counts.values())
                warnings.append(f"the inputs combine into {product} runs ({shape}); narrow the input tags if that is not meant")
            new_runs = project_plan(conn, plan_id)
            assigned = [dict(line.split("=", 1) for line in a.split("\n")) for a in q.run_assignments(conn, plan_id)]
            result = ApplyResult(get(session, plan_id), True, new_runs, warnings, dry_run, assigned)
            if dry_run:
                raise _DryRun(result)
            return result
    except _DryRun as d:
        return d.result


def _differences(plan: Plan, spec: PlanSpec) -> list[str]:
    """What an equal plan kept of its mutable fields where the file asks otherwise, and how to change each."""
    pid = plan.plan_id
    out = []

    def res(r: Resources) -> str:
        return " ".join(f"{k}={v}" for k, v in r.to_dict().items()) or "none"

    if plan.resources != spec.resources:
        out.append(f"plan {pid} exists and kept its resources {res(plan.resources)} (the file asks {res(spec.resources)}); "
                   f"change them with `knitctl plan resource {pid}`")
    if plan.annotations != spec.annotations:
        out.append(f"plan {pid} exists and kept its annotations {' '.join(plan.annotations) or 'none'} "
                   f"(the file asks {' '.join(spec.annotations) or 'none'}); change them with `knitctl plan annotate {pid}`")
    if plan.service_account != spec.service_account:
        how = f"--set {spec.service_account}" if spec.service_account else "--unset"
        out.append(f"plan {pid} exists and kept its service account {plan.service_account or 'none (the namespace default)'} "
                   f"(the file asks {spec.service_account or 'none'}); change it with `knitctl plan serviceaccount {pid} {how}`")
    if plan.spec.context != spec.context:
        out.append(f"plan {pid} exists and kept its context {plan.spec.context or 'none (the current one)'} "
                   f"(the file asks {spec.context or 'none'}); the context isn't part of a plan's identity and stays as it was")
    if plan.cache != spec.cache:
        out.append(f"plan {pid} exists and kept cache {'on' if plan.cache else 'off'} "
                   f"(the file asks {'true' if spec.cache else 'false'}); "
                   f"change it with `knitctl plan cache {'yes' if spec.cache else 'no'} {pid}`")
    if plan.active != spec.active:
        out.append(f"plan {pid} exists and stays {'active' if plan.active else 'inactive'} "
                   f"(the file asks {'active' if spec.active else 'inactive'}); "
                   f"change it with `knitctl plan active {'yes' if spec.active else 'no'} {pid}`")
    return out


def find(
    session: Session,
    *,
    active: str = "both",
    image: str | None = None,
    in_tags: Sequence[str] = (),
    out_tags: Sequence[str] = (),
) -> list[Plan]:
    if active not in ("yes", "no", "both"):
        raise UsageError(f"--active: {active!r} is not one of yes, no, both")
    want_in = {str(t) for t in tagrules.parse_many(in_tags, where="--in-tag", user=False)}
    want_out = {str(t) for t in tagrules.parse_many(out_tags, where="--out-tag")}
    with session.catalog.read() as conn:
        plans = [_row_to_plan(r) for r in q.rows(conn, active={"yes": True, "no": False}.get(active), image=image)]
        out = []
        for p in plans:
            if want_in and not any(want_in <= set(m.tags) for m in p.spec.inputs):
                continue
            if want_out and not any(want_out <= set(m.tags) for m in p.spec.outputs) and not (
                p.spec.log is not None and want_out <= set(p.spec.log)
            ):
                continue
            out.append(p)
        counts = q.run_counts(conn)
        for p in out:
            p.runs = counts.get(p.plan_id, {})
    return out


def neighbours(session: Session, plan_id: str) -> tuple[list, list]:
    """(upstream, downstream) feeding edges of one plan."""
    with session.catalog.read():
        all_edges = edges(shapes(session))
    up = [e for e in all_edges if e[2] == plan_id]
    down = [e for e in all_edges if e[0] == plan_id]
    return up, down


def set_active(session: Session, text: str, active: bool) -> tuple[Plan, int]:
    """Activate or deactivate; swaps the plan's waiting ↔ deactivated runs. Returns how many moved."""
    with session.catalog.write() as conn:
        plan_id = resolve_id(session, text)
        q.set_active(conn, plan_id, active)
        frm, to = ("deactivated", "waiting") if active else ("waiting", "deactivated")
        moved = q.runs_with_status(conn, plan_id, frm)
        for run_id in moved:
            runstate.move(conn, run_id, to, note="plan activated" if active else "plan deactivated")
        if active:
            project_plan(conn, plan_id)
        return get(session, plan_id), len(moved)


def set_resources(session: Session, text: str, set_: list[str], unset: list[str]) -> Plan:
    with session.catalog.write() as conn:
        plan_id = resolve_id(session, text)
        current = Resources.from_dict(q.resources(conn, plan_id)).to_dict()
        added: dict = {}
        for u in unset:
            key = _resource_key(u.strip(), "--unset")
            current.pop(key, None)
        for s in set_:
            if "=" not in s:
                raise UsageError(f"--set: {s!r} is not NAME=QUANTITY (e.g. memory=2Gi, cpu=2, gpu=1, amd.com/gpu=1)")
            k, v = (x.strip() for x in s.split("=", 1))
            k = _resource_key(k, "--set")
            value: object = v
            if k == "gpu" and "," in v or k == "gpu" and v.startswith("["):
                value = [x.strip() for x in v.strip("[]").split(",") if x.strip()]
            parsed = parse_resources("--set", "resources", {k: value}).to_dict()
            current[k] = added[k] = parsed[k]
        # only what this call adds is judged: a plan holding one already can still change the rest
        refuse_on_docker(Resources.from_dict(added), get(session, plan_id).spec.context)
        q.set_resources(conn, plan_id, Resources.from_dict(current).to_dict())
        return get(session, plan_id)


def _resource_key(name: str, flag: str) -> str:
    problem = resource_name_problem(name)
    if problem is not None:
        raise UsageError(f"{flag}: {problem}")
    return "gpu" if name == "nvidia.com/gpu" else name


def docker_refusal(resources: Resources, context: str, kind: str) -> str | None:
    """The one line that refuses resources a Docker context can't give a container, or None. Pure."""
    names = resources.kubernetes_only()
    if kind != "docker" or not names:
        return None
    which = ", ".join(f"resources.{n}" for n in names)
    return (f"{which}: not available on Docker (context {context}); use a Kubernetes context "
            "(`context:` in the plan, `--context NAME` or `knitctl context use NAME`), or leave it out")


def refuse_on_docker(resources: Resources, pinned: str | None) -> None:
    """Refuse resources only Kubernetes has when the plan's runs would go to Docker: its pinned context,
    else the current one. A context not in the config is not judged here (its runs fail saying so)."""
    if not resources.kubernetes_only():
        return
    from .. import config, contexts

    cfg = config.load()
    name = pinned or contexts.current(cfg)
    settings = cfg.contexts.get(name)
    if settings is None:
        return
    refusal = docker_refusal(resources, name, settings.get("kind", "kubernetes"))
    if refusal:
        raise UsageError(refusal)


def set_cache(session: Session, text: str, on: bool) -> Plan:
    """Turn reuse on or off for the plan's runs from now on (runs already made are not changed)."""
    with session.catalog.write() as conn:
        plan_id = resolve_id(session, text)
        cache_rows.set_plan_cache(conn, plan_id, on)
        return get(session, plan_id)


def set_service_account(session: Session, text: str, name: str | None) -> Plan:
    """Set (or with None, unset) the Kubernetes service account the plan's runs start with from now on."""
    if name is not None:
        name = parse_service_account(name, where="--set")
    with session.catalog.write() as conn:
        plan_id = resolve_id(session, text)
        q.set_service_account(conn, plan_id, name)
        return get(session, plan_id)


def annotate(session: Session, text: str, add: list[str], remove: list[str], remove_keys: list[str]) -> Plan:
    with session.catalog.write() as conn:
        plan_id = resolve_id(session, text)
        current = list(_row_to_plan(q.row(conn, plan_id)).annotations)
        rm = {parse_annotation(a, where="--remove") for a in remove}
        keys = {k.strip() for k in remove_keys}
        current = [a for a in current if a not in rm and a.split("=", 1)[0] not in keys]
        for a in add:
            a = parse_annotation(a, where="--add")
            if a not in current:
                current.append(a)
        q.set_annotations(conn, plan_id, sorted(current))
        return get(session, plan_id)
