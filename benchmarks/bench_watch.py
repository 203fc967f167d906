"""Watched folders: drop → datum committed, and drop → container running, beyond the settle time.

docs/ARCHITECTURE.md#benchmarks asks a drop to reach a running container within 150 ms of what a bare `docker run`
takes; a watched folder adds its settle time on purpose (an item must stop changing first), so
the figures here are what comes on top of it. `--drops` items (default 50) are dropped one at a
time into KNIT_HOME/inbox (a rename, as a finished download or a `mv` would), each a directory
with one small file; knitd ingests it once it has settled (`--settle`, default 1 s) and a no-op
plan taking its tag runs on it. Committed = the upload's commit time in the catalog; running =
Docker's `start` event of the run's container. The reference is a bare `docker run -d` of the
same image, measured in the same benchmark, interleaved. p50 and p95.
"""

from __future__ import annotations

import argparse
import os
import time

from .bench_ingest import force_rmtree
from .bench_runs import WORK, Knit, StartEvents, bare_start, log, pct

TARGET_MS = 150


def drop_once(knit: Knit, events: StartEvents, i: int, settle: float) -> tuple[float, float]:
    """Seconds beyond the settle time from the drop to the commit, and to the container's start."""
    src = knit.home.root.parent / "drops" / f"item-{i:03d}"
    src.mkdir(parents=True)
    (src / "x").write_text(str(i))
    t0 = time.time()
    os.rename(src, knit.home.inbox / src.name)
    sql = """SELECT d.knit_id, r.finished_ms FROM tag t JOIN data d ON d.knit_id = t.knit_id
             JOIN run r ON r.run_id = d.run_id WHERE t.key = 'name' AND t.value = ?"""
    deadline = time.monotonic() + 60
    while not (rows := knit.query(sql, (src.name,))):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{src.name} was not ingested; see {knit.home.daemon_log}")
        time.sleep(0.005)
    kid, committed_ms = rows[0]
    run_id = knit.run_of(kid)
    started = events.wait_for(lambda _i, a: a.get("knit.run") == run_id)
    return committed_ms / 1000 - t0 - settle, started - t0 - settle


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks watch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=50, help="items dropped, one at a time (default 50)")
    parser.add_argument("--settle", type=float, default=1.0, help="the watch rule's settle time in seconds (default 1)")
    parser.add_argument("--image", default=os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1"))
    args, _ = parser.parse_known_args(argv)

    import docker
    import yaml

    client = docker.from_env()
    client.images.get(args.image)
    work = WORK / "watch"
    force_rmtree(work)
    work.mkdir(parents=True)
    config = work / "config.yaml"
    home = work / "home"
    config.write_text(yaml.safe_dump({"watch": [{"path": str(home / "inbox"), "tags": ["kind:bench"],
                                                  "settle": args.settle}]}))
    saved = {k: os.environ.get(k) for k in ("KNIT_CONFIG", "KNIT_HOME")}
    os.environ["KNIT_CONFIG"] = str(config)
    events = StartEvents(client)
    knit = Knit(home, args.image, 2)
    committed, running, bare = [], [], []
    try:
        bare_start(args.image, events, "warmup")
        drop_once(knit, events, 0, args.settle)
        for i in range(1, args.drops + 1):
            c, r = drop_once(knit, events, i, args.settle)
            committed.append(c)
            running.append(r)
            bare.append(bare_start(args.image, events, f"watch{i}"))
            log(f"drop {i}/{args.drops}: committed +{c * 1000:.0f} ms, running +{r * 1000:.0f} ms beyond the settle time; "
                f"bare docker run {bare[-1] * 1000:.0f} ms")
    finally:
        events.close()
        knit.close(client)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        force_rmtree(work)
    ms = lambda v, p: pct(v, p) * 1000  # noqa: E731
    head = f"watch: {args.drops} drops, settle {args.settle:g} s"
    return [
        f"{head}: drop → datum committed  p50 {ms(committed, 50):5.0f} ms  p95 {ms(committed, 95):5.0f} ms beyond the settle time",
        f"{head}: drop → container running p50 {ms(running, 50):5.0f} ms  p95 {ms(running, 95):5.0f} ms beyond the settle time | "
        f"bare docker run -d p50 {ms(bare, 50):4.0f} ms | {ms(running, 50) - ms(bare, 50):+.0f} ms p50 "
        f"(target ≤ +{TARGET_MS} ms) | ratio p50 {pct(running, 50) / pct(bare, 50):.2f}",
    ]
