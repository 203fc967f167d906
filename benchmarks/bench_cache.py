"""Reuse (a plan's `cache: true`): a cached run from push to `done`, against a real run's container start.

docs/ARCHITECTURE.md#benchmarks: a run whose inputs have the same content as a done run's of the same plan
ends `done`, with that run's outputs hard-linked, within 50 ms of the push that made it.

Each sample (`--runs`, default 20, one at a time on an idle knitd with parallelism 2): push a new small
directory (library push, what a watched folder does) that a plan with cache on takes; its run executes in a
container (`cp -r /in/. /out/`, with a log); the figure taken is push → the container's `start` event (Docker's
clock), and push → `done`. Then push the same content again under another tag: its run is cached; the figure is
push → the run's `finished_ms` (knitd's clock, the same host), and push → knitd claiming it. The reference is
a bare `docker run -d IMAGE true` from launch to its start event, interleaved. p50 and p95 of each, and the
bytes the cached runs added to the store (each inode counted once: must be 0).

knitd runs as a background process on a fresh KNIT_HOME under benchmarks/.work/cache, removed afterwards with
its containers. Needs dockerd and the image (default knit/busybox:1, from packaging/images/build.sh).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .bench_ingest import force_rmtree
from .bench_runs import BENCH_LABEL, WORK, StartEvents, bare_start, pct, remove_quietly

TARGET_MS = 50


def log(text: str) -> None:
    print(f"  cache: {text}", file=sys.stderr, flush=True)


class Knit:
    """A fresh KNIT_HOME with knitd running and a plan with cache on taking `kind:bench`."""

    def __init__(self, root: Path, image: str):
        from knitctl import knitd
        from knitctl.home import Home
        from knitctl.plans import registry
        from knitctl.plans.spec import parse_plan
        from knitctl.session import Session

        force_rmtree(root)
        self.home = Home.resolve(root)
        self.session = Session.open(self.home)
        spec = parse_plan(
            f"image: {image}\nargs: [sh, -c, 'cp -r /in/. /out/ && echo copied']\ncache: true\n"
            "inputs: [{path: /in, tags: ['kind:bench']}]\noutputs: [{path: /out, tags: ['kind:copy']}]\n"
            "log: {tags: ['kind:log']}\n", "bench-cache-plan.yaml")
        self.plan_id = registry.apply(self.session, spec).plan.plan_id
        os.environ["KNIT_HOME"] = str(self.home.root)
        self.pid = knitd.start(self.home, ["--parallelism", "2"])
        self.n = 0

    def source(self, content: str) -> Path:
        self.n += 1
        d = self.home.root.parent / "src" / f"d{self.n:05d}"
        d.mkdir(parents=True)
        (d / "x").write_text(content)
        (d / "weights.bin").write_bytes(content.encode() * 4096)
        return d

    def push(self, src: Path, name: str) -> str:
        from knitctl import data

        return data.push(self.session, [src], ["kind:bench", f"name:{name}"])[0].knit_id

    def run_of(self, knit_id: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.session.catalog.query("SELECT run_id FROM run WHERE plan_id = ? AND assignment = ?",
                                              (self.plan_id, f"/in={knit_id}"))
            if rows:
                return rows[0][0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no run for datum {knit_id}")
            time.sleep(0.002)

    def wait_done(self, run_id: str, timeout: float = 60.0) -> tuple[int, int | None]:
        """(finished_ms, when knitd claimed it in ms) once the run is done."""
        deadline = time.monotonic() + timeout
        while True:
            status, finished = self.session.catalog.query(
                "SELECT status, finished_ms FROM run WHERE run_id = ?", (run_id,))[0]
            if status == "done":
                claimed = self.session.catalog.query(
                    "SELECT min(at_ms) FROM run_history WHERE run_id = ? AND status = 'ready'", (run_id,))[0][0]
                return finished, claimed
            if status in ("failed", "invalidated"):
                raise RuntimeError(f"bench run {run_id} {status}; see {self.home.daemon_log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} not done after {timeout}s ({status})")
            time.sleep(0.002)

    def reused(self, run_id: str) -> str | None:
        rows = self.session.catalog.query("SELECT reused_run FROM run_cache WHERE run_id = ?", (run_id,))
        return rows[0][0] if rows else None

    def store_bytes(self) -> int:
        seen, total = set(), 0
        for root, _dirs, files in os.walk(self.home.data):
            for f in files:
                st = os.lstat(os.path.join(root, f))
                if st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
        return total

    def close(self, client) -> None:
        from knitctl import knitd

        try:
            knitd.stop(self.home)
        finally:
            self.session.close()
            for c in client.api.containers(all=True, filters={"label": f"knit.home={self.home.root}"}):
                remove_quietly(client, c["Id"])


def sample(knit: Knit, events: StartEvents, i: int) -> dict[str, float]:
    content = f"sample-{i}-{time.time_ns()}"
    out: dict[str, float] = {}
    # a real run: new content
    src = knit.source(content)
    t0 = time.time()
    real = knit.run_of(knit.push(src, f"real{i}"))
    out["real_start"] = events.wait_for(lambda _i, a: a.get("knit.run") == real) - t0
    finished, _ = knit.wait_done(real)
    out["real_done"] = finished / 1000 - t0
    # the same content again: cached
    src = knit.source(content)
    before = knit.store_bytes()
    t0 = time.time()
    kid = knit.push(src, f"again{i}")
    pushed = time.time()
    cached = knit.run_of(kid)
    finished, claimed = knit.wait_done(cached)
    if knit.reused(cached) != real:
        raise RuntimeError(f"run {cached} was not cached from {real}; see {knit.home.daemon_log}")
    out["cached_done"] = finished / 1000 - t0
    out["cached_claimed"] = (claimed or finished) / 1000 - t0
    out["push"] = pushed - t0
    out["after_push"] = finished / 1000 - pushed
    out["added"] = knit.store_bytes() - before - (sum(p.stat().st_size for p in src.iterdir()) if src.exists() else 0)
    return out


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="samples (default 20)")
    parser.add_argument("--image", default=os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1"),
                        help="image with sh and cp (default knit/busybox:1)")
    args, _ = parser.parse_known_args(argv)

    import docker

    client = docker.from_env()
    client.images.get(args.image)
    work = WORK / "cache"
    force_rmtree(work)
    events = StartEvents(client)
    old_home = os.environ.get("KNIT_HOME")
    knit = Knit(work / "home", args.image)
    lines: list[str] = []
    try:
        log(f"knitd pid {knit.pid}, image {args.image}")
        bare_start(args.image, events, "warmup")
        sample(knit, events, -1)
        got: dict[str, list[float]] = {}
        bare: list[float] = []
        for i in range(args.runs):
            bare.append(bare_start(args.image, events, f"cache{i}"))
            for k, v in sample(knit, events, i).items():
                got.setdefault(k, []).append(v)
            log(f"{i + 1}/{args.runs}: cached push → done {got['cached_done'][-1] * 1000:.0f} ms, real push → "
                f"container start {got['real_start'][-1] * 1000:.0f} ms, bare docker run {bare[-1] * 1000:.0f} ms")

        def ms(key: str, p: float) -> float:
            return pct(got[key], p) * 1000

        b50, b95 = pct(bare, 50) * 1000, pct(bare, 95) * 1000
        c50, c95 = ms("cached_done", 50), ms("cached_done", 95)
        lines += [
            f"cached run: push → done                  p50 {c50:5.1f} ms  p95 {c95:5.1f} ms (target < {TARGET_MS} ms)",
            f"  the push itself (copy, hash, syncfs)    p50 {ms('push', 50):5.1f} ms  p95 {ms('push', 95):5.1f} ms",
            f"  push committed → done (knitd's part)    p50 {ms('after_push', 50):5.1f} ms  p95 {ms('after_push', 95):5.1f} ms"
            f"; push → knitd claims it p50 {ms('cached_claimed', 50):5.1f} ms",
            f"real run:   push → container started     p50 {ms('real_start', 50):5.0f} ms  p95 {ms('real_start', 95):5.0f} ms"
            f" | ratio cached done / real start p50 {c50 / ms('real_start', 50):4.2f}",
            f"real run:   push → done                  p50 {ms('real_done', 50):5.0f} ms  p95 {ms('real_done', 95):5.0f} ms"
            f" | ratio cached / real p50 {c50 / ms('real_done', 50):4.2f}",
            f"bare docker run -d → container started   p50 {b50:5.0f} ms  p95 {b95:5.0f} ms",
            f"bytes the {args.runs} cached runs added to the store: {int(sum(got['added']))} (each inode once)",
        ]
        load = os.getloadavg()[0]
        lines = [f"{line} [load {load:.1f} on {os.cpu_count()} cpus]" for line in lines]
    finally:
        events.close()
        knit.close(client)
        for c in client.api.containers(all=True, filters={"label": BENCH_LABEL}):
            remove_quietly(client, c["Id"])
        if old_home is None:
            os.environ.pop("KNIT_HOME", None)
        else:
            os.environ["KNIT_HOME"] = old_home
        force_rmtree(work)
        if WORK.exists() and not any(WORK.iterdir()):
            WORK.rmdir()
    return lines
