"""A large synthetic catalog for the TUI's tests and benchmark, built fast.

`build(home, runs=100_000)` makes a KNIT_HOME whose catalog holds `plans` real
plans (through the registry, before any data exist, so nothing is projected),
`uploads` uploaded data, and `runs` runs spread evenly over the plans, each
taking one uploaded datum as input and — when done or failed — one output
datum. Every row goes in through `executemany` in one transaction; ids and
times are derived from `seed`, so two builds are identical.

Not a benchmark itself (no `bench_` prefix): `bench_tui` and `tests/test_tui_scale.py`
import it.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from knitctl.catalog import mlmd
from knitctl.catalog.records import UPLOAD_PATH, UPLOAD_PLAN
from knitctl.home import Home
from knitctl.session import Session

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STATUS_MIX = [("done", 80), ("failed", 12), ("running", 3), ("waiting", 5)]


def _ids(rng: random.Random):
    """12-hex-digit ids, increasing (so B-tree inserts append) with random gaps."""
    i = rng.getrandbits(40)
    while True:
        i += 1 + rng.getrandbits(20)
        yield f"{i:012x}"


def build(home: Path, *, runs: int = 100_000, plans: int = 50, uploads: int | None = None, seed: int = 7) -> Home:
    """Create (or overwrite nothing: `home` must not hold a catalog yet) the synthetic KNIT_HOME."""
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan

    h = Home.resolve(home)
    if h.catalog.exists():
        raise FileExistsError(f"{h.catalog} exists")
    rng = random.Random(seed)
    new = _ids(rng)
    uploads = uploads or max(1, -(-runs // plans))
    if uploads * plans < runs:
        raise ValueError("uploads × plans must be at least runs (one run per plan and datum)")
    session = Session.open(h, reclaim=False)
    try:
        plan_ids = []
        for p in range(plans):
            doc = {
                "image": "knit/python:3.11",
                "args": ["train.py", f"--variant={p}"],
                "inputs": [{"path": "/in/data", "tags": ["kind:dataset"]}],
                "outputs": [{"path": "/out/model", "tags": ["kind:model", f"variant:{p}"]}],
            }
            plan_ids.append(registry.apply(session, parse_plan(yaml.safe_dump(doc), f"synthetic-{p}.yaml")).plan.plan_id)
        session.catalog.conn.execute("PRAGMA foreign_keys = OFF")  # rows go in parents first; checks only slow it
        session.catalog.conn.execute("PRAGMA cache_size = -262144")
        with session.catalog.write() as c:
            ex_type = mlmd.type_id(c, mlmd.EXECUTION_TYPE, mlmd.RUN_TYPE)
            art_type = mlmd.type_id(c, mlmd.ARTIFACT_TYPE, mlmd.DATA_TYPE)
            ctx_of = dict(c.execute("SELECT plan_id, context_id FROM plan").fetchall())
            ex_id = (c.execute("SELECT max(id) FROM execution").fetchone()[0] or 0) + 1
            art_id = (c.execute("SELECT max(id) FROM artifact").fetchone()[0] or 0) + 1
            ev_id = (c.execute("SELECT max(id) FROM event").fetchone()[0] or 0) + 1
            executions, assoc, run_rows, history, artifacts, data, tags, events, paths = ([] for _ in range(9))

            def run(plan_id, status, t, assignment, started=None, finished=None, exit_code=None, message=None):
                nonlocal ex_id
                rid = next(new)
                executions.append((ex_id, ex_type, mlmd.EXECUTION_STATE[status], rid, t, t))
                assoc.append((ctx_of[plan_id], ex_id))
                run_rows.append((rid, ex_id, plan_id, status, assignment, "local", exit_code, message, t,
                                 finished or started or t, started, finished))
                history.append((rid, t, status))
                ex_id += 1
                return rid, ex_id - 1

            def datum(rid, ex, path, status, t, tag_list, digest=True):
                nonlocal art_id, ev_id
                kid = next(new)
                artifacts.append((art_id, art_type, None, mlmd.artifact_state(status), kid, t, t))
                data.append((kid, art_id, rid, path, f"sha256:{kid}" if digest else None, 4096, 1, None))
                tags.extend((kid, k, v) for k, v in tag_list)
                events.append((ev_id, art_id, ex, mlmd.EV_OUTPUT, t))
                paths.append((ev_id, path))
                art_id += 1
                ev_id += 1
                return kid, art_id - 1

            up_arts = []
            for u in range(uploads):
                t = BASE_MS + u * 1000
                rid, ex = run(UPLOAD_PLAN, "done", t, None, started=t, finished=t)
                up_arts.append((*datum(rid, ex, UPLOAD_PATH, "done", t, [("kind", "dataset"), ("project", f"p{u % 10}")]), ))
            statuses = [s for s, n in STATUS_MIX for _ in range(n)]
            t0 = BASE_MS + uploads * 1000
            for i in range(runs):
                plan_id = plan_ids[i % plans]
                kid, art = up_arts[i // plans]
                status = statuses[rng.randrange(len(statuses))]
                t = t0 + i * 1000
                started = t + 500 if status in ("done", "failed", "running") else None
                finished = started + 1000 + rng.randrange(600_000) if status in ("done", "failed") else None
                rid, ex = run(
                    plan_id, status, t, f"/in/data={kid}", started=started, finished=finished,
                    exit_code={"done": 0, "failed": 1}.get(status),
                    message="exited with code 1" if status == "failed" else None,
                )
                events.append((ev_id, art, ex, mlmd.EV_INPUT, t))
                paths.append((ev_id, "/in/data"))
                ev_id += 1
                datum(rid, ex, "/out/model", status, finished or t, [("kind", "model"), ("variant", str(i % plans))],
                      digest=status == "done")
            c.executemany("INSERT INTO Execution(id, type_id, last_known_state, name, create_time_since_epoch, last_update_time_since_epoch)"
                          " VALUES (?, ?, ?, ?, ?, ?)", executions)
            c.executemany("INSERT INTO Association(context_id, execution_id) VALUES (?, ?)", assoc)
            c.executemany("INSERT INTO run(run_id, execution_id, plan_id, status, assignment, context, exit_code, message,"
                          " created_ms, updated_ms, started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows)
            c.executemany("INSERT INTO run_history(run_id, at_ms, status) VALUES (?, ?, ?)", history)
            c.executemany("INSERT INTO Artifact(id, type_id, uri, state, name, create_time_since_epoch, last_update_time_since_epoch)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?)", artifacts)
            c.executemany("INSERT INTO data(knit_id, artifact_id, run_id, output_path, digest, size, file_count, source)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data)
            c.executemany("INSERT INTO tag(knit_id, key, value) VALUES (?, ?, ?)", tags)
            c.executemany("INSERT INTO Event(id, artifact_id, execution_id, type, milliseconds_since_epoch)"
                          " VALUES (?, ?, ?, ?, ?)", events)
            c.executemany("INSERT INTO EventPath(event_id, is_index_step, step_key) VALUES (?, 0, ?)", paths)
        session.catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        session.catalog.conn.execute("ANALYZE")
    finally:
        session.close()
    return h


if __name__ == "__main__":  # python -m benchmarks.tui_catalog DIR [RUNS]
    import sys
    import time

    start = time.perf_counter()
    build(Path(sys.argv[1]), runs=int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    print(f"built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
