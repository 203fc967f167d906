"""Runs at the catalog level: find, show, stop/abort requests, retry, rm (docs/ARCHITECTURE.md#semantics).

knitd acts on what these write: a run moved to `aborting` or `completing`
while its container lives is the daemon's cue to end it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import ids, provenance, reuse, runstate, times
from . import tags as tagrules
from .catalog import plans as plan_rows
from .catalog import records
from .catalog import runs as q
from .errors import Conflict, UsageError
from .projection import PlanRuns
from .session import Session


@dataclass
class Run:
    run_id: str
    plan_id: str
    image: str | None
    status: str
    inputs: list[dict]            # {path, knit_id}
    outputs: list[dict]           # {path, knit_id}
    context: str | None
    exit_code: int | None
    message: str | None
    created_ms: int
    updated_ms: int
    started_ms: int | None
    finished_ms: int | None
    history: list[dict] = field(default_factory=list)
    reused_run: str | None = None      # cached: the run whose outputs it reused (knitctl.reuse)
    provenance: dict = field(default_factory=dict)   # who ran it, with which image (knitctl.provenance); by show()

    @property
    def duration_ms(self) -> int | None:
        return duration_ms(self.started_ms, self.finished_ms, self.updated_ms)

    def to_dict(self) -> dict:
        fmt = lambda ms: tagrules.format_time(ms) if ms is not None else None  # noqa: E731
        d: dict[str, object] = {
            "run_id": self.run_id,
            "plan_id": self.plan_id,
            "image": self.image,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "context": self.context,
            "exit_code": self.exit_code,
            "message": self.message,
            "created": fmt(self.created_ms),
            "updated": fmt(self.updated_ms),
            "started": fmt(self.started_ms),
            "finished": fmt(self.finished_ms),
        }
        if self.reused_run:
            d["reused_run"] = self.reused_run
        if self.history:
            d["history"] = self.history
        if self.provenance:
            d["provenance"] = provenance.public(self.provenance)
        return d


def resolve_id(session: Session, text: str) -> str:
    prefix = ids.check_prefix(text, what="run")
    return ids.pick_one(prefix, q.ids_with_prefix(session.catalog.conn, prefix), what="run")


def _load(conn: sqlite3.Connection, rows) -> list[Run]:
    if not rows:
        return []
    ins, outs = q.inputs_and_outputs(conn, [r["run_id"] for r in rows])
    cached = reuse.reused(conn, [r["run_id"] for r in rows])
    return [
        Run(
            run_id=r["run_id"], plan_id=r["plan_id"], image=r["image"], status=r["status"],
            inputs=ins[r["run_id"]], outputs=outs[r["run_id"]], context=r["context"],
            exit_code=r["exit_code"], message=r["message"], created_ms=r["created_ms"],
            updated_ms=r["updated_ms"], started_ms=r["started_ms"], finished_ms=r["finished_ms"],
            reused_run=cached.get(r["run_id"]),
        )
        for r in rows
    ]


def get(session: Session, text: str, *, history: bool = False) -> Run:
    conn = session.catalog.conn
    run_id = resolve_id(session, text)
    run = _load(conn, q.rows_by_id(conn, run_id))[0]
    if history:
        run.history = [
            {"status": s, "at": tagrules.format_time(t), **({"note": n} if n else {})}
            for s, t, n in q.history(conn, run_id)
        ]
    return run


def find(
    session: Session,
    *,
    plans: Iterable[str] = (),
    inputs: Iterable[str] = (),
    outputs: Iterable[str] = (),
    statuses: Iterable[str] = (),
    since: str | None = None,
    duration: str | None = None,
    include_uploads: bool = False,
    limit: int | None = None,
    contexts: Iterable[str] = (),
) -> list[Run]:
    """Runs by plan, input datum, output datum, status and creation time; newest last."""
    with session.catalog.read() as conn:
        return _load(conn, q.find(conn, _filter(session, conn, plans, inputs, outputs, statuses, since,
                                                duration, include_uploads, limit, contexts)))


def _filter(session: Session, conn: sqlite3.Connection, plans: Iterable[str], inputs: Iterable[str],
            outputs: Iterable[str], statuses: Iterable[str], since: str | None, duration: str | None,
            include_uploads: bool, limit: int | None, contexts: Iterable[str]) -> q.RunFilter:
    """find's filters checked, with id prefixes resolved (so call it inside a read)."""
    from . import data as data_api
    from .plans import registry

    statuses = list(statuses)
    cached = reuse.CACHED_LABEL in statuses  # done runs that reused an earlier run's outputs
    statuses = [s for s in statuses if s != reuse.CACHED_LABEL]
    for s in statuses:
        if s not in runstate.STATUSES:
            raise UsageError(f"--status: {s!r} is not a run status; one of {', '.join(runstate.STATUSES)} "
                             f"(or {reuse.CACHED_LABEL}: done runs that reused an earlier run's outputs)")
    start, end = times.window(since, duration)
    return q.RunFilter(
        plan_ids=[registry.resolve_id(session, p) for p in plans],
        input_ids=[data_api.resolve_id(session, d) for d in inputs],
        output_ids=[data_api.resolve_id(session, d) for d in outputs],
        statuses=statuses, contexts=list(contexts), created_from_ms=start, created_before_ms=end,
        include_uploads=include_uploads, limit=limit, cached=cached,
    )


LISTING_TEXT, LISTING_JSON = q.LISTING_TEXT, q.LISTING_JSON


def listing(session: Session, select: str = LISTING_TEXT, **filters) -> list[tuple]:
    """find's runs as plain tuples of `select`'s columns (LISTING_TEXT or LISTING_JSON); find's filters."""
    args = {"plans": (), "inputs": (), "outputs": (), "statuses": (), "since": None, "duration": None,
            "include_uploads": False, "limit": None, "contexts": (), **filters}
    with session.catalog.read() as conn:
        return q.listing(conn, select, _filter(session, conn, **args))


def duration_ms(started_ms: int | None, finished_ms: int | None, updated_ms: int) -> int | None:
    if started_ms is None:
        return None
    return max(0, (finished_ms or updated_ms) - started_ms)


def show(session: Session, text: str) -> Run:
    with session.catalog.read():
        run = get(session, text, history=True)
        run.provenance = provenance.of_run(session, run.run_id) or {}
        return run


def stop(session: Session, text: str, *, fail: bool = False) -> Run:
    """Stop a run (its outputs kept as success) or, with fail, abort it.

    A run with no container yet can't complete, so stopping it aborts it.
    The daemon ends containers of runs moved to completing/aborting.
    """
    with session.catalog.write() as conn:
        run_id = resolve_id(session, text)
        status = q.status(conn, run_id)
        if status in runstate.TERMINAL:
            raise Conflict(f"run {run_id} has already ended ({status}); nothing to stop")
        if status in runstate.ENDING:
            raise Conflict(f"run {run_id} is already {status}")
        if status in ("deactivated", "waiting"):
            why = "aborted before it started" if fail else "stopped before it started, so it has no outputs to keep"
            runstate.move(conn, run_id, "aborting", message=why, note="abort requested" if fail else "stop requested")
            runstate.move(conn, run_id, "failed", message=why)
        elif fail:
            runstate.move(conn, run_id, "aborting", message="aborted by the user", note="abort requested")
            q.set_request(conn, run_id, "abort")
        else:
            runstate.move(conn, run_id, "completing", message="stopped by the user", note="stop requested")
            q.set_request(conn, run_id, "stop")
        return get(session, run_id)


live_downstream = q.live_downstream


def retry(session: Session, text: str) -> Run:
    """Discard a finished run's outputs and queue it again with fresh output ids."""
    with session.catalog.write() as conn:
        run_id = resolve_id(session, text)
        row = q.plan_and_status(conn, run_id)
        assert row is not None  # resolve_id found it
        if row[0] == records.UPLOAD_PLAN:
            raise Conflict(f"run {run_id} is an upload; there is nothing to run again")
        if row[1] not in runstate.FINISHED:
            raise Conflict(f"run {run_id} is {row[1]}; only done or failed runs can be retried")
        users = live_downstream(conn, run_id)
        if users:
            raise Conflict(
                f"run {run_id} can't be retried: its outputs feed run(s) {', '.join(users[:5])}; "
                "remove those first (`knitctl run rm`)"
            )
        from .catalog import marks as mark_rows
        from .catalog.projection import is_dropped

        dropped = [k for k in mark_rows.run_inputs(conn, run_id) if is_dropped(conn, k)]
        if dropped:  # its input's bytes were freed by gc (knitctl.retention): nothing to run it on
            raise Conflict(f"run {run_id} can't be retried: its input {dropped[0]} was dropped by gc; "
                           "`knitctl data show` says when and by which rule")
        gone = q.discard_outputs(conn, run_id)
        runstate.reset(conn, run_id, note="retry requested")
        reuse.on_retry(conn, run_id)  # a retry executes, even on a plan with cache on
        provenance.forget_run(conn, run_id)  # the image and who ran it go with the discarded outputs
        PlanRuns(conn, row[0]).add_outputs(conn, run_id)
        if not plan_rows.is_active(conn, row[0]):
            runstate.move(conn, run_id, "deactivated", note="plan is inactive")
        run = get(session, run_id)
    for kid in gone:
        session.store.discard_path(session.store.path_of(kid))
    return run


def rm(session: Session, text: str) -> str:
    """Remove a finished run's outputs; a run with inputs stays as `invalidated`."""
    with session.catalog.write() as conn:
        run_id = resolve_id(session, text)
        row = q.plan_and_status(conn, run_id)
        assert row is not None  # resolve_id found it
        if row[1] == "invalidated":
            raise Conflict(f"run {run_id} is already removed (invalidated)")
        if row[1] not in runstate.FINISHED:
            raise Conflict(f"run {run_id} is {row[1]}; stop or abort it before removing it")
        users = live_downstream(conn, run_id)
        if users:
            raise Conflict(
                f"run {run_id} can't be removed: its outputs feed run(s) {', '.join(users[:5])}; remove those first"
            )
        gone = q.discard_outputs(conn, run_id)
        if row[0] == records.UPLOAD_PLAN:
            q.delete(conn, run_id)
            result = "deleted"
        else:
            runstate.invalidate(conn, run_id, note="removed by the user")
            result = "invalidated"
    for kid in gone:
        session.store.discard_path(session.store.path_of(kid))
    return result


__all__ = ["Run", "find", "show", "stop", "retry", "rm", "get", "resolve_id", "live_downstream"]


def log_path(session: Session, text: str):
    """The committed log datum's file when there is one, else the live log."""
    with session.catalog.read() as conn:
        run_id = resolve_id(session, text)
        log_id = q.committed_log_id(conn, run_id)
    if log_id:
        p = session.store.path_of(log_id) / "log"
        if p.exists():
            return p
    return session.home.run_log(run_id)


def is_live(session: Session, run_id: str) -> bool:
    return q.status(session.catalog.conn, run_id) not in runstate.TERMINAL


def wait(session: Session, text: str, timeout: float | None) -> str | None:
    """Block until the run ends; its final status, or None on timeout."""
    import time

    with session.catalog.read():
        run_id = resolve_id(session, text)
    deadline = None if timeout is None else time.monotonic() + timeout
    last = -1
    while True:
        version = session.catalog.data_version()
        if version != last:
            last = version
            status = q.status(session.catalog.conn, run_id)
            if status in runstate.TERMINAL:
                return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
