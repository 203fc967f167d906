"""Runs through knitd against bare `docker run`: push → container running, and 200 no-op runs.

docs/ARCHITECTURE.md#benchmarks: from a data push to the run's container being started, within 100 ms of what a bare
`docker run` of the same image takes, through the CLI too.

Latency: `--runs` times (default 20), one at a time on an idle daemon, a push of one small directory
whose tag a no-op plan takes; "container running" is Docker's `start` event of the run's container
(its timestamp, from dockerd's clock), minus the moment the push began. The push is made twice over:
through the library (`knitctl.data.push`, what a watched folder does) and through the `knitctl data
push` command (a fresh Python process each time, with compiled bytecode as an installed package has
it, and the CLI's description cache warmed by one push first). For each, where the time went: push →
knitd claims the run (its `ready` in the run's history), and for the CLI the process's own run time.
The reference is `docker run -d IMAGE true` from the
moment the command is launched to its container's `start` event, measured in the same benchmark,
interleaved. p50 and p95 of each.

Throughput: `--noop` no-op runs (default 200) end to end — one push of that many directories to the
last run's `done` — through knitd at `--parallelism` (default 4), against the same number of
`docker run --rm IMAGE true` run by as many parallel loops.

knitd runs as a background process (`knitctl up`'s code) on a fresh KNIT_HOME under
benchmarks/.work/runs, removed afterwards with its containers. Needs dockerd and the image
(default knit/busybox:1, from packaging/images/build.sh).
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .bench_ingest import force_rmtree

WORK = Path(__file__).resolve().parent / ".work"
TARGET_MS = 100
BENCH_LABEL = "knit.bench"


def log(text: str) -> None:
    print(f"  runs: {text}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


# -- Docker start events ------------------------------------------------------------------------


class StartEvents:
    """Docker `start` events of containers, as they come: container id and labels → seconds since epoch."""

    def __init__(self, client):
        self.client = client
        self.seen: list[tuple[float, str, dict]] = []
        self.cond = threading.Condition()
        self.stream = client.events(decode=True, filters={"type": "container", "event": "start"})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for ev in self.stream:
                at = ev.get("timeNano", ev.get("time", 0) * 1e9) / 1e9
                actor = ev.get("Actor") or {}
                with self.cond:
                    self.seen.append((at, actor.get("ID", ev.get("id", "")), actor.get("Attributes") or {}))
                    self.cond.notify_all()
        except Exception:  # noqa: BLE001 - the stream is closed at the end
            pass

    def wait_for(self, match, timeout: float = 60.0) -> float:
        """The time of the first start event whose (id, attributes) match."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, cid, attrs in self.seen:
                    if match(cid, attrs):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching container start event")
                self.cond.wait(left)

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # noqa: BLE001
            pass


# -- knit ----------------------------------------------------------------------------------------


class Knit:
    """A fresh KNIT_HOME with knitd running on it and a no-op plan taking `kind:bench`."""

    def __init__(self, root: Path, image: str, parallelism: int):
        from knitctl import knitd
        from knitctl.home import Home
        from knitctl.session import Session

        self.image = image
        force_rmtree(root)
        self.home = Home.resolve(root)
        self.session = Session.open(self.home)
        self.plan_id = self._apply_plan()
        os.environ["KNIT_HOME"] = str(self.home.root)
        self.pid = knitd.start(self.home, ["--parallelism", str(parallelism)])
        self.n = 0

    def _apply_plan(self) -> str:
        from knitctl.plans import registry
        from knitctl.plans.spec import parse_plan

        spec = parse_plan(
            f"image: {self.image}\nargs: [\"true\"]\ninputs: [{{path: /in, tags: [\"kind:bench\"]}}]\n", "bench-plan.yaml"
        )
        return registry.apply(self.session, spec).plan.plan_id

    def sources(self, n: int) -> list[Path]:
        out = []
        for _ in range(n):
            self.n += 1
            d = self.home.root.parent / "src" / f"d{self.n:05d}"
            d.mkdir(parents=True)
            (d / "x").write_text(str(self.n))
            out.append(d)
        return out

    def push(self, srcs: list[Path]) -> list[str]:
        from knitctl import data

        return [d.knit_id for d in data.push(self.session, srcs, ["kind:bench"])]

    def push_cli(self, src: Path) -> tuple[str, float]:
        """The new datum's id, and how long the `knitctl data push` process took."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(KNIT_HOME=str(self.home.root), PYTHONPYCACHEPREFIX=str(WORK / "pycache"))
        t0 = time.perf_counter()
        r = subprocess.run(
            [*knitctl(), "data", "push", "-t", "kind:bench", str(src), "-o", "json"],
            capture_output=True, text=True, check=True, env=env,
        )
        took = time.perf_counter() - t0
        import json

        return json.loads(r.stdout)[0]["knit_id"], took

    def query(self, sql: str, params=()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.home.catalog}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def run_of(self, knit_id: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        sql = """SELECT r.run_id FROM run r JOIN event e ON e.execution_id = r.execution_id AND e.type = 3
                 JOIN data d ON d.artifact_id = e.artifact_id WHERE d.knit_id = ? AND r.plan_id = ?"""
        while True:
            rows = self.query(sql, (knit_id, self.plan_id))
            if rows:
                return rows[0][0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no run for datum {knit_id}")
            time.sleep(0.005)

    def wait_done(self, count: int, timeout: float = 600.0) -> None:
        """Until `count` runs of the plan have ended (all must be done)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = dict(self.query("SELECT status, count(*) FROM run WHERE plan_id = ? GROUP BY status", (self.plan_id,)))
            if rows.get("failed"):
                raise RuntimeError(f"{rows['failed']} bench run(s) failed; see {self.home.daemon_log}")
            if rows.get("done", 0) >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs not done after {timeout}s: {rows}")
            time.sleep(0.01)

    def close(self, client) -> None:
        from knitctl import knitd

        try:
            knitd.stop(self.home)
        finally:
            self.session.close()
            for c in client.api.containers(all=True, filters={"label": f"knit.home={self.home.root}"}):
                remove_quietly(client, c["Id"])


def remove_quietly(client, container_id: str) -> None:
    """Remove a container, unless it is gone or going already (knitd removes its own as runs end)."""
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if e.status_code != 409:
            raise


# -- the measurements ---------------------------------------------------------------------------


def bare_start(image: str, events: StartEvents, tag: str) -> float:
    """Seconds from launching `docker run -d` to its container's start event."""
    t0 = time.time()
    cid = subprocess.run(
        ["docker", "run", "-d", "--label", f"{BENCH_LABEL}={tag}", image, "true"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    at = events.wait_for(lambda i, _a: i == cid)
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=True)
    return at - t0


def knit_start(knit: Knit, events: StartEvents, *, cli: bool) -> tuple[float, float, float | None]:
    """Seconds from the push's start to the run's container start event, to knitd claiming the run (`ready`),
    and the CLI process's run time (None through the library)."""
    (src,) = knit.sources(1)
    done_before = knit.query("SELECT count(*) FROM run WHERE plan_id = ? AND status = 'done'", (knit.plan_id,))[0][0]
    t0 = time.time()
    process = None
    if cli:
        kid, process = knit.push_cli(src)
    else:
        kid = knit.push([src])[0]
    run_id = knit.run_of(kid)
    at = events.wait_for(lambda _i, a: a.get("knit.run") == run_id)
    knit.wait_done(done_before + 1, timeout=60)  # idle again before the next one
    claimed_ms = knit.query("SELECT min(at_ms) FROM run_history WHERE run_id = ? AND status = 'ready'", (run_id,))[0][0]
    return at - t0, claimed_ms / 1000 - t0, process


def knitctl() -> list[str]:
    """The installed console script beside this interpreter, or `python -m knitctl`."""
    script = Path(sys.executable).parent / "knitctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "knitctl"]


def latency(knit: Knit, events: StartEvents, image: str, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"bare": [], "lib": [], "lib_started": [], "cli": [], "cli_started": [], "cli_process": []}
    bare_start(image, events, "warmup")
    knit_start(knit, events, cli=False)
    knit_start(knit, events, cli=True)
    for i in range(runs):
        out["bare"].append(bare_start(image, events, f"lat{i}"))
        a, b, _ = knit_start(knit, events, cli=False)
        out["lib"].append(a)
        out["lib_started"].append(b)
        a, b, c = knit_start(knit, events, cli=True)
        out["cli"].append(a)
        out["cli_started"].append(b)
        out["cli_process"].append(c)
        log(f"latency {i + 1}/{runs}: bare {out['bare'][-1] * 1000:.0f} ms, knit {out['lib'][-1] * 1000:.0f} ms, "
            f"knit via CLI {out['cli'][-1] * 1000:.0f} ms")
    return out


def throughput_bare(image: str, n: int, parallelism: int) -> float:
    left = iter(range(n))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            subprocess.run(["docker", "run", "--rm", "--label", f"{BENCH_LABEL}=noop", image, "true"],
                           capture_output=True, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        for f in [pool.submit(loop) for _ in range(parallelism)]:
            f.result()
    return time.perf_counter() - t0


def throughput_knit(knit: Knit, n: int) -> tuple[float, float]:
    """Seconds from the push of n directories to the n-th run done; and the push alone."""
    srcs = knit.sources(n)
    done_before = knit.query("SELECT count(*) FROM run WHERE plan_id = ? AND status = 'done'", (knit.plan_id,))[0][0]
    t0 = time.perf_counter()
    knit.push(srcs)
    pushed = time.perf_counter() - t0
    knit.wait_done(done_before + n)
    return time.perf_counter() - t0, pushed


# -- the benchmark ------------------------------------------------------------------------------


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="latency samples of each kind (default 20)")
    parser.add_argument("--noop", type=int, default=200, help="no-op runs for the throughput figure (default 200)")
    parser.add_argument("--parallelism", type=int, default=4, help="knitd's parallelism and the bare loops' (default 4)")
    parser.add_argument("--image", default=os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1"),
                        help="image with `true` (default knit/busybox:1)")
    parser.add_argument("--only", choices=("latency", "throughput"), help="measure just one of the two")
    args, _ = parser.parse_known_args(argv)

    import docker

    client = docker.from_env()
    client.images.get(args.image)  # fails clearly when it is missing
    work = WORK / "runs"
    force_rmtree(work)
    events = StartEvents(client)
    old_home = os.environ.get("KNIT_HOME")
    knit = Knit(work / "home", args.image, args.parallelism)
    lines: list[str] = []
    try:
        log(f"knitd pid {knit.pid}, parallelism {args.parallelism}, image {args.image}")
        if args.only in (None, "latency"):
            lat = latency(knit, events, args.image, args.runs)
            b50, b95 = pct(lat["bare"], 50) * 1000, pct(lat["bare"], 95) * 1000
            for key, what in (("lib", "push (library) → container running"), ("cli", "knitctl data push → container running")):
                k50, k95 = pct(lat[key], 50) * 1000, pct(lat[key], 95) * 1000
                lines.append(
                    f"{what:40} p50 {k50:5.0f} ms  p95 {k95:5.0f} ms | bare docker run -d "
                    f"p50 {b50:4.0f} ms  p95 {b95:4.0f} ms | ratio p50 {k50 / b50:4.2f}  p95 {k95 / b95:4.2f} | "
                    f"{k50 - b50:+.0f} ms p50, {k95 - b95:+.0f} ms p95 (target ≤ +{TARGET_MS} ms)"
                )
            for key, total, what in (("lib_started", "lib", "  library: push → knitd claims the run"),
                                     ("cli_started", "cli", "  CLI: push → knitd claims the run"),
                                     ("cli_process", "cli", "  CLI: the knitctl process, start to exit")):
                k50, k95 = pct(lat[key], 50) * 1000, pct(lat[key], 95) * 1000
                lines.append(
                    f"{what:40} p50 {k50:5.0f} ms  p95 {k95:5.0f} ms | "
                    f"share of the push → running p50 {k50 / (pct(lat[total], 50) * 1000):4.2f}"
                )
        if args.only in (None, "throughput"):
            log(f"{args.noop} no-op runs through knitd ...")
            t_knit, t_push = throughput_knit(knit, args.noop)
            log(f"{args.noop} bare docker run --rm, {args.parallelism} loops ...")
            t_bare = throughput_bare(args.image, args.noop, args.parallelism)
            lines.append(
                f"{args.noop} no-op runs, parallelism {args.parallelism}: knit {t_knit:6.1f} s ({args.noop / t_knit:5.1f} runs/s, "
                f"push {t_push:.2f} s) | bare docker run --rm loops {t_bare:6.1f} s ({args.noop / t_bare:5.1f} runs/s) | "
                f"ratio {t_knit / t_bare:4.2f}"
            )
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
