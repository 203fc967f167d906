"""Reuse (docs/ARCHITECTURE.md#reuse): a plan with `cache: true` does not execute a run whose inputs have the
same content as those of a done run of the same plan; the run ends `done` at once with that run's outputs.

- A run's **input key** is a hash over its inputs' mount paths and content digests (`input_key`, pure). It is
  unknown while an input's digest is (a `--move` push hashes later): such a run is *held* waiting, and takes
  part once knitd's background hashing has recorded the digest.
- The decision (`decide`, pure): reuse a done run with the same key (one that executed before one that was
  itself cached, then the newest); hold while a claimed run with the same key may yet give a result; else
  execute. A retried run always executes (a retry asks for the work to be done again).
- A cached finish (`finish_cached`): every output is rebuilt from hard links to the source run's committed
  output (no byte copied; data are read-only), published into data/, then one transaction commits the
  digests (the source's), records the source (`run_cache.reused_run`, MLMD state CACHED and the custom
  property `knit.reused_run`) and moves the run ready → completing → done, which projects downstream as any
  done run does. A crash before that commit leaves the run `ready`: knitd's next start finishes it again,
  discarding what the interrupted attempt left first. The log output is the source's log, linked likewise.

knitd calls `waiting_decisions` when claiming runs and `reuse_run` first thing in a claimed run's worker.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from . import runstate
from .catalog import cache as q
from .catalog import mlmd, now_ms
from .catalog import scheduler as sched_rows
from .digest import DEFERRED
from .session import Session


def _log():
    """knitd's logger, imported when a cached finish has something to say (listings never import logging)."""
    import logging

    return logging.getLogger("knitd")

REUSED_PROPERTY = "knit.reused_run"
CACHED_LABEL = "cached"      # `run find -s cached`; the status column shows `done (cached)`
REUSE, HOLD, RUN = "reuse", "hold", "run"


# -- the rules (pure) ---------------------------------------------------------------------------


def parse_assignment(text: str | None) -> dict[str, str]:
    """A run's canonical assignment (`records.canonical_assignment`) as mount path -> knit id."""
    if not text:
        return {}
    return dict(line.rsplit("=", 1) for line in text.split("\n") if line)


def input_key(digests: Mapping[str, str | None]) -> str | None:
    """The key of a run's inputs (mount path -> content digest), or None while a digest is unknown."""
    if not digests or any(d is None or d == DEFERRED for d in digests.values()):
        return None
    blob = "\n".join(f"{path}={digests[path]}" for path in sorted(digests))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    action: str                 # REUSE, HOLD or RUN
    source: str | None = None   # REUSE: the run whose outputs are reused
    why: str = ""
    pending: tuple[str, ...] = ()   # HOLD: the inputs whose digest is being computed
    key: str | None = None          # the run's input key, when known


def decide(key: str | None, *, execute: bool, pending: Sequence[str], sources: Sequence[str],
           live: Sequence[str]) -> Decision:
    """What to do with a run of a plan with cache on. `pending`: the mount paths whose digest is not known
    yet; `sources`: done runs with the same key, best first; `live`: claimed unfinished runs with it."""
    if execute:
        return Decision(RUN, why="retried: it executes even where a result could be reused")
    if key is None:
        if pending:
            return Decision(HOLD, why=f"waiting for the content digest of input {', '.join(pending)} (pushed with "
                                      "--move; knitd is hashing it) to see whether a done run can be reused",
                            pending=tuple(pending))
        return Decision(RUN, why="its inputs' content is unknown")
    if sources:
        return Decision(REUSE, sources[0], f"reusing run {sources[0]}'s outputs: same plan, inputs of the same content")
    if live:
        return Decision(HOLD, why=f"waiting for run {live[0]}: same plan, inputs of the same content; "
                                  "its result is reused when it ends done")
    return Decision(RUN, why="no done run of this plan had inputs of the same content")


def status_label(status: str, reused_run: str | None) -> str:
    """A run's status as listings show it: `done (cached)` for a cached run."""
    return f"{status} ({CACHED_LABEL})" if reused_run and status == "done" else status


# -- the catalog side (in the caller's transaction) ---------------------------------------------


def _key(conn: sqlite3.Connection, assignment: str | None) -> tuple[str | None, list[str]]:
    """(input key or None, mount paths whose digest is deferred)."""
    mounts = parse_assignment(assignment)
    dg = q.digests(conn, mounts.values())
    by_path = {path: dg.get(kid) for path, kid in mounts.items()}
    return input_key(by_path), sorted(p for p, d in by_path.items() if d == DEFERRED)


def _backfill(conn: sqlite3.Connection, plan_id: str) -> None:
    """Key the plan's done and claimed runs that have no key yet (runs from before cache was turned on)."""
    for run_id, assignment in q.unkeyed_runs(conn, plan_id):
        key, _ = _key(conn, assignment)
        if key is not None:
            q.record_key(conn, run_id, plan_id, key)


def decide_for(conn: sqlite3.Connection, run_id: str, plan_id: str, assignment: str | None, *,
               record: bool = True, backfilled: set[str] | None = None) -> Decision:
    """The decision for one run. `record`: write its key (and key the plan's older runs); without it
    (explain's read), only runs keyed already count."""
    row = q.key_row(conn, run_id)
    key, pending = _key(conn, assignment)
    sources: list[str] = []
    live: list[str] = []
    if key is not None:
        if record:
            if row is None or row[0] != key:
                q.record_key(conn, run_id, plan_id, key)
            if backfilled is None or plan_id not in backfilled:
                _backfill(conn, plan_id)
                if backfilled is not None:
                    backfilled.add(plan_id)
        sources = q.done_with_key(conn, plan_id, key, run_id)
        live = q.live_with_key(conn, plan_id, key, run_id)
    decision = decide(key, execute=bool(row and row[2]), pending=pending, sources=sources, live=live)
    return replace(decision, key=key)


def any_waiting(conn: sqlite3.Connection) -> bool:
    """Whether a run of a plan with cache on is waiting."""
    return q.any_waiting(conn)


def key_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> None:
    """Record the input keys of runs knitd claims (of every plan: one may turn cache on later)."""
    for run_id in run_ids:
        facts = q.run_facts(conn, run_id)
        if facts is not None and q.key_row(conn, run_id) is None:
            key, _ = _key(conn, facts[2])
            if key is not None:
                q.record_key(conn, run_id, facts[0], key)


def waiting_decisions(conn: sqlite3.Connection, limit: int = 64, *,
                      backfilled: set[str] | None = None) -> dict[str, Decision]:
    """knitd's claim pass: the decision for each waiting run of a plan with cache on, oldest first.
    Of two waiting runs with the same key only the older is to execute; the other waits for its result.
    `backfilled`: the plans whose older runs were keyed already (knitd keeps it across passes)."""
    backfilled = set() if backfilled is None else backfilled
    first: dict[tuple[str, str], str] = {}  # (plan, key) -> the oldest run to execute for it in this pass
    out: dict[str, Decision] = {}
    for run_id, plan_id, assignment in q.waiting_runs(conn, limit):
        d = decide_for(conn, run_id, plan_id, assignment, backfilled=backfilled)
        if d.action == RUN and d.key is not None:
            earlier = first.setdefault((plan_id, d.key), run_id)
            if earlier != run_id:
                d = Decision(HOLD, why=f"waiting for run {earlier}: same plan, inputs of the same content; "
                                       "its result is reused when it ends done", key=d.key)
        out[run_id] = d
    return out


def on_retry(conn: sqlite3.Connection, run_id: str) -> None:
    """A retried run executes for real next time (in retry's transaction)."""
    facts = q.run_facts(conn, run_id)
    if facts is None:
        return
    key, _ = _key(conn, facts[2])
    if key is not None:
        q.record_key(conn, run_id, facts[0], key)
    q.set_execute(conn, run_id)


def reused(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """run id -> the run whose outputs it reused (cached runs only)."""
    return q.reused(conn, run_ids) if run_ids else {}


def explain(conn: sqlite3.Connection, run_id: str) -> dict | None:
    """For explain: the plan's cache switch and, for a run of a plan with cache on, what reuse did or will do."""
    facts = q.run_facts(conn, run_id)
    if facts is None:
        return None
    plan_id, status, assignment, cache = facts
    doc: dict = {"plan_cache": cache}
    row = q.key_row(conn, run_id)
    doc["reused_run"] = row[1] if row else None
    doc["reused_by"] = q.reused_by(conn, run_id)
    if cache and status in ("waiting", "deactivated", "ready"):
        d = decide_for(conn, run_id, plan_id, assignment, record=False)
        doc["decision"] = {"action": d.action, "source": d.source, "why": d.why}
    return doc


# -- a cached finish (knitd's worker) -----------------------------------------------------------


def reuse_run(session: Session, run_id: str) -> str | None:
    """A claimed (`ready`) run of a plan with cache on: finish it from a done run's outputs when one has
    inputs of the same content. Returns 'done' when it did; None when the run is to execute (the plan has
    cache off, no result to reuse, or the run is not `ready`)."""
    conn = session.catalog.conn
    facts = q.run_facts(conn, run_id)
    if facts is None or facts[1] != "ready":
        return None
    # A `ready` run's task never started: what its directories hold is an interrupted attempt's (a cached
    # finish, or a finish before the start), perhaps with cache turned off since. It starts afresh.
    _discard_leftovers(session, run_id, q.outputs(conn, run_id))
    if not facts[3]:
        return None
    plan_id, _, assignment, _ = facts
    # most often knitd's claim decided it already and keyed the runs: a read is enough
    decision = decide_for(conn, run_id, plan_id, assignment, record=False)
    if decision.action != REUSE:
        with session.catalog.write() as c:
            decision = decide_for(c, run_id, plan_id, assignment)
    if decision.pending:
        _hash_inputs(session, assignment)  # claimed before its digests were known (cache just turned on)
        with session.catalog.write() as c:
            decision = decide_for(c, run_id, plan_id, assignment)
    if decision.action != REUSE or decision.source is None:
        return None
    return finish_cached(session, run_id, decision.source)


def _hash_inputs(session: Session, assignment: str | None) -> None:
    from .data import ensure_digest
    from .errors import KnitError

    for knit_id in parse_assignment(assignment).values():
        try:
            ensure_digest(session, knit_id)
        except (KnitError, OSError) as e:
            _log().warning("datum %s: can't be hashed to check the cache: %s", knit_id, e)


def finish_cached(session: Session, run_id: str, source: str) -> str | None:
    """End the `ready` run `run_id` done with `source`'s outputs (see the module's docstring). None when it
    could not (the source's outputs are not all there, or the run left `ready` meanwhile): nothing of the
    attempt is kept and the run executes, or ends as it was asked to."""
    store, home = session.store, session.home
    conn = session.catalog.conn
    mine, theirs = q.outputs(conn, run_id), q.outputs(conn, source)
    if set(mine) != set(theirs) or any(theirs[p][1] in (None, DEFERRED) for p in theirs):
        return None
    work = home.runs / run_id
    _discard_leftovers(session, run_id, mine)
    try:
        staged = []
        for path, (knit_id, *_rest) in sorted(mine.items()):
            src = store.path_of(theirs[path][0])
            dest = work / knit_id
            work.mkdir(mode=0o700, exist_ok=True)
            store.stage_links(src, dest)
            staged.append((knit_id, dest, src))
        # a source directory still there after its scan was there all along (data are never put back):
        # the links are of its complete, immutable files
        if not all(src.is_dir() for _, _, src in staged):
            raise FileNotFoundError("a source output was removed while it was linked")
        for knit_id, dest, _ in staged:
            store.publish(knit_id, dest)
    except OSError as e:
        _log().warning("run %s: could not reuse run %s's outputs (%s); it executes", run_id, source, e)
        _discard_leftovers(session, run_id, mine)
        return None
    t = now_ms()
    with session.catalog.write() as c:
        now = q.run_facts(c, run_id)
        if now is None or now[1] != "ready":
            return None  # stopped or aborted meanwhile: the worker ends it as asked, with what was published
        for path, (knit_id, *_rest) in mine.items():
            _, digest, size, files = theirs[path]
            assert digest is not None and size is not None and files is not None
            sched_rows.commit_output(c, knit_id, digest=digest, size=size, file_count=files,
                                     uri=str(store.path_of(knit_id)))
        key, _ = _key(c, now[2])
        if key is not None:
            q.record_key(c, run_id, now[0], key)  # when only read so far (the run claimed before it was keyed)
        q.set_reused(c, run_id, source)
        # who made it, and the image that made its outputs: the reused run's (it did not execute itself)
        from . import provenance
        from .catalog import provenance as provenance_rows

        made_by = {k: v for k, v in (provenance_rows.of_run(c, source) or {}).items()
                   if k in ("image", "image_id", "repo_digest") and v is not None}
        provenance.record_run(c, run_id, {**provenance.who(), **made_by})
        runstate.move(c, run_id, "completing", note=f"cache: reusing run {source}'s outputs")
        runstate.move(c, run_id, "done", message=f"cached: reused the outputs of run {source} "
                                                 "(same plan, inputs of the same content); it did not execute")
        mlmd.set_execution_state(c, run_id, mlmd.E_CACHED, t)
        mlmd.set_custom_properties(c, "run", run_id, {REUSED_PROPERTY: source})
    if work.exists():
        store.discard_path(work)
    _log().info("run %s: done from run %s's outputs (cache)", run_id, source)
    return "done"


def _discard_leftovers(session: Session, run_id: str, mine: Mapping[str, tuple]) -> None:
    """What an interrupted attempt left: runs/<run>/ and published, uncommitted outputs of this `ready` run."""
    store = session.store
    work = session.home.runs / run_id
    if work.exists():
        store.discard_path(work)
    for knit_id, digest, *_ in mine.values():
        final = store.path_of(knit_id)
        if digest is None and os.path.lexists(final):
            store.discard_path(final)
