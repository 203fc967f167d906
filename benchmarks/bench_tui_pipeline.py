"""The TUI's Pipeline screen on 200 plans: time to first paint, and what it spends it on.

A synthetic KNIT_HOME is built once under benchmarks/.work/ and reused: the TUI benchmark's catalog
(benchmarks/tui_catalog.py) with 50 plans and 100,000 runs, plus 150 plans applied through the
registry as a layered pipeline (6 layers of 25; a plan takes `stage:L part:P` and its output is
tagged `stage:L+1 part:(its index mod 10)`, so each plan is fed by two or three of the layer before):
200 plans, 100,000 runs to count by status, some 300 links.

Each round starts a fresh Python process that runs the app headless at 160×50 and reports:
  - first paint of the Pipeline screen opened directly (the app started in that mode), from the
    process's first line and from the app's construction (imports done);
  - the Runs screen's first paint in the same process, the reference the TUI's 1 s limit is about,
    then (once Runs has counted its rows) the time from pressing `4` to the Pipeline painted (the
    screen made, read and laid out);
  - the read (plans, run counts, shapes, links) and the layout alone, timed in the process.

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
LAYERS, WIDTH, PARTS = 6, 25, 10

CHILD = r"""
import time
T0 = time.perf_counter()
import asyncio, json, sys

from tui.app import KnitApp
from tui.screens.pipeline import PipelineScreen, read
from tui.pipeline_layout import layout
T1 = time.perf_counter()
result = {}

async def ready(pilot, app, kind):
    while not (type(app.screen).__name__ == kind and getattr(app.screen, "ready", False)):
        await pilot.pause(0.001)
    await pilot.pause()

if sys.argv[2] == "direct":
    KnitApp.DEFAULT_MODE = "pipeline"
    app = KnitApp(sys.argv[1], context="local", watch_knitd=False)

    async def auto(pilot):
        await ready(pilot, app, "PipelineScreen")
        t = time.perf_counter()
        cv = app.screen.graph.canvas
        result.update(first_paint_process=t - T0, first_paint_app=t - T1, plans=len(cv.boxes), links=len(cv.links),
                      layers=len(cv.columns), canvas=[cv.width, cv.height])
        t = time.perf_counter()
        boxes, links = read(app.session)
        t2 = time.perf_counter()
        layout(boxes, links)
        result.update(read=t2 - t, layout=time.perf_counter() - t2)
        app.exit()
else:
    app = KnitApp(sys.argv[1], context="local", watch_knitd=False)

    async def auto(pilot):
        await ready(pilot, app, "RunsScreen")
        result.update(runs_first_paint_process=time.perf_counter() - T0)
        while app.screen.table.total is None:      # the Runs screen counts its rows after its first paint
            await pilot.pause(0.001)
        await pilot.pause()
        t = time.perf_counter()
        await pilot.press("4")
        await ready(pilot, app, "PipelineScreen")
        result.update(switch=time.perf_counter() - t)
        app.exit()

app.run(headless=True, size=(160, 50), auto_pilot=auto)
print(json.dumps(result))
"""


def log(text: str) -> None:
    print(f"  tui_pipeline: {text}", file=sys.stderr, flush=True)


def pipeline_docs() -> list[dict]:
    docs = []
    for layer in range(LAYERS):
        for i in range(WIDTH):
            ins = [f"stage:{layer}", f"part:{i % PARTS}"] if layer else ["stage:0", f"part:{i % PARTS}", "pipeline:source"]
            docs.append({
                "image": "knit/python:3.11",
                "args": ["step.py", f"--layer={layer}", f"--index={i}"],
                "inputs": [{"path": "/in", "tags": ins}],
                "outputs": [{"path": "/out", "tags": [f"stage:{layer + 1}", f"part:{(i * 3 + layer) % PARTS}"]}],
            })
    return docs


def catalog(runs: int) -> Path:
    import shutil

    import yaml

    from knitctl.home import Home
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan
    from knitctl.session import Session

    from .tui_catalog import build

    root = WORK / f"tui-pipeline-{runs}"
    home = root / "home"
    if not (root / "complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        log(f"building a catalog of 50 plans and {runs:,} runs, then {LAYERS * WIDTH} pipeline plans (once; kept in {root})")
        started = time.perf_counter()
        build(home, runs=runs)
        session = Session.open(Home.resolve(home), reclaim=False)
        try:
            for n, doc in enumerate(pipeline_docs()):
                registry.apply(session, parse_plan(yaml.safe_dump(doc), f"pipeline-{n}.yaml"))
        finally:
            session.close()
        (root / "complete").write_text("ok\n")
        log(f"built in {time.perf_counter() - started:.1f} s")
    return home


def one_round(home: Path, how: str) -> dict:
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", CHILD, str(home), how], capture_output=True, text=True, cwd=repo,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the TUI process failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(argv: list[str]) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks tui_pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    args, _ = p.parse_known_args(argv)
    home = catalog(args.runs)
    direct, switch = [], []
    for i in range(args.rounds):
        d = one_round(home, "direct")
        s = one_round(home, "switch")
        log(f"round {i + 1}: Pipeline first paint {d['first_paint_process'] * 1000:.0f} ms from process start "
            f"({d['first_paint_app'] * 1000:.0f} ms from the app); Runs {s['runs_first_paint_process'] * 1000:.0f} ms; "
            f"key 4 → painted {s['switch'] * 1000:.0f} ms; read {d['read'] * 1000:.0f} ms, layout {d['layout'] * 1000:.0f} ms")
        direct.append(d)
        switch.append(s)
    med = statistics.median
    first = direct[0]
    proc = med(r["first_paint_process"] for r in direct)
    runs = med(r["runs_first_paint_process"] for r in switch)
    return [
        f"Pipeline first paint with {first['plans']} plans, {first['links']} links in {first['layers']} layers "
        f"({args.runs:,} runs counted; canvas {first['canvas'][0]}×{first['canvas'][1]} cells), from process start: "
        f"median {proc * 1000:.0f} ms = {proc / LIMIT_S:.2f}× the TUI's 1 s limit, {proc / runs:.2f}× the Runs "
        f"screen's first paint on the same catalog ({runs * 1000:.0f} ms)",
        f"from the app's construction (imports done): median {med(r['first_paint_app'] for r in direct) * 1000:.0f} ms; "
        f"pressing 4 in a running app to the Pipeline painted: median {med(r['switch'] for r in switch) * 1000:.0f} ms",
        f"of which the read (plans, run counts, shapes, links) median {med(r['read'] for r in direct) * 1000:.0f} ms "
        f"and the layout median {med(r['layout'] for r in direct) * 1000:.0f} ms",
    ]
