"""`knitctl config show`: which knit.yaml (project defaults) applies here and why, and the current context."""

from __future__ import annotations

import typer

from .. import config as config_mod
from .. import contexts, projectdefaults
from .common import OutputOpt
from .output import Format, emit

app = typer.Typer(help="What configures knitctl here: the project's knit.yaml and the current context.",
                  no_args_is_help=True)

SOURCES = {
    contexts.FROM_ENV: "$KNIT_CONTEXT (--context sets it)",
    contexts.FROM_PROJECT: "{file}",
    contexts.FROM_CONFIG: "current-context in {file}",
    contexts.FROM_DEFAULT: "the default: no knit.yaml or config file names one",
}


def _resources(d: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items())


@app.command("show", epilog="Examples:\n\n\b\n  knitctl config show\n  knitctl config show -o json")
def show(output: Format | None = OutputOpt):
    """Which knit.yaml applies here (found walking up from this directory) and what it sets,
    and the current context with where it comes from."""
    projectdefaults.enable()
    search, defaults = projectdefaults.current()
    cfg = config_mod.load()
    cur = contexts.current_source(cfg)
    known = cur.name == config_mod.LOCAL or cur.name in cfg.contexts
    doc: dict = {
        "knit_yaml": str(search.found) if search.found else None,
        "found_in": str(search.found.parent) if search.found else None,
        "walked_up_from": str(search.start),
        "searched": [str(d) for d in search.searched],
        "walk_stops_at": search.stop,
        "defaults": defaults.to_dict(),
        "context": {"name": cur.name, "source": cur.source, "file": cur.file, "known": known},
    }
    hint = None if search.found else projectdefaults.suggest(search)
    if hint:
        doc["hint"] = hint
    if output in (Format.json, Format.yaml):
        emit([doc], output, [], single=True)
        return
    if search.found:
        where = f"{search.found}: found in {search.found.parent} (walked up from {search.start})"
    else:
        where = f"none: no {projectdefaults.FILENAME} in {search.start} or its parents up to {search.stop}"
    rows = [("knit.yaml", where)]
    if hint:
        rows.append(("hint", hint))
    if search.found:
        set_here = defaults.to_dict()
        rows += [("tags", " ".join(set_here["tags"]) or "-"), ("resources", _resources(set_here["resources"]) or "-")]
    context = f"{cur.name} (from {SOURCES[cur.source].format(file=cur.file)})"
    if defaults.context and cur.source == contexts.FROM_ENV:
        context += f"; the knit.yaml's {defaults.context} gives way to it"
    if not known:
        context += "; no such context in the config (`knitctl context ls`)"
    rows.append(("context", context))
    emit([{"k": k, "v": v} for k, v in rows], output, [("field", lambda r: r["k"]), ("value", lambda r: r["v"])])
