"""knitctl.metadata over gRPC (`knitctl metadata serve`) against in-process, and ml-metadata 1.17.1 in-process.

The workload is bench_metadata's (same step functions, same SQLite files under benchmarks/.work/):
1. `put_execution`: 10,000 calls, one execution with one input and one output artifact each,
   growing 100 chains to 100 steps.
2. `get_artifacts` with `filter_query="properties.day.int_value >= 5000"` over 100,000 artifacts:
   95,000 matches (best of `--repeat`, default 1).
Four ways, taking turns step by step so all meet the same machine load:
- knit in-process (a MetadataStore on the SQLite file);
- knit over gRPC: knit's client, `MetadataStore(MetadataStoreClientConfig(...))`, to a
  `knitctl metadata serve --sqlite FILE` on 127.0.0.1 (a server per file, started here);
- ml-metadata 1.17.1 in-process (its C++ library);
- ml-metadata's own client over gRPC to the same kind of knit server.
Listings over gRPC come in pages of 100 (the page size of ml-metadata's client and server).
Ratios are of wall time; client and server share the machine's cores.

ml-metadata needs its own virtualenv (made by bench_metadata, benchmarks/.work/mlmd-venv); without
it the two knit figures are printed alone. The same file is the worker:
`python bench_metadata_grpc.py --impl knit|mlmd --db DIR --step STEP [--ports JSON]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
STEPS = ("put_execution", "populate", "filtered")
FILES = {"put_execution": "lineage.db", "populate": "big.db", "filtered": "big.db"}
# name -> (interpreter kind, over gRPC)
IMPLS = {"knit": ("knit", False), "knit-grpc": ("knit", True), "mlmd": ("mlmd", False), "mlmd-grpc": ("mlmd", True)}


# -- the worker ------------------------------------------------------------------------------------


def worker(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=["knit", "mlmd"], required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--step", choices=STEPS, required=True)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--ports", default="{}", help="SQLite file name -> the port of a server serving it")
    a = p.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import bench_metadata as bm

    ports = json.loads(a.ports)
    if ports:  # the steps open "<db>/<file>": a client of the server serving that file instead
        def grpc_store(ms, pb, path):
            return ms.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=ports[Path(path).name]))

        bm._store = grpc_store
    bm.worker(["--impl", a.impl, "--db", a.db, "--step", a.step, "--scale", str(a.scale), "--repeat", str(a.repeat)])


# -- the runner ------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


_LISTENING = re.compile(r"on 127\.0\.0\.1:(\d+) ")


def start_server(db: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from knitctl.cli.main import run; run()", "metadata", "serve", "--sqlite", str(db),
         "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT), KNIT_HOME=str(db.parent / "home")),
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([proc.stderr], [], [], deadline - time.monotonic())[0]:
            break
        line = proc.stderr.readline()
        if not line:
            break
        found = _LISTENING.search(line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    raise RuntimeError(f"knitctl metadata serve did not start for {db}")


def run_step(python: str, impl: str, step: str, db: Path, scale: float, repeat: int, ports: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
    r = subprocess.run(
        [python, str(Path(__file__)), "--impl", impl, "--db", str(db), "--step", step, "--scale", str(scale),
         "--repeat", str(repeat), "--ports", json.dumps(ports)],
        capture_output=True, text=True, cwd=str(ROOT), env=env,
    )
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the {impl} worker failed at {step} (exit {r.returncode}): {r.stderr.strip()[-800:]}")


def run_all(pythons: dict[str, str], scale: float, repeat: int, steps: tuple[str, ...] = STEPS) -> dict[str, dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(dir=WORK, prefix="metadata-grpc-") as d:
        plan: dict[str, tuple[str, Path, dict]] = {}
        for name, (kind, grpc) in IMPLS.items():
            if kind not in pythons:
                continue
            db = Path(d) / name
            db.mkdir()
            ports: dict[str, int] = {}
            if grpc:
                for f in sorted(set(FILES.values())):
                    proc, ports[f] = start_server(db / f)
                    servers.append(proc)
            plan[name] = (kind, db, ports)
            results[name] = {}
        try:
            for step in steps:
                for name, (kind, db, ports) in plan.items():
                    _log(f"bench_metadata_grpc: {name} {step}")
                    out = run_step(pythons[kind], kind, step, db, scale, repeat, ports)
                    if out:
                        results[name][step] = out
        finally:
            for proc in servers:
                proc.send_signal(signal.SIGTERM)
            for proc in servers:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return results


def _ms(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def report(r: dict[str, dict], why: str = "") -> list[str]:
    lines = []
    if "mlmd" not in r:
        lines.append(f"metadata_grpc: ml-metadata not measured — {why}; knit's figures alone:")
    for step, label in (("put_execution", "put_execution, {count:,} calls"), ("filtered", "get_artifacts filtered, {count:,} matches")):
        if step not in r["knit"]:
            continue
        k, g = r["knit"][step], r["knit-grpc"][step]
        text = f"metadata_grpc {label.format(**k)}: knit in-process {_ms(k['seconds'])}"
        if step == "put_execution":
            text += f" ({k['seconds'] / k['count'] * 1e6:.0f} µs each)"
        text += f", over gRPC (knit's client) {_ms(g['seconds'])}: {g['seconds'] / k['seconds']:.1f}x in-process"
        if step == "put_execution":
            text += f" ({g['seconds'] / g['count'] * 1e6:.0f} µs each)"
        if "mlmd" in r:
            m = r["mlmd"][step]
            text += (f"; ml-metadata in-process {_ms(m['seconds'])}: knit over gRPC {m['seconds'] / g['seconds']:.1f}x "
                     f"faster (in-process {m['seconds'] / k['seconds']:.1f}x)")
            if "mlmd-grpc" in r:
                mg = r["mlmd-grpc"][step]
                text += f"; ml-metadata's client over gRPC to knit {_ms(mg['seconds'])} ({mg['seconds'] / k['seconds']:.1f}x in-process)"
        counts = {n: x[step].get("count") for n, x in r.items()}
        if len(set(counts.values())) != 1:
            text += f" [counts differ: {counts}]"
        lines.append(text)
    return lines


def run(argv: list[str]) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks metadata_grpc", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="shrink the workload (e.g. 0.1) for a quick look")
    p.add_argument("--repeat", type=int, default=1, help="runs of the filtered listing (the best is kept)")
    p.add_argument("--mlmd-python", help="an interpreter with ml-metadata 1.17.1 already installed")
    p.add_argument("--no-mlmd", action="store_true", help="measure knit only")
    p.add_argument("--only", choices=["put_execution", "filtered"], help="one of the two figures")
    a, _ = p.parse_known_args(argv)
    steps = STEPS if a.only is None else ("put_execution",) if a.only == "put_execution" else ("populate", "filtered")
    sys.path.insert(0, str(HERE))
    import bench_metadata

    pythons = {"knit": sys.executable}
    why = "--no-mlmd given"
    if not a.no_mlmd:
        py, why = bench_metadata.mlmd_python(a.mlmd_python)
        if py is not None:
            pythons["mlmd"] = py
    return report(run_all(pythons, a.scale, a.repeat, steps), why)


if __name__ == "__main__":
    if "--impl" in sys.argv:
        worker(sys.argv[1:])
    else:
        for line in run(sys.argv[1:]):
            print(line)
