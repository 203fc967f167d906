"""Why something ran or didn't: answers for a datum, a plan and a run."""

from __future__ import annotations

import json

from . import data as data_api
from . import retention, reuse
from . import runs as runs_api
from .catalog import lineage as lineage_rows
from .catalog import marks as mark_rows
from .catalog import plans as plan_rows
from .catalog import retention as drop_rows
from .catalog.records import UPLOAD_PLAN
from .plans import registry
from .projection import assignments, fitted_inputs, nominated_for
from .session import Session

NEAR_MISS_MAX_LACKING = 2
COUNT_COMBINATIONS_MAX = 100_000   # above this, `combinations` is the plain product (an upper bound)


def explain_data(session: Session, text: str) -> dict:
    """Each plan input the datum fits; near misses with the tags they lack; or why it is not nominated."""
    conn = session.catalog.conn
    with session.catalog.read():
        d = data_api.get(session, text)
        have = {str(t) for t in d.all_tags}
        out: dict = {"knit_id": d.knit_id, "status": d.status, "fits": [], "near_misses": []}
        if d.status != "done":
            out["not_nominated"] = (
                f"its producing run {d.run_id} is not done yet" if d.status == "processing"
                else f"its producing run {d.run_id} failed; failed outputs feed nothing (retry the run to try again)"
            )
        marks = mark_rows.marks_of(conn, d.knit_id)
        if marks and d.status == "done":
            out["marked_bad"] = [{"root": r, "reason": why} for r, why, _ in marks]
            out["not_nominated"] = (
                "it is marked bad (" + "; ".join(f"knit#bad:{r}: {why}" for r, why, _ in marks) + "): only plan inputs "
                f"asking for knit#bad take it; `knitctl data unmark {marks[0][0]}` nominates it again"
            )
        gone = retention.drop_info(conn, d.knit_id)
        if gone is not None:
            out["dropped"] = gone
            out["not_nominated"] = (f"it was {retention.describe(gone)}: its files are gone, so no new run "
                                    "takes it (its lineage and metadata remain)")
        fitted = set(fitted_inputs(conn, d.knit_id))
        ran = lineage_rows.inputs_taken(conn, d.knit_id)
        for p in registry.find(session):
            for m in p.spec.inputs:
                need = set(m.tags)
                lacking = sorted(need - have)
                entry = {"plan_id": p.plan_id, "path": m.path, "active": p.active}
                if (p.plan_id, m.path) in fitted:
                    entry["runs_with_it"] = (p.plan_id, m.path) in ran
                    out["fits"].append(entry)
                elif not lacking and (d.status != "done" or marks or gone is not None):
                    entry["lacks"] = []
                    entry["why"] = out["not_nominated"]
                    out["near_misses"].append(entry)
                elif 0 < len(lacking) <= NEAR_MISS_MAX_LACKING and len(lacking) < len(need):
                    entry["lacks"] = lacking
                    out["near_misses"].append(entry)
    return out


def explain_plan(session: Session, text: str) -> dict:
    """Per input: how many data fit; how many combinations exist and how many already ran."""
    conn = session.catalog.conn
    with session.catalog.read():
        p = registry.get(session, text)
        inputs = []
        unfit: list[str] = []  # why the inputs with no fitting data block it
        pools = {}
        product = 1
        for m in p.spec.inputs:
            pools[m.path] = nominated_for(conn, p.plan_id, m.path)
            n = len(pools[m.path])
            product *= n
            inputs.append({"path": m.path, "tags": list(m.tags), "fitting_data": n})
            if n == 0:
                unfit.append(f"input {m.path} has no fitting data: push or tag data with {', '.join(m.tags)}")
            plain = [(t.split(":", 1)[0].strip(), t.split(":", 1)[1].strip()) for t in m.tags if not t.startswith("knit#")]
            dropped = drop_rows.dropped_fitting(conn, plain)
            if dropped:
                inputs[-1]["dropped_data"] = dropped
                unfit.append(f"input {m.path}: {dropped} fitting datum(s) were dropped by gc (their files are gone; "
                             "`knitctl explain data ID` says by which rule), so runs that would take them are not created")
        # A run takes each datum once: combinations putting one datum on two inputs don't count.
        combinations = sum(1 for _ in assignments(pools)) if product <= COUNT_COMBINATIONS_MAX else product
        counts = plan_rows.run_counts(conn, p.plan_id).get(p.plan_id, {})
        runs = (sum(counts.values()), counts.get("invalidated", 0))
        reasons = []
        if not p.active:
            reasons.append("the plan is inactive: its runs wait as deactivated (`knitctl plan active yes`)")
        reasons += unfit
        if combinations < product:
            reasons.append(
                f"{product - combinations} combination(s) would put one datum on two inputs; a run takes each datum once"
            )
    return {
        "plan_id": p.plan_id,
        "active": p.active,
        "inputs": inputs,
        "combinations": combinations,
        "runs": runs[0],
        "invalidated": runs[1] or 0,
        "by_status": p.runs,
        "why_not_more": reasons,
    }


def explain_run(session: Session, text: str) -> dict:
    """A run's assignment (which tags made each input fit) and its state history."""
    run = runs_api.show(session, text)
    d = run.to_dict()
    if run.plan_id == UPLOAD_PLAN:
        d["why"] = "an upload: a person pushed this data"
        return d
    plan = registry.get(session, run.plan_id)
    need = {m.path: list(m.tags) for m in plan.spec.inputs}
    d["why"] = [
        {"path": i["path"], "knit_id": i["knit_id"], "matched_tags": need.get(i["path"], [])} for i in run.inputs
    ]
    with session.catalog.read() as conn:
        cache = reuse.explain(conn, run.run_id)  # what reuse did for it, or will do (knitctl.reuse)
        bad = mark_rows.roots_of(conn, [i["knit_id"] for i in d["why"]])
        gone = drop_rows.drops_of(conn, [i["knit_id"] for i in d["why"]])
    for i in d["why"]:   # inputs marked bad (its outputs carry the mark) or dropped since (it can't be retried)
        if i["knit_id"] in bad:
            i["marked_bad"] = bad[i["knit_id"]]
        if i["knit_id"] in gone:
            i["dropped"] = f"by gc (rule: {gone[i['knit_id']][1]}); the run can't be retried"
    if cache and (cache["plan_cache"] or cache["reused_run"] or cache["reused_by"]):
        d["cache"] = cache
    return d


def as_text(doc: dict) -> str:
    return json.dumps(doc, indent=2)



