"""`knitctl hook ls | test | deliveries`: the lifecycle hooks in the config, and trying one."""

from __future__ import annotations

import os

import typer

from .. import config as config_mod
from .. import hooks as rules
from ..errors import NotFound
from .common import OutputOpt, open_session
from .output import Format, emit

app = typer.Typer(help="Lifecycle hooks: commands and URLs called when runs change status (set in the config file).",
                  no_args_is_help=True)


def _row(h: rules.Hook) -> dict:
    """A hook as `ls` shows it: secrets masked (the URL's), header values never shown."""
    d = {
        "name": h.name,
        "when": h.when,
        "on": "ready → starting" if h.when == "before" else (", ".join(sorted(h.on)) if h.on is not None else "every change"),
        "calls": h.target,
        "timeout": h.timeout,
    }
    if h.headers:
        d["headers"] = [k for k, _ in h.headers]
    if h.when == "after":
        d["retries"] = h.retries
    else:
        d["on_error"] = h.on_error
    return d


COLUMNS = [
    ("name", lambda r: r["name"]),
    ("when", lambda r: r["when"]),
    ("on", lambda r: r["on"]),
    ("calls", lambda r: r["calls"]),
    ("timeout", lambda r: f'{r["timeout"]:g}s'),
    ("retries / on error", lambda r: str(r["retries"]) if "retries" in r else r["on_error"]),
]


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


@app.command("ls", epilog=_examples("knitctl hook ls", "knitctl hook ls -o json"))
def ls(output: Format | None = OutputOpt):
    """The hooks in the config file, in the order they are called (secrets in URLs masked)."""
    emit([_row(h) for h in config_mod.load().hooks], output, COLUMNS)


@app.command("test", epilog=_examples("knitctl hook test notify-chat", "knitctl hook test creds --run 3f2a -o json"))
def test(
    name: str = typer.Argument(..., help="The hook's name (see `knitctl hook ls`)."),
    run: str | None = typer.Option(None, "--run", help="Give it this run (an id or unique prefix) instead of a sample."),
    output: Format | None = OutputOpt,
):
    """Call a hook now, with a sample run (or a real one) as it would be called, and print what came back.
    A before hook's env values are never printed, only their names. Exits 1 when the hook vetoes or fails."""
    hooks = {h.name: h for h in config_mod.load().hooks}
    hook = hooks.get(name)
    if hook is None:
        shown = ", ".join(sorted(hooks)) or "none are configured"
        raise NotFound(f"no hook named {name!r} in {config_mod.config_path()} ({shown}); `knitctl hook ls` lists them")
    doc: dict | None = rules.sample_document()
    if run is not None:
        from .. import runs as runs_api

        with open_session() as s, s.catalog.read() as conn:
            doc = rules.run_document(conn, runs_api.resolve_id(s, run))
    assert doc is not None  # resolve_id found the run
    status = doc["status"]
    new = "starting" if hook.when == "before" else status
    delivery = None if hook.when == "before" else "test-" + os.urandom(6).hex()
    reply = rules.call(hook, rules.envelope(hook, doc, old=status, new=new, delivery=delivery), delivery=delivery)
    result: dict = {"hook": hook.name, "when": hook.when, "run": doc["id"], "ms": round(reply.seconds * 1000, 1)}
    if hook.when == "before":
        veto, answer, problem = rules.judge(hook, reply)
        if veto is not None:
            result.update(result="vetoed", message=veto)
        elif problem is not None:
            result.update(result="failed, passed over (on-error: start)", message=problem)
        else:
            assert answer is not None
            result.update(result="allowed", env=[f"{k}=***" for k in sorted(answer.env)])
    else:
        error = reply.error or (f"exited non-zero: {reply.veto}" if reply.veto is not None else None)
        result.update(result="delivered" if error is None else "failed", delivery=delivery)
        if error is not None:
            result["message"] = error
    if output in (Format.json, Format.yaml):
        emit([result], output, [], single=True)
    else:
        rows = [(k, ", ".join(v) if isinstance(v, list) else str(v)) for k, v in result.items() if v not in (None, [])]
        emit([{"field": k, "value": v} for k, v in rows], output,
             [("field", lambda x: x["field"]), ("value", lambda x: x["value"])])
    if result["result"] not in ("allowed", "delivered"):
        raise typer.Exit(1)


@app.command("deliveries", epilog=_examples("knitctl hook deliveries", "knitctl hook deliveries --run 3f2a -o json"))
def deliveries(
    run: str | None = typer.Option(None, "--run", help="Only this run's (an id or unique prefix)."),
    limit: int = typer.Option(50, "-n", "--limit", min=1, help="At most this many, newest first."),
    output: Format | None = OutputOpt,
):
    """After hooks' deliveries, newest first: pending (with attempts so far), delivered or given up."""
    from .. import runs as runs_api
    from ..catalog import hooks as hook_rows
    from ..tags import format_time

    with open_session() as s, s.catalog.read() as conn:
        run_id = runs_api.resolve_id(s, run) if run else None
        rows = hook_rows.deliveries(conn, run_id=run_id, limit=limit)
    docs = []
    for r in rows:
        state = ("delivered" if r["delivered_ms"] is not None else "given up" if r["given_up_ms"] is not None
                 else "pending")
        docs.append({"delivery": r["delivery_id"], "hook": r["hook"], "run": r["run_id"],
                     "change": f'{r["old_status"]} → {r["new_status"]}', "state": state, "attempts": r["attempts"],
                     "created": format_time(r["created_ms"]), "error": r["last_error"]})
    emit(docs, output, [
        ("delivery", lambda d: d["delivery"]), ("hook", lambda d: d["hook"]), ("run", lambda d: d["run"]),
        ("change", lambda d: d["change"]), ("state", lambda d: d["state"]), ("attempts", lambda d: str(d["attempts"])),
        ("error", lambda d: d["error"] or ""),
    ])
