"""knitctl.metadata against ml-metadata 1.17.1 on the same workload and machine.

docs/ARCHITECTURE.md#benchmarks: `put_execution` at least 5x and a filtered listing of ~100k
matches at least 30x faster than ml-metadata; lineage 20 hops under 0.5 ms.

The workload, on fresh SQLite files under benchmarks/.work/ (read-write-create,
the libraries' defaults otherwise). Each step runs in a fresh process, and the
two implementations take turns step by step, so both meet the same machine load:
1. `put_artifacts`: 10,000 artifacts (two properties each) in calls of 100.
2. `put_execution`: 10,000 calls, each one execution with one input and one
   output artifact, growing 100 chains to 100 steps (step by step across the
   chains); the input is the previous call's output, passed back as stored.
3. `get_lineage_subgraph` upstream 20 hops from the last output of a chain
   (median of 200 calls after 20 to warm up; the best is shown too).
4. `get_artifacts_by_type` over a type with 100,000 artifacts.
5. `get_artifacts` with `filter_query="properties.day.int_value >= 5000"` over
   those 100,000: 95,000 matches.
Steps 4 and 5 are the best of `--repeat` runs (default 3, for both; ml-metadata
takes ~40 s or more for each run of step 5). Ratios are of wall time; the CPU-time ratio is shown
beside it (ml-metadata also waits on fsync, which costs it wall time only).

ml-metadata needs Python 3.11 and protobuf < 5: the benchmark makes its own
virtualenv (benchmarks/.work/mlmd-venv) and pip-installs `ml-metadata==1.17.1`
there. When that is impossible it says so and prints knit's own figures.
The same file is the worker: `python bench_metadata.py --impl knit|mlmd --db PATH`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
VENV = WORK / "mlmd-venv"
MLMD_REQ = ["ml-metadata==1.17.1", "protobuf<5"]

TARGETS = {"put_execution": 5.0, "filtered": 30.0}
LINEAGE_LIMIT_MS = 0.5


# -- the workload (runs in the worker process) ---------------------------------


def _store(ms, pb, path: str):
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = 3
    return ms.MetadataStore(config)


def _data_type(pb):
    t = pb.ArtifactType()
    t.name = "DataSet"
    t.properties["day"] = pb.INT
    t.properties["split"] = pb.STRING
    return t


class _Clock:
    """Wall and CPU time of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def _artifact(pb, tid, i, split="train"):
    a = pb.Artifact()
    a.type_id = tid
    a.uri = f"/data/{i}"
    a.properties["day"].int_value = i
    a.properties["split"].string_value = split
    return a


def step_put_artifacts(ms, pb, db: Path, n: int, **_) -> dict:
    store = _store(ms, pb, str(db / "artifacts.db"))
    tid = store.put_artifact_type(_data_type(pb))
    with _Clock() as t:
        for b in range(0, n, 100):
            store.put_artifacts([_artifact(pb, tid, i) for i in range(b, min(n, b + 100))])
    return {"seconds": t.wall, "cpu": t.cpu, "count": n, "check": len(store.get_artifacts_by_type("DataSet"))}


def step_put_execution(ms, pb, db: Path, chains: int, steps: int, **_) -> dict:
    """Chains of executions, each consuming the previous output, grown step by step across the chains."""
    store = _store(ms, pb, str(db / "lineage.db"))
    tid = store.put_artifact_type(_data_type(pb))
    et = pb.ExecutionType()
    et.name = "Step"
    et.properties["state"] = pb.STRING
    etid = store.put_execution_type(et)
    roots = [_artifact(pb, tid, c, "root") for c in range(chains)]
    for a, aid in zip(roots, store.put_artifacts(roots)):
        a.id = aid
    current = list(roots)
    with _Clock() as t:
        for step in range(1, steps + 1):
            for c in range(chains):
                ex = pb.Execution()
                ex.type_id = etid
                ex.last_known_state = pb.Execution.COMPLETE
                ex.properties["state"].string_value = "done"
                out_a = _artifact(pb, tid, step * chains + c)
                ev_in = pb.Event()
                ev_in.type = pb.Event.INPUT
                ev_out = pb.Event()
                ev_out.type = pb.Event.OUTPUT
                _, aids, _ = store.put_execution(ex, [(current[c], ev_in), (out_a, ev_out)], [])
                out_a.id = aids[1]
                current[c] = out_a
    (db / "chain_end.json").write_text(json.dumps(current[0].id))
    return {"seconds": t.wall, "cpu": t.cpu, "count": chains * steps}


def step_lineage(ms, pb, db: Path, **_) -> dict:
    store = _store(ms, pb, str(db / "lineage.db"))
    end = json.loads((db / "chain_end.json").read_text())
    Q = pb.LineageSubgraphQueryOptions
    q = Q()
    q.starting_artifacts.filter_query = f"id = {end}"
    q.max_num_hops = 20
    q.direction = Q.UPSTREAM
    for _ in range(20):  # warm up
        g = store.get_lineage_subgraph(q)
    walls, cpus = [], []
    for _ in range(200):
        with _Clock() as t:
            g = store.get_lineage_subgraph(q)
        walls.append(t.wall)
        cpus.append(t.cpu)
    return {"seconds": statistics.median(walls), "cpu": statistics.median(cpus), "best": min(walls), "count": 200,
            "check": [len(g.artifacts), len(g.executions), len(g.events)]}


def step_populate(ms, pb, db: Path, big: int, **_) -> dict:
    store = _store(ms, pb, str(db / "big.db"))
    tid = store.put_artifact_type(_data_type(pb))
    for b in range(0, big, 1000):
        store.put_artifacts([_artifact(pb, tid, i) for i in range(b, min(big, b + 1000))])
    return {}


def _best(f, repeat: int) -> tuple[float, float, int]:
    best = None
    for _ in range(repeat):
        with _Clock() as t:
            n = len(f())
        if best is None or t.wall < best[0]:
            best = (t.wall, t.cpu, n)
    return best


def step_by_type(ms, pb, db: Path, repeat: int, **_) -> dict:
    store = _store(ms, pb, str(db / "big.db"))
    wall, cpu, n = _best(lambda: store.get_artifacts_by_type("DataSet"), repeat)
    return {"seconds": wall, "cpu": cpu, "count": n}


def step_filtered(ms, pb, db: Path, big: int, repeat: int, **_) -> dict:
    store = _store(ms, pb, str(db / "big.db"))
    opts = ms.ListOptions(filter_query=f"properties.day.int_value >= {big // 20}")
    wall, cpu, n = _best(lambda: store.get_artifacts(opts), repeat)
    return {"seconds": wall, "cpu": cpu, "count": n}


STEPS = {
    "put_artifacts": step_put_artifacts,
    "put_execution": step_put_execution,
    "lineage": step_lineage,
    "populate": step_populate,
    "by_type": step_by_type,
    "filtered": step_filtered,
}


def worker(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=["knit", "mlmd"], required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--step", choices=list(STEPS), required=True)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args(argv)
    if a.impl == "knit":
        sys.path.insert(0, str(ROOT))
        from knitctl.metadata import metadata_store as ms
        from knitctl.metadata import metadata_store_pb2 as pb
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from ml_metadata.metadata_store import metadata_store as ms
        from ml_metadata.proto import metadata_store_pb2 as pb
    s = a.scale
    side = max(1, int(100 * s ** 0.5))
    result = STEPS[a.step](ms, pb, Path(a.db), n=int(10_000 * s), chains=side, steps=side, big=int(100_000 * s),
                           repeat=a.repeat)
    print("RESULT " + json.dumps(result), flush=True)


# -- the runner ----------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mlmd_python(explicit: str | None) -> tuple[str | None, str]:
    """The interpreter that has ml-metadata 1.17.1, making the virtualenv if needed; (None, why) if impossible."""
    if explicit:
        return explicit, ""
    py = VENV / "bin" / "python"
    check = [str(py), "-c", "import ml_metadata, sys; sys.exit(0 if ml_metadata.__version__ == '1.17.1' else 1)"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(py), ""
    base = shutil.which("python3.11")
    if base is None:
        return None, "ml-metadata 1.17.1 needs Python 3.11 and there is no python3.11 on PATH"
    _log(f"bench_metadata: making {VENV} with ml-metadata 1.17.1 (once)")
    WORK.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([base, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"could not create a virtualenv for ml-metadata: {r.stderr.strip()[-300:]}"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", *MLMD_REQ], capture_output=True, text=True)
    if r.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["unknown error"]
        return None, f"pip could not install {' '.join(MLMD_REQ)}: {tail[0]}"
    return str(py), ""


def run_step(python: str, impl: str, step: str, db: Path, scale: float, repeat: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
    r = subprocess.run(
        [python, str(Path(__file__)), "--impl", impl, "--db", str(db), "--step", step, "--scale", str(scale),
         "--repeat", str(repeat)],
        capture_output=True, text=True, cwd=str(ROOT), env=env,
    )
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the {impl} worker failed at {step} (exit {r.returncode}): {r.stderr.strip()[-800:]}")


def run_all(pythons: dict[str, str], scale: float, repeat: int) -> dict[str, dict]:
    """Every step for every implementation, alternating per step so both see the same machine load."""
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {impl: {} for impl in pythons}
    with tempfile.TemporaryDirectory(dir=WORK, prefix="metadata-") as d:
        dbs = {impl: Path(d) / impl for impl in pythons}
        for db in dbs.values():
            db.mkdir()
        for step in STEPS:
            for impl, python in pythons.items():
                _log(f"bench_metadata: {impl} {step}")
                out = run_step(python, impl, step, dbs[impl], scale, repeat)
                if out:
                    results[impl][step] = out
    return results


def _fmt_s(s: float) -> str:
    if s < 0.01:
        return f"{s * 1000:.3f} ms"
    return f"{s:.2f} s"


def report(knit: dict, mlmd: dict | None, why: str = "") -> list[str]:
    lines = []
    labels = {
        "put_artifacts": "put_artifacts, {count:,} artifacts in calls of 100",
        "put_execution": "put_execution, {count:,} calls (1 input + 1 output; chains)",
        "lineage": "get_lineage_subgraph upstream 20 hops (median of {count})",
        "by_type": "get_artifacts_by_type, {count:,} artifacts",
        "filtered": "get_artifacts filtered, {count:,} matches",
    }
    if mlmd is None:
        lines.append(f"metadata: ml-metadata not measured — {why}; knit's figures alone:")
    for key, label in labels.items():
        k = knit[key]
        text = f"metadata {label.format(**k)}: knit {_fmt_s(k['seconds'])}"
        if key in ("put_artifacts", "put_execution"):
            text += f" ({k['seconds'] / k['count'] * 1e6:.0f} µs each)"
        if key == "lineage":
            text += f" (best {_fmt_s(k['best'])})"
        if mlmd is not None:
            m = mlmd[key]
            ratio = m["seconds"] / k["seconds"] if k["seconds"] else float("inf")
            cpu = m["cpu"] / k["cpu"] if k.get("cpu") else float("inf")
            text += f", ml-metadata {_fmt_s(m['seconds'])}: {ratio:.1f}x faster (CPU time {cpu:.1f}x)"
            if key in TARGETS:
                text += f" (target ≥ {TARGETS[key]:.0f}x: {'met' if ratio >= TARGETS[key] else 'MISSED'})"
            if m.get("count") != k.get("count") or m.get("check") != k.get("check"):
                text += f" [results differ: knit {k.get('count')}/{k.get('check')}, ml-metadata {m.get('count')}/{m.get('check')}]"
        if key == "lineage":
            ms_ = k["seconds"] * 1000
            text += f" (limit {LINEAGE_LIMIT_MS} ms: {'met' if ms_ <= LINEAGE_LIMIT_MS else 'MISSED'})"
        lines.append(text)
    return lines


def run(argv: list[str]) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks metadata", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="shrink the workload (e.g. 0.1) for a quick look")
    p.add_argument("--repeat", type=int, default=3, help="runs of the 100k listings (the best is kept)")
    p.add_argument("--mlmd-python", help="an interpreter with ml-metadata 1.17.1 already installed")
    p.add_argument("--no-mlmd", action="store_true", help="measure knit only")
    a, _ = p.parse_known_args(argv)
    pythons = {"knit": sys.executable}
    why = "--no-mlmd given"
    if not a.no_mlmd:
        py, why = mlmd_python(a.mlmd_python)
        if py is not None:
            pythons["mlmd"] = py
    try:
        results = run_all(pythons, a.scale, a.repeat)
    except RuntimeError as e:
        if "mlmd" not in pythons or "the knit worker" in str(e):
            raise
        _log(f"bench_metadata: {e}")
        return report(run_all({"knit": sys.executable}, a.scale, a.repeat)["knit"], None, str(e).splitlines()[0])
    return report(results["knit"], results.get("mlmd"), why)


if __name__ == "__main__":
    if "--impl" in sys.argv:
        worker(sys.argv[1:])
    else:
        for line in run(sys.argv[1:]):
            print(line)
