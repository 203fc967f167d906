"""The TUI on 100,000 runs: time to first paint of the Runs screen, and memory.

docs/ARCHITECTURE.md#benchmarks: the TUI opens on 100,000 runs in < 1 s.

A synthetic KNIT_HOME (benchmarks/tui_catalog.py: 50 plans, 2,000 uploads,
100,000 runs with inputs and outputs, ~110 MB of catalog) is built once under
benchmarks/.work/ and reused. Each round starts a fresh Python process that
imports the app and runs it headless at 160×50; "first paint" is from the
process's first line (before any import) to the Runs screen mounted with its
first page and the screen composited once — and, separately, from the app's
construction (imports done) to the same point. The process then reports its
resident memory (VmRSS) after the first paint and after paging through 2,000
more rows, and its peak (VmHWM).

Options: --runs N (default 100000), --rounds N (default 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
LIMIT_S = 1.0

CHILD = r"""
import time
T0 = time.perf_counter()
import asyncio, json, sys

def rss():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) * 1024
    return out

from tui.app import KnitApp
T1 = time.perf_counter()
app = KnitApp(sys.argv[1], context="local", watch_knitd=False)
result = {}

async def auto(pilot):
    screen = app.screen
    while not getattr(screen, "ready", False):
        await pilot.pause(0.001)
        screen = app.screen
    await pilot.pause()
    t = time.perf_counter()
    result.update(first_paint_process=t - T0, first_paint_app=t - T1, rows=len(screen.table.keys),
                  pages=screen.table.pages_loaded, rss_first=rss()["VmRSS"])
    for _ in range(20):
        await pilot.press("end")
    await pilot.pause()
    result.update(rows_after=len(screen.table.keys), rss_after=rss()["VmRSS"], hwm=rss()["VmHWM"])
    app.exit()

app.run(headless=True, size=(160, 50), auto_pilot=auto)
print(json.dumps(result))
"""


def log(text: str) -> None:
    print(f"  tui: {text}", file=sys.stderr, flush=True)


def catalog(runs: int) -> Path:
    from .tui_catalog import build

    root = WORK / f"tui-{runs}"
    home = root / "home"
    if not (root / "complete").exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        log(f"building a catalog of {runs:,} runs (once; kept in {root})")
        started = time.perf_counter()
        build(home, runs=runs)
        (root / "complete").write_text("ok\n")
        log(f"built in {time.perf_counter() - started:.1f} s")
    return home


def one_round(home: Path) -> dict:
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", CHILD, str(home)], capture_output=True, text=True, cwd=repo,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the TUI process failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(argv: list[str]) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks tui", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    args, _ = p.parse_known_args(argv)
    home = catalog(args.runs)
    size_mb = (home / "catalog.db").stat().st_size / 2**20
    results = []
    for i in range(args.rounds):
        r = one_round(home)
        log(f"round {i + 1}: first paint {r['first_paint_process'] * 1000:.0f} ms from process start, "
            f"{r['first_paint_app'] * 1000:.0f} ms from the app; RSS {r['rss_first'] / 2**20:.0f} MiB")
        results.append(r)
    proc = statistics.median(r["first_paint_process"] for r in results)
    app = statistics.median(r["first_paint_app"] for r in results)
    best = min(r["first_paint_process"] for r in results)
    rss = statistics.median(r["rss_first"] for r in results) / 2**20
    rss_after = statistics.median(r["rss_after"] for r in results) / 2**20
    hwm = max(r["hwm"] for r in results) / 2**20
    rows_after = results[0]["rows_after"]
    return [
        f"first paint of Runs on {args.runs:,} runs ({size_mb:.0f} MB catalog), from process start: "
        f"median {proc * 1000:.0f} ms, best {best * 1000:.0f} ms = {proc / LIMIT_S:.2f}× the 1 s limit",
        f"first paint, from the app's construction (imports done): median {app * 1000:.0f} ms "
        f"= {app / LIMIT_S:.2f}× the limit; rows loaded: {results[0]['rows']} ({results[0]['pages']} page)",
        f"memory (RSS) of the TUI process: {rss:.0f} MiB after first paint; {rss_after:.0f} MiB with "
        f"{rows_after:,} rows loaded; peak {hwm:.0f} MiB",
    ]
