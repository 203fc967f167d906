"""Retention at scale: `knitctl gc --dry-run` over 100,000 data (target < 2 s).

The catalog is built through knitctl.catalog.records (the rows a push and a run write, no files): uploads
spread over 1,000 tag sets (`project:pN`, `type:model|metrics|scratch`) and over 60 days, one in a hundred
pinned `keep:true`, a tenth of them taken by a done run of a plan (so the pinned outputs' upstream must be
walked), 2% failed runs' outputs, and a few hundred waiting runs (their inputs are in use). The measured
step is the library call `knitctl gc --dry-run` makes (`retention.gc(..., dry_run=True)`) with three rules
— keep-newest 5 per tag set, older-than 30d for type:scratch, failed-older-than 7d — best of `--repeat`,
against the 2 s target; also the same plan computed inside a write transaction (what a real gc holds the
write lock for before it deletes anything). Work under benchmarks/.work/gc, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .bench_ingest import force_rmtree

WORK = Path(__file__).resolve().parent / ".work" / "gc"
TARGET_S = 2.0
DAY = 86_400_000


def log(text: str) -> None:
    print(f"  gc: {text}", file=sys.stderr, flush=True)


def build(session, n: int) -> None:
    import yaml

    from knitctl.catalog import mlmd, now_ms, records
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan
    from knitctl.projection import PlanRuns
    from knitctl.tags import Tag

    spec = parse_plan(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["bench:input"]}],
                                      "outputs": [{"path": "/out", "tags": ["type:model", "stage:trained"]}]}), "bench.yaml")
    plan_id = registry.apply(session, spec).plan.plan_id
    now = now_ms()
    types = ("model", "metrics", "scratch")
    with session.catalog.write() as c:
        art_type = mlmd.type_id(c, mlmd.ARTIFACT_TYPE, mlmd.DATA_TYPE)
        exec_type = mlmd.type_id(c, mlmd.EXECUTION_TYPE, mlmd.RUN_TYPE)
        maker = PlanRuns(c, plan_id)
        uploads: list[str] = []
        for i in range(n):
            t = now - (i * 60 * DAY) // n
            tags = [Tag("project", f"p{i % 334}"), Tag("type", types[i % 3])]
            if i % 100 == 0:
                tags.append(Tag("keep", "true"))
            run_id = records.insert_run(c, records.UPLOAD_PLAN, "done", at_ms=t, exec_type=exec_type)
            uploads.append(records.insert_datum(c, run_id, records.UPLOAD_PATH, tags, digest="sha256:bench",
                                                size=1000 + i % 7000, file_count=1, at_ms=t, art_type=art_type))
            if i and i % 20_000 == 0:
                log(f"{i:,} uploads")
        # a tenth taken by a done run; 2% by a failed one; a few hundred by waiting runs
        for i, kid in enumerate(uploads[: n // 10]):
            status = "failed" if i % 5 == 0 else "done"
            run_id = records.insert_run(c, plan_id, status, assignment={"/in": kid}, at_ms=now - (i % 30) * DAY,
                                        exec_type=exec_type, plan_context_id=maker.plan_context_id)
            out = records.insert_datum(c, run_id, "/out", [Tag("type", "model"), Tag("stage", "trained")]
                                       + ([Tag("keep", "true")] if i % 50 == 0 else []),
                                       digest="sha256:bench", size=5000, file_count=1, at_ms=now, art_type=art_type)
            del out
        for kid in uploads[n // 10 : n // 10 + 300]:
            records.insert_run(c, plan_id, "waiting", assignment={"/in": kid}, exec_type=exec_type,
                               plan_context_id=maker.plan_context_id)


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks gc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args(argv)

    from knitctl import retention
    from knitctl.catalog import now_ms
    from knitctl.session import Session

    force_rmtree(WORK)
    WORK.mkdir(parents=True)
    old_home = os.environ.get("KNIT_HOME")
    os.environ["KNIT_HOME"] = str(WORK / "home")
    try:
        with Session.open() as session:
            t0 = time.perf_counter()
            build(session, args.data)
            total = session.catalog.query("SELECT count(*) FROM data")[0][0]
            log(f"built {total:,} data in {time.perf_counter() - t0:.1f} s")
            rules = retention.parse({"rules": [{"keep-newest": 5}, {"older-than": "30d", "tags": ["type:scratch"]},
                                               {"failed-older-than": "7d"}]})
            best, cpu, report = float("inf"), float("inf"), None
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                report = retention.gc(session, rules, dry_run=True)
                best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
            assert report is not None
            in_tx = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                with session.catalog.read() as conn:
                    retention.plan(conn, rules, now_ms())
                in_tx = min(in_tx, time.perf_counter() - t)
    finally:
        if old_home is None:
            os.environ.pop("KNIT_HOME", None)
        else:
            os.environ["KNIT_HOME"] = old_home
        force_rmtree(WORK)
    load = os.getloadavg()[0]
    return [
        f"gc --dry-run over {total:,} data: {best * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
        f"({best / TARGET_S:.2f}x the {TARGET_S:.0f} s target on wall time; load average {load:.1f}); "
        f"would drop {len(report.drops):,} data, {report.size:,} bytes",
        f"the plan alone (what a real gc computes under its write lock): {in_tx * 1000:.0f} ms",
    ]
