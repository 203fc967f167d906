"""`knitctl run`: find, show, stop, abort, retry, rm."""

from __future__ import annotations

import time
from typing import List, Optional

import typer

from .. import runs as runs_api
from .common import OutputOpt, open_session
from .output import Format, emit, message


app = typer.Typer(help="Runs: one execution of a plan over one assignment of data.", no_args_is_help=True)


def _age(iso_ms: int) -> str:
    secs = max(0, int(time.time() - iso_ms / 1000))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit}"
    return f"{secs}s"


def _dur(ms: int | None) -> str:
    if ms is None:
        return ""
    s = ms / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


COLUMNS = [
    ("id", lambda r: r.run_id),
    ("plan", lambda r: r.plan_id),
    ("status", lambda r: r.status),
    ("inputs", lambda r: " ".join(f'{i["path"]}={i["knit_id"]}' for i in r.inputs)),
    ("age", lambda r: _age(r.created_ms)),
    ("duration", lambda r: _dur(r.duration_ms)),
]


def _emit_runs(found, output):
    if output in (Format.json, Format.yaml):
        emit([r.to_dict() for r in found], output, [])
    else:
        emit(found, output, COLUMNS)


@app.command("find")
def find(
    plan: List[str] = typer.Option([], "-p", "--plan", help="Only runs of this plan (repeatable)."),
    input_: List[str] = typer.Option([], "-i", "--input", help="Only runs taking this datum as input."),
    output_datum: List[str] = typer.Option([], "-o", "--output-data", help="Only the run that made this datum."),
    status: List[str] = typer.Option([], "-s", "--status", help="Only runs in this status (repeatable); invalidated runs show only when asked."),
    since: Optional[str] = typer.Option(None, "--since", help="Only runs created at or after this RFC 3339 time."),
    duration: Optional[str] = typer.Option(None, "--duration", help="With --since: the window's length (e.g. 2h)."),
    output: Optional[Format] = typer.Option(None, "--output", help="table, json or yaml (-o here means --output-data)."),
):
    """List runs."""
    with open_session() as s:
        found = runs_api.find(s, plans=plan, inputs=input_, outputs=output_datum, statuses=status, since=since, duration=duration)
    _emit_runs(found, output)


@app.command("show")
def show(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."), output: Optional[Format] = OutputOpt):
    """One run: assignment, outputs, exit code and message, timings, history."""
    with open_session() as s:
        r = runs_api.show(s, run_id)
    d = r.to_dict()
    if output in (Format.json, Format.yaml):
        emit([d], output, [], single=True)
        return
    rows = [("id", d["run_id"]), ("plan", d["plan_id"]), ("image", d["image"] or "-"), ("status", d["status"])]
    rows += [(f'input {i["path"]}', i["knit_id"]) for i in d["inputs"]]
    rows += [(f'output {o["path"]}', o["knit_id"]) for o in d["outputs"]]
    if d["exit_code"] is not None:
        rows.append(("exit code", str(d["exit_code"])))
    if d["message"]:
        rows.append(("message", d["message"]))
    if d["context"]:
        rows.append(("context", d["context"]))
    for k in ("created", "started", "finished"):
        if d[k]:
            rows.append((k, d[k]))
    rows.append(("history", "\n".join(f'{h["at"]} {h["status"]}' + (f' ({h["note"]})' if h.get("note") else "") for h in d["history"])))
    emit([{"field": k, "value": v} for k, v in rows], output, [("field", lambda x: x["field"]), ("value", lambda x: x["value"])])


@app.command("stop")
def stop(
    run_id: str = typer.Argument(..., help="Run id."),
    fail: bool = typer.Option(False, "--fail", help="End it as failed (abort) instead of keeping its outputs."),
):
    """Stop a run: its outputs so far are kept as success (or, with --fail, it fails)."""
    with open_session() as s:
        r = runs_api.stop(s, run_id, fail=fail)
    message(f"run {r.run_id} is {r.status}")


@app.command("abort")
def abort(run_id: str = typer.Argument(..., help="Run id.")):
    """Abort a run (the same as `run stop --fail`)."""
    stop(run_id, fail=True)


@app.command("retry")
def retry(run_id: str = typer.Argument(..., help="Run id.")):
    """Run a finished run again: its outputs are discarded and new ones made."""
    with open_session() as s:
        r = runs_api.retry(s, run_id)
    message(f"run {r.run_id} is {r.status} again; new outputs " + ", ".join(o["knit_id"] for o in r.outputs))


@app.command("rm")
def rm(run_id: str = typer.Argument(..., help="Run id.")):
    """Remove a finished run's outputs; the run stays as invalidated so it never runs again."""
    with open_session() as s:
        result = runs_api.rm(s, run_id)
    message(f"run {run_id}: outputs removed, run {result}")
