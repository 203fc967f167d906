"""CLI one-liners on 10,000 data and runs against a bare `python -c "import sqlite3; …one query…"`.

docs/ARCHITECTURE.md#benchmarks: CLI one-liners answer in ≤ 100 ms.

A synthetic KNIT_HOME (benchmarks/tui_catalog.py: 50 plans, 200 uploads, 10,000 runs, each with
an output datum — 10,200 data and runs in all) is built once under benchmarks/.work/ and reused.
Each round starts every command as a fresh process, the way a shell does, output piped (so
listings print every row, tab-separated) and read to the end: `knitctl --help`, `data find`,
`run find`, `plan find`, `status`; and the reference, the same interpreter running
`import sqlite3` and one `SELECT count(*)` on the same catalog. The rounds interleave the
commands, so a busy moment of the machine falls on all of them; the figure is each one's median
over the rounds, in milliseconds and as a ratio to the reference's median.

Python's compiled bytecode is used as an installed package has it: the processes run without
PYTHONDONTWRITEBYTECODE, caching under benchmarks/.work/ (one warm-up round fills it).

Options: --runs N (rounds, default 20), --size N (runs in the catalog, default 10000), --compare DIR
(another checkout of knit, e.g. `git archive` of an older commit: its one-liners run in the same rounds,
with DIR first on PYTHONPATH, and each line says what they took there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
TARGET_MS = 100
COMMANDS = [["--help"], ["data", "find"], ["run", "find"], ["plan", "find"], ["status"]]


def log(text: str) -> None:
    print(f"  cli: {text}", file=sys.stderr, flush=True)


def knitctl() -> list[str]:
    """The installed console script beside this interpreter, or `python -m knitctl`."""
    script = Path(sys.executable).parent / "knitctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "knitctl"]


def catalog(size: int) -> Path:
    from .tui_catalog import build

    home = WORK / f"cli-home-{size}"
    if not (home / "catalog.db").exists():
        shutil.rmtree(home, ignore_errors=True)
        log(f"building a catalog of {size} runs in {home} ...")
        build(home, runs=size, plans=50)
    return home


def compare_catalog(tree: Path, size: int) -> Path:
    """The same synthetic catalog, built by the other checkout's own code (its schema may be older)."""
    home = WORK / f"cli-home-{size}-compare"
    shutil.rmtree(home, ignore_errors=True)
    log(f"building a catalog of {size} runs with {tree} ...")
    subprocess.run(
        [sys.executable, "-c", f"from pathlib import Path; from benchmarks.tui_catalog import build; build(Path({str(home)!r}), runs={size}, plans=50)"],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree.resolve())}, check=True,
    )
    return home


def timed(argv: list[str], env: dict) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, env=env)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    return took, r.stdout


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds (default 20)")
    parser.add_argument("--size", type=int, default=10_000, help="runs in the catalog (default 10000)")
    parser.add_argument("--compare", type=Path, help="another checkout of knit to time in the same rounds")
    args, _ = parser.parse_known_args(argv)

    home = catalog(args.size)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "NO_COLOR")}
    env.update(KNIT_HOME=str(home), PYTHONPYCACHEPREFIX=str(WORK / "pycache"), COLUMNS="120")
    ref = [sys.executable, "-c",
           f"import sqlite3; sqlite3.connect({str(home / 'catalog.db')!r}).execute('SELECT count(*) FROM run').fetchall()"]
    cli = knitctl()
    cases = {"bare python + sqlite3": (ref, env), **{"knitctl " + " ".join(c): (cli + c, env) for c in COMMANDS}}
    if args.compare:
        other = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(args.compare.resolve()), env.get("PYTHONPATH")])),
                 "XDG_CACHE_HOME": str(WORK / "compare-cache"), "KNIT_HOME": str(compare_catalog(args.compare, args.size))}
        cases.update({f"{name} @compare": (cmd, other) for name, (cmd, _) in list(cases.items())[1:]})
    for name, (cmd, e) in cases.items():  # warm-up: bytecode caches, the page cache; and a check that each works
        _, out = timed(cmd, e)
        _, out = timed(cmd, e)
        log(f"{name}: {len(out.splitlines())} lines of output")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(args.runs):
        for name, (cmd, e) in cases.items():
            times[name].append(timed(cmd, e)[0])
        log(f"round {i + 1}/{args.runs}: " + ", ".join(f"{t[-1] * 1000:.0f}" for t in times.values()) + " ms")
    base = statistics.median(times["bare python + sqlite3"]) * 1000
    load = os.getloadavg()[0]
    lines = []
    for name in cases:
        if name.endswith("@compare"):
            continue
        ms = statistics.median(times[name]) * 1000
        verdict = "" if name.startswith("bare") else f" | target ≤ {TARGET_MS} ms: {'met' if ms <= TARGET_MS else 'missed'}"
        was = times.get(f"{name} @compare")
        if was:
            w = statistics.median(was) * 1000
            verdict += f" | {args.compare.name}: {w:6.1f} ms, ratio {w / base:5.2f}"
        lines.append(f"{name:24} median {ms:6.1f} ms | ratio to bare {ms / base:5.2f} ({ms - base:+6.1f} ms){verdict}"
                     f" [{args.size} runs, {args.runs} rounds, load {load:.1f} on {os.cpu_count()} cpus]")
    return lines
