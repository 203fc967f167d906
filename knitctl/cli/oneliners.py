"""The bodies of the one-liners `fast.py` answers without Typer.

Their Typer commands (in data.py, run.py, plan.py, daemon.py) declare the options, help and
letters, and call these with the same parameters, by name; `fast.py` calls them directly with the
values Typer would have passed. So each command has one definition of its options (Typer's) and
one body (here). Nothing here imports Typer, rich or yaml up front.
"""

from __future__ import annotations

import json
import time

from .output import Format, emit, emit_rows, human_size, message


def _session():
    from ..session import Session

    return Session.open()


# -- data ---------------------------------------------------------------------------------------

DATA_COLUMNS = [
    ("id", lambda d: d["knit_id"]),
    ("tags", lambda d: [t for t in d["tags"] if not t.startswith("knit#id:")]),
    ("size", lambda d: human_size(d["size"])),
    ("upstream", lambda d: f'{d["upstream"]["plan_id"]}:{d["upstream"]["run_id"]}'),
]


def data_push(dirs, tag, name, move, output):
    from .. import data as data_api
    from ..projectdefaults import push_tags
    from .progress import transfer_progress, tree_size

    tag = push_tags(tag, name=name)  # the knit.yaml's tags, under the flags': read before anything is written
    with _session() as s:
        total = 0 if move else tree_size(dirs)
        with transfer_progress(total, "pushing") as progress:
            pushed = data_api.push(s, dirs, tag, name_tag=name, move=move, progress=progress)
    for d in pushed:
        message(f"pushed {d.knit_id} ({d.file_count} file{'' if d.file_count == 1 else 's'}, {human_size(d.size)})")
    emit([d.to_dict() for d in pushed], output, DATA_COLUMNS)


def data_find(tag, transient, since, duration, output, marked="both"):
    from .. import data as data_api

    structured = output in (Format.json, Format.yaml)
    with _session() as s:
        rows = data_api.listing(s, tag, transient=transient, since=since, duration=duration, marked=marked,
                                user_tags=data_api.LISTING_JSON if structured else data_api.LISTING_TEXT)
    if structured:
        emit([datum_doc(r) for r in rows], output, [])
    else:
        emit_rows(data_cells(rows), output, [name for name, _ in DATA_COLUMNS])


def data_cells(rows: list[tuple]) -> list[list[str]]:
    """`data.listing` rows (tags aggregated as text) as DATA_COLUMNS' cells."""
    from ..data import system_tags_text

    out = []
    for knit_id, run_status, finished_ms, run_id, plan_id, _, _, size, _, _, bad, user_tags in rows:
        system = system_tags_text(run_status, finished_ms, bad)
        tags = " ".join([user_tags, *system]) if user_tags else " ".join(system)
        out.append([knit_id, tags, human_size(size), f"{plan_id}:{run_id}"])
    return out


def datum_doc(row: tuple) -> dict:
    """A `data.listing` row (tags as a JSON array) as `Datum.to_dict` has it."""
    from .. import tags as tagrules
    from ..data import system_tags_text
    from ..runstate import FINISHED, data_status

    knit_id, run_status, finished_ms, run_id, plan_id, path, digest, size, file_count, source, bad, user_tags = row
    ts = finished_ms if run_status in FINISHED else None
    d = {
        "knit_id": knit_id,
        "tags": [*json.loads(user_tags), f"{tagrules.KEY_ID}:{knit_id}", *system_tags_text(run_status, finished_ms, bad)],
        "status": data_status(run_status),
        "timestamp": tagrules.format_time(ts) if ts else None,
        "upstream": {"run_id": run_id, "plan_id": plan_id, "path": path},
        "digest": digest,
        "size": size,
        "file_count": file_count,
    }
    if source:
        d["source"] = source
    return d


# -- runs ---------------------------------------------------------------------------------------


def _age(iso_ms: int, now: float | None = None) -> str:
    secs = max(0, int((time.time() if now is None else now) - iso_ms / 1000))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit}"
    return f"{secs}s"


def _dur(ms: int | None) -> str:
    if ms is None:
        return ""
    s = ms / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


RUN_COLUMNS = [
    ("id", lambda r: r.run_id),
    ("plan", lambda r: r.plan_id),
    ("status", lambda r: f"{r.status} (cached)" if r.reused_run and r.status == "done" else r.status),
    ("inputs", lambda r: " ".join(f'{i["path"]}={i["knit_id"]}' for i in r.inputs)),
    ("context", lambda r: r.context or ""),
    ("age", lambda r: _age(r.created_ms)),
    ("duration", lambda r: _dur(r.duration_ms)),
]


def emit_runs(found, output):
    if output in (Format.json, Format.yaml):
        emit([r.to_dict() for r in found], output, [])
    else:
        emit(found, output, RUN_COLUMNS)


def run_find(plan, input_, output_datum, status, since, duration, context, output):
    from .. import runs as runs_api

    structured = output in (Format.json, Format.yaml)
    with _session() as s:
        rows = runs_api.listing(s, runs_api.LISTING_JSON if structured else runs_api.LISTING_TEXT, plans=plan,
                                inputs=input_, outputs=output_datum, statuses=status, since=since,
                                duration=duration, contexts=context)
    if structured:
        emit([run_doc(r) for r in rows], output, [])
        return
    emit_rows(run_cells(rows, time.time()), output, [name for name, _ in RUN_COLUMNS])


def run_cells(rows: list[tuple], now: float) -> list[list[str]]:
    """`runs.LISTING_TEXT` rows as RUN_COLUMNS' cells, ages as of `now`."""
    from ..runs import duration_ms

    return [
        [run_id, plan_id, status, inputs or "", context or "", _age(created, now),
         _dur(duration_ms(started, finished, updated))]
        for run_id, plan_id, status, inputs, context, created, updated, started, finished in rows
    ]


def run_doc(row: tuple) -> dict:
    """A `runs.LISTING_JSON` row as `Run.to_dict` has it."""
    from ..tags import format_time

    run_id, plan_id, image, status, inputs, outputs, context, exit_code, message, *times, reused_run = row
    created, updated, started, finished = (None if t is None else format_time(t) for t in times)
    doc = {"run_id": run_id, "plan_id": plan_id, "image": image, "status": status, "inputs": json.loads(inputs),
           "outputs": json.loads(outputs), "context": context, "exit_code": exit_code, "message": message,
           "created": created, "updated": updated, "started": started, "finished": finished}
    if reused_run:  # a cached run (knitctl.reuse), as Run.to_dict has it
        doc["reused_run"] = reused_run
    return doc


# -- plans --------------------------------------------------------------------------------------


def runs_summary(runs: dict) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(runs.items())) or "-"


PLAN_COLUMNS = [
    ("id", lambda p: p["plan_id"]),
    ("image", lambda p: p["image"]),
    ("inputs", lambda p: "; ".join(f'{m["path"]} ' + " ".join(m["tags"]) for m in p["inputs"])),
    ("outputs", lambda p: "; ".join(f'{m["path"]} ' + " ".join(m["tags"]) for m in p["outputs"])),
    ("active", lambda p: "yes" if p["active"] else "no"),
    ("runs", lambda p: runs_summary(p.get("runs", {}))),
]


def plan_find(active, image, in_tag, out_tag, output):
    from ..plans import registry

    with _session() as s:
        plans = registry.find(s, active=active, image=image, in_tags=in_tag, out_tags=out_tag)
    emit([p.to_dict() for p in plans], output, PLAN_COLUMNS)


# -- the daemon ---------------------------------------------------------------------------------


def status(output):
    from .. import health, knitd
    from .. import tags as tagrules
    from ..catalog import data as data_rows
    from ..catalog import runs as run_rows
    from ..data import INGEST_PROPERTY

    with _session() as s:
        pid = knitd.running_pid(s.home)
        conn = s.catalog.conn
        counts = run_rows.status_counts(conn)
        context = run_rows.latest_context(conn)
        recent = [
            {"knit_id": kid, "from": source, "at": tagrules.format_time(at)}
            for kid, source, at in data_rows.latest_with_custom(conn, INGEST_PROPERTY, 5)
        ]
    doc = {
        "knitd": "running" if pid else "stopped",
        "pid": pid,
        "home": str(s.home.root),
        "context": context or "local",
        "runs": counts,
        "recent_ingests": recent,
        "components": health.components(s.home) if pid else [],
        "metadata_server": f"127.0.0.1:{port}" if (port := health.metadata_port(s.home, pid)) else None,
    }
    if output in (Format.json, Format.yaml):
        emit([doc], output, [], single=True)
        return
    rows = [("knitd", f"running (pid {pid})" if pid else "stopped")]
    rows += [(c["name"], ("ok" if c["ok"] else "FAIL") + f' — {c["detail"]}') for c in doc["components"]]
    if doc["metadata_server"]:
        rows.append(("metadata server", f"ML Metadata's gRPC service on {doc['metadata_server']}"))
    rows += [("home", doc["home"]), ("context", doc["context"]),
             ("runs", " ".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "none")]
    rows += [("ingested", f'{x["knit_id"]} from {x["from"]} at {x["at"]}') for x in recent]
    emit([{"k": k, "v": v} for k, v in rows], output, [("field", lambda r: r["k"]), ("value", lambda r: r["v"])])
