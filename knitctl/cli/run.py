"""`knitctl run`: find, show, stop, abort, retry, rm."""

from __future__ import annotations

import sys
import time

import typer

from .. import provenance
from .. import runs as runs_api
from ..errors import UsageError
from . import oneliners
from .common import OutputOpt, open_session
from .output import Format, emit, message

app = typer.Typer(help="Runs: one execution of a plan over one assignment of data.", no_args_is_help=True)


COLUMNS = oneliners.RUN_COLUMNS
_emit_runs = oneliners.emit_runs


@app.command("find")
def find(
    plan: list[str] = typer.Option([], "-p", "--plan", "--planid", help="Only runs of this plan (repeatable)."),
    input_: list[str] = typer.Option([], "-i", "--input", "--in-knitid", help="Only runs taking this datum as input."),
    output_datum: list[str] = typer.Option([], "-O", "--output-data", "--out-knitid", help="Only the run that made this datum."),
    status: list[str] = typer.Option([], "-s", "--status", help="Only runs in this status (repeatable); invalidated runs show only when asked; `cached`: done runs that reused an earlier run's outputs."),
    since: str | None = typer.Option(None, "--since", help="Only runs created at or after this RFC 3339 time."),
    duration: str | None = typer.Option(None, "--duration", help="With --since: the window's length (e.g. 2h)."),
    context: list[str] = typer.Option([], "--context", "-c", help="Only runs made for this context (repeatable)."),
    output: Format | None = OutputOpt,
):
    """List runs."""
    oneliners.run_find(plan=plan, input_=input_, output_datum=output_datum, status=status, since=since, duration=duration,
                       context=context, output=output)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    output: Format | None = OutputOpt,
    log: bool = typer.Option(False, "--log", help="Then print its log (as `run log`)."),
    follow: bool = typer.Option(False, "-f", "--follow", help="With --log: keep printing while the run is live."),
):
    """One run: assignment, outputs, exit code and message, timings, history."""
    if follow and not log:
        raise UsageError("-f/--follow follows the log: give --log too (knitctl run show ID --log -f)")
    if log and output in (Format.json, Format.yaml):
        raise UsageError(f"--log prints the log as text after the fields; leave out -o {output.value}, or use `knitctl run log`")
    _show(run_id, output)
    if log:
        sys.stdout.flush()
        log_cmd(run_id, follow=follow)


def _show(run_id: str, output: Format | None) -> None:
    with open_session() as s:
        r = runs_api.show(s, run_id)
    d = r.to_dict()
    if output in (Format.json, Format.yaml):
        emit([d], output, [], single=True)
        return
    rows = [("id", d["run_id"]), ("plan", d["plan_id"]), ("image", d["image"] or "-"), ("status", d["status"])]
    if d.get("reused_run"):  # a cached run (knitctl.reuse)
        rows[-1] = ("status", f'{d["status"]} (cached)')
        rows.append(("reused", f'the outputs of run {d["reused_run"]} (same plan, inputs of the same content); it did not execute'))
    rows += [(f'input {i["path"]}', i["knit_id"]) for i in d["inputs"]]
    rows += [(f'output {o["path"]}', o["knit_id"]) for o in d["outputs"]]
    if d["exit_code"] is not None:
        rows.append(("exit code", str(d["exit_code"])))
    if d["message"]:
        rows.append(("message", d["message"]))
    if d["context"]:
        rows.append(("context", d["context"]))
    rows += provenance.rows(r.provenance, shown_image=d["image"])
    for k in ("created", "started", "finished"):
        if d[k]:
            rows.append((k, d[k]))
    if d["status"] == "failed":
        from collections import deque

        with open_session() as s:
            path = runs_api.log_path(s, r.run_id)
        if path.exists():
            with open(path, "rb") as f:
                last = [line.decode(errors="replace").rstrip("\n") for line in deque(f, maxlen=10)]
            rows.append(("log (last lines)", "\n".join(last) or "(empty)"))
    rows.append(("history", "\n".join(f'{h["at"]} {h["status"]}' + (f' ({h["note"]})' if h.get("note") else "") for h in d["history"])))
    emit([{"field": k, "value": v} for k, v in rows], output, [("field", lambda x: x["field"]), ("value", lambda x: x["value"])])


@app.command("stop")
def stop(
    run_id: str = typer.Argument(..., help="Run id."),
    fail: bool = typer.Option(False, "-x", "--fail", help="End it as failed (abort): its outputs are discarded."),
):
    """Stop a run. Its outputs so far are committed as done and feed downstream plans like any
    finished run's; with --fail (-x) it is aborted instead and its outputs are discarded."""
    with open_session() as s:
        r = runs_api.stop(s, run_id, fail=fail)
    if r.status == "completing":
        message(f"run {r.run_id} is completing: its outputs so far will be committed as done and feed downstream "
                "plans (`knitctl run stop --fail` aborts instead)")
    elif r.status == "aborting":
        message(f"run {r.run_id} is aborting: its outputs are discarded")
    else:
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


@app.command("verify", epilog="Examples:\n\n\b\n  knitctl run verify 7c1e\n  knitctl run verify 7c1e -o json | jq '.outputs[].differences'")
def verify(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough); the run must be done."),
    output: Format | None = OutputOpt,
):
    """Re-execute a done run with the exact image it ran (its recorded image id) and the same inputs, in a
    scratch directory, and compare every output's digest: exit 0 when all match (reproducible), 1 when
    any differs, naming the files. Nothing is recorded and nothing added to the store."""
    from .. import verify as verify_api

    with open_session() as s:
        result = verify_api.verify(s, run_id)
    if output in (Format.json, Format.yaml):
        emit([result], output, [], single=True)
    else:
        print("\n".join(verify_api.summary(result)))
    # sys.exit, not typer.Exit (see `wait`)
    sys.exit(0 if result["reproducible"] else 1)


@app.command("log")
def log_cmd(
    run_id: str = typer.Argument(..., help="Run id."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing while the run is live."),
):
    """A run's log (stdout and stderr): the whole of it; with -f, followed until the run ends."""
    import sys

    with open_session() as s:
        path = runs_api.log_path(s, run_id)
        rid = runs_api.resolve_id(s, run_id)
        out = sys.stdout.buffer
        pos = 0
        while True:
            live = runs_api.is_live(s, rid)
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(pos)
                    while chunk := f.read(1 << 16):
                        out.write(chunk)
                        pos += len(chunk)
                out.flush()
            if not follow or not live:
                break
            time.sleep(0.2)
            path = runs_api.log_path(s, rid)


@app.command("wait")
def wait(
    run_id: str = typer.Argument(..., help="Run id."),
    timeout: str | None = typer.Option(None, "--timeout", help="Give up after this long (e.g. 90s, 10m); exit 124."),
):
    """Wait for a run to end; exit 0 when done, 1 when failed, 124 on timeout."""
    from ..times import parse_duration

    limit = parse_duration(timeout, where="--timeout") / 1000 if timeout else None
    with open_session() as s:
        status = runs_api.wait(s, run_id, limit)
    # sys.exit, not typer.Exit: the entry point runs the app with standalone_mode=False, where click
    # turns Exit into a return value that would be lost (every outcome would exit 0).
    import sys

    if status is None:
        message(f"run {run_id}: still not finished after {timeout}")
        sys.exit(124)
    message(f"run {run_id} {status}")
    sys.exit(0 if status == "done" else 1)
