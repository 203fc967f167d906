"""Projection and lineage at scale (docs/ARCHITECTURE.md#benchmarks).

- A new datum against 1,000 plans and 100,000 existing data: the projection of one push (the
  catalog work done in the push's transaction: which plan inputs it fits, the runs to create)
  against the 10 ms limit. Ten of the plans fit the datum, so ten runs are made each time.
- Applying a plan that fits all 100,000 data (100,000 runs with their output data), against a
  bare `executemany` of 100,000 rows into a table shaped like `run` — the floor for writing that
  many rows at all.
- Lineage 20 runs deep, upstream, over a catalog of 1,000,000 events (chains of runs, each taking
  the previous run's output), against the 0.5 ms bar for MLMD lineage (docs/ARCHITECTURE.md#benchmarks).

The catalog is built by bulk inserts (every row a real knit would write for those data and runs,
no files) under benchmarks/.work/projection and removed afterwards. Each measured step runs in a
transaction that is rolled back, so repeats see the same catalog; best of `--repeat`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import sys
import time
from pathlib import Path

from .bench_ingest import force_rmtree

WORK = Path(__file__).resolve().parent / ".work" / "projection"
LIMIT_PROJECTION_MS = 10.0
LIMIT_LINEAGE_MS = 0.5
BASE_MS = 1_767_225_600_000
_COUNTER = itertools.count(1)   # ids unique across builders


def log(text: str) -> None:
    print(f"  projection: {text}", file=sys.stderr, flush=True)


class Builder:
    """Bulk rows for uploads and chains of runs, as knit's own writers would make them."""

    def __init__(self, conn: sqlite3.Connection):
        from knitctl.catalog import mlmd
        from knitctl.catalog.records import ensure_upload_plan

        self.conn = conn
        ensure_upload_plan(conn)
        self.art_type = mlmd.type_id(conn, mlmd.ARTIFACT_TYPE, mlmd.DATA_TYPE)
        self.exec_type = mlmd.type_id(conn, mlmd.EXECUTION_TYPE, mlmd.RUN_TYPE)
        self.next = {t: (conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] + 1)
                     for t in ("artifact", "execution", "event")}
        self.rows: dict[str, list[tuple]] = {k: [] for k in
                                             ("execution", "run", "artifact", "data", "tag", "event", "event_path")}
    def _id(self) -> str:
        return f"{0xb000000000 + next(_COUNTER):012x}"

    def _bump(self, table: str) -> int:
        i = self.next[table]
        self.next[table] += 1
        return i

    def run(self, plan_id: str, inputs: list[tuple[str, int]], t: int) -> tuple[str, int]:
        """A done run of `plan_id` taking (mount path, artifact id) inputs; returns (run id, execution id)."""
        run_id, ex = self._id(), self._bump("execution")
        self.rows["execution"].append((ex, self.exec_type, 3, run_id, t, t))
        assignment = "\n".join(f"{p}={a}" for p, a in sorted(inputs)) if inputs else None
        self.rows["run"].append((run_id, ex, plan_id, "done", assignment, t, t, t, t))
        for path, art in inputs:
            ev = self._bump("event")
            self.rows["event"].append((ev, art, ex, 3, t))
            self.rows["event_path"].append((ev, 0, path))
        return run_id, ex

    def datum(self, run_id: str, ex: int, path: str, tags: list[tuple[str, str]], t: int) -> tuple[str, int]:
        knit_id, art = self._id(), self._bump("artifact")
        self.rows["artifact"].append((art, self.art_type, 2, knit_id, t, t))
        self.rows["data"].append((knit_id, art, run_id, path, "sha256:bench", 1, 1))
        self.rows["tag"] += [(knit_id, k, v) for k, v in tags]
        ev = self._bump("event")
        self.rows["event"].append((ev, art, ex, 4, t))
        self.rows["event_path"].append((ev, 0, path))
        return knit_id, art

    def flush(self) -> None:
        c = self.conn
        c.executemany("INSERT INTO Execution(id, type_id, last_known_state, name, create_time_since_epoch, last_update_time_since_epoch)"
                      " VALUES (?, ?, ?, ?, ?, ?)", self.rows["execution"])
        c.executemany("INSERT INTO run(run_id, execution_id, plan_id, status, assignment, created_ms, updated_ms,"
                      " started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self.rows["run"])
        c.executemany("INSERT INTO Artifact(id, type_id, state, name, create_time_since_epoch, last_update_time_since_epoch)"
                      " VALUES (?, ?, ?, ?, ?, ?)", self.rows["artifact"])
        c.executemany("INSERT INTO data(knit_id, artifact_id, run_id, output_path, digest, size, file_count)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)", self.rows["data"])
        c.executemany("INSERT INTO tag(knit_id, key, value) VALUES (?, ?, ?)", self.rows["tag"])
        c.executemany("INSERT INTO Event(id, artifact_id, execution_id, type, milliseconds_since_epoch)"
                      " VALUES (?, ?, ?, ?, ?)", self.rows["event"])
        c.executemany("INSERT INTO EventPath(event_id, is_index_step, step_key) VALUES (?, ?, ?)",
                      self.rows["event_path"])
        for v in self.rows.values():
            v.clear()


def build_data(session, n: int) -> None:
    """`n` uploaded data tagged type:raw and one of 100 projects."""
    from knitctl.catalog.records import UPLOAD_PATH, UPLOAD_PLAN

    with session.catalog.write() as c:
        b = Builder(c)
        for i in range(n):
            t = BASE_MS + i
            run_id, ex = b.run(UPLOAD_PLAN, [], t)
            b.datum(run_id, ex, UPLOAD_PATH, [("type", "raw"), ("project", f"p{i % 100}")], t)
            if len(b.rows["tag"]) > 200_000:
                b.flush()
        b.flush()


def build_plans(session, n: int) -> None:
    """`n` plans taking `type:model` + one of 100 projects: none fits the existing data."""
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan

    with session.catalog.write() as c:
        for j in range(n):
            spec = parse_plan(
                f"image: knit/busybox:1\nargs: [v{j}]\ninputs: [{{path: /in, tags: ['type:model', 'project:p{j % 100}']}}]\n"
                "outputs: [{path: /out, tags: ['type:scored']}]\n", f"plan-{j}.yaml")
            registry._insert(c, spec)


def build_chains(session, events: int, depth: int) -> tuple[str, int]:
    """Chains of `depth` runs (each taking the previous output) until `events` events exist; a chain's last datum."""
    from knitctl.catalog.records import UPLOAD_PATH, UPLOAD_PLAN
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan

    with session.catalog.write() as c:
        plan = registry._insert(c, parse_plan(
            "image: knit/busybox:1\ninputs: [{path: /in, tags: ['chain:x']}]\noutputs: [{path: /out, tags: ['chain:y']}]\n",
            "chain.yaml"))
        b = Builder(c)
        have = c.execute("SELECT count(*) FROM event").fetchone()[0]
        per_chain = 1 + 2 * depth
        chains = max(1, (events - have) // per_chain)
        last = None
        for k in range(chains):
            t = BASE_MS + 10_000_000 + k * 100
            run_id, ex = b.run(UPLOAD_PLAN, [], t)
            kid, art = b.datum(run_id, ex, UPLOAD_PATH, [("chain", "x"), ("n", str(k))], t)
            for step in range(depth):
                run_id, ex = b.run(plan, [("/in", art)], t + step + 1)
                kid, art = b.datum(run_id, ex, "/out", [("chain", "y")], t + step + 1)
            last = kid
            if len(b.rows["event"]) > 200_000:
                b.flush()
        b.flush()
        total = c.execute("SELECT count(*) FROM event").fetchone()[0]
    return last, total


class _Rollback(Exception):
    pass


def timed_rollback(session, fn, repeat: int) -> tuple[float, object]:
    """Best time of `fn(conn)` inside a write transaction that is rolled back."""
    best, result = float("inf"), None
    for _ in range(repeat):
        try:
            with session.catalog.write() as c:
                t0 = time.perf_counter()
                result = fn(c)
                best = min(best, time.perf_counter() - t0)
                raise _Rollback
        except _Rollback:
            pass
    return best, result


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks projection", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=int, default=100_000)
    parser.add_argument("--plans", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args, _ = parser.parse_known_args(argv)

    from knitctl import lineage
    from knitctl.catalog import lineage as lineage_rows
    from knitctl.catalog.records import UPLOAD_PATH, UPLOAD_PLAN, insert_datum, insert_run
    from knitctl.home import Home
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan
    from knitctl.projection import project_data, project_plan
    from knitctl.session import Session
    from knitctl.tags import Tag

    force_rmtree(WORK)
    WORK.mkdir(parents=True)
    os.environ.setdefault("KNIT_CONFIG", str(WORK / "config.yaml"))
    try:
        session = Session.open(Home.resolve(WORK / "home"), reclaim=False)
        t0 = time.perf_counter()
        build_data(session, args.data)
        build_plans(session, args.plans)
        log(f"built {args.data:,} data and {args.plans:,} plans in {time.perf_counter() - t0:.1f} s")

        def one_push(c):
            t = BASE_MS + 50_000_000
            run_id = insert_run(c, UPLOAD_PLAN, "done", at_ms=t)
            kid = insert_datum(c, run_id, UPLOAD_PATH, [Tag("type", "model"), Tag("project", "p7")], at_ms=t)
            t1 = time.perf_counter()
            made = project_data(c, [kid])
            return time.perf_counter() - t1, made

        proj_best, new_runs = float("inf"), []
        for _ in range(args.repeat):  # time only project_data, not the datum's own rows
            _, (dt, made) = timed_rollback(session, one_push, 1)
            proj_best, new_runs = min(proj_best, dt), made
        proj_ms = proj_best * 1000

        spec = parse_plan("image: knit/busybox:1\ninputs: [{path: /in, tags: ['type:raw']}]\n"
                          "outputs: [{path: /out, tags: ['type:seen']}]\n", "all.yaml")

        def apply_all(c):
            pid = registry._insert(c, spec)
            return len(project_plan(c, pid))

        apply_s, n_apply = timed_rollback(session, apply_all, max(1, args.repeat // 3))

        def bare(c):
            c.execute("CREATE TEMP TABLE bare(run_id TEXT PRIMARY KEY, plan_id TEXT, status TEXT, assignment TEXT,"
                      " created_ms INTEGER)")
            c.executemany("INSERT INTO bare VALUES (?, ?, ?, ?, ?)",
                          ((f"{i:012x}", "p", "waiting", f"/in={i:012x}", i) for i in range(args.data)))
            c.execute("DROP TABLE temp.bare")

        bare_s, _ = timed_rollback(session, bare, max(1, args.repeat // 3))

        t0 = time.perf_counter()
        last, events = build_chains(session, args.events, args.depth)
        log(f"built chains to {events:,} events in {time.perf_counter() - t0:.1f} s")
        conn = session.catalog.conn
        best = float("inf")
        for _ in range(args.repeat * 20):
            t1 = time.perf_counter()
            g = lineage.walk(session, "data", last, up=True, down=False, depth=args.depth)
            best = min(best, time.perf_counter() - t1)
        runs_seen = sum(1 for k, _ in g.nodes if k == "run")
        walk_only = float("inf")
        for _ in range(args.repeat * 20):
            t1 = time.perf_counter()
            list(lineage_rows.walk(conn, "data", last, up=True, max_depth=args.depth))
            walk_only = min(walk_only, time.perf_counter() - t1)
        session.close()
    finally:
        force_rmtree(WORK)
    return [
        f"projection: a new datum against {args.plans:,} plans and {args.data:,} data: {proj_ms:6.2f} ms for "
        f"{len(new_runs)} runs | {proj_ms / LIMIT_PROJECTION_MS:.2f}x the {LIMIT_PROJECTION_MS:g} ms limit",
        f"projection: applying a plan that fits {args.data:,} data: {apply_s:6.2f} s for {n_apply:,} runs "
        f"({apply_s / max(1, n_apply) * 1e6:.0f} µs a run, with its output datum and events) | "
        f"{apply_s / bare_s:.1f}x a bare executemany of {args.data:,} rows ({bare_s:.2f} s)",
        f"lineage: {args.depth} runs upstream over {events:,} events: {best * 1000:6.3f} ms "
        f"({runs_seen} runs, {len(g.nodes)} nodes, one recursive query) | {best * 1000 / LIMIT_LINEAGE_MS:.2f}x the "
        f"{LIMIT_LINEAGE_MS} ms bar (the walk with every node's tags and status and every edge's path)",
        f"lineage: {args.depth} runs upstream over {events:,} events, the recursive query alone: {walk_only * 1000:6.3f} ms | "
        f"{walk_only * 1000 / LIMIT_LINEAGE_MS:.2f}x the {LIMIT_LINEAGE_MS} ms bar",
    ]
