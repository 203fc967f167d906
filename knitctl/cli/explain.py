"""`knitctl explain`: why something ran, or didn't."""

from __future__ import annotations

import sys

import typer

from .. import explain as explain_api
from ..controlchars import escape
from .common import OutputOpt, open_session
from .output import Format, emit

app = typer.Typer(help="Why something ran or didn't.", no_args_is_help=True)


def _print(doc: dict, output: Format | None, lines: list[str]) -> None:
    if output in (Format.json, Format.yaml):
        emit([doc], output, [], single=True)
    else:
        sys.stdout.write(escape("\n".join(lines), keep_lines=True) + "\n")


@app.command("data")
def data(knit_id: str = typer.Argument(..., help="Datum id."), output: Format | None = OutputOpt):
    """Which plan inputs a datum fits, which it nearly fits (and the tags it lacks), or why it is not nominated."""
    with open_session() as s:
        doc = explain_api.explain_data(s, knit_id)
    lines = [f"datum {doc['knit_id']} ({doc['status']})"]
    if doc.get("not_nominated"):
        lines.append(f"not nominated: {doc['not_nominated']}")
    for f in doc["fits"]:
        state = "" if f["active"] else " (plan inactive)"
        lines.append(f"fits plan {f['plan_id']} input {f['path']}{state}" + ("; runs use it" if f.get("runs_with_it") else ""))
    for m in doc["near_misses"]:
        lack = ", ".join(m["lacks"]) if m["lacks"] else m.get("why", "")
        lines.append(f"nearly fits plan {m['plan_id']} input {m['path']}: lacks {lack}")
    if not doc["fits"] and not doc["near_misses"]:
        lines.append("fits no plan input")
    _print(doc, output, lines)


@app.command("plan")
def plan(plan_id: str = typer.Argument(..., help="Plan id."), output: Format | None = OutputOpt):
    """Per input, how many data fit; how many combinations exist and how many already ran."""
    with open_session() as s:
        doc = explain_api.explain_plan(s, plan_id)
    lines = [f"plan {doc['plan_id']} ({'active' if doc['active'] else 'inactive'})"]
    for i in doc["inputs"]:
        lines.append(f"input {i['path']} ({' '.join(i['tags'])}): {i['fitting_data']} datum/data fit")
    lines.append(f"{doc['combinations']} combination(s); {doc['runs']} run(s) exist ({doc['invalidated']} invalidated)")
    lines += [f"why not more: {r}" for r in doc["why_not_more"]]
    _print(doc, output, lines)


@app.command("run")
def run(run_id: str = typer.Argument(..., help="Run id."), output: Format | None = OutputOpt):
    """A run's assignment (which tags made each input fit) and its state history."""
    with open_session() as s:
        doc = explain_api.explain_run(s, run_id)
    lines = [f"run {doc['run_id']} of plan {doc['plan_id']}: {doc['status']}"]
    if isinstance(doc["why"], str):
        lines.append(doc["why"])
    else:
        for w in doc["why"]:
            lines.append(f"input {w['path']} ← datum {w['knit_id']} (has {' '.join(w['matched_tags'])})")
    cache = doc.get("cache")
    if cache:  # reuse (knitctl.reuse)
        if cache.get("reused_run"):
            lines.append(f"cached: it did not execute; its outputs are run {cache['reused_run']}'s "
                         "(same plan, inputs of the same content)")
        elif cache.get("decision"):
            lines.append(f"cache: {cache['decision']['why']}")
        elif cache["plan_cache"]:
            lines.append("cache: on for its plan; this run did not reuse another run's outputs")
        if cache.get("reused_by"):
            lines.append(f"reused by run(s) {', '.join(cache['reused_by'])}")
    for h in doc.get("history", []):
        lines.append(f"  {h['at']} {h['status']}" + (f" ({h['note']})" if h.get("note") else ""))
    _print(doc, output, lines)
