"""`data compare` over 1,000 metrics data whose lineage is 5 runs deep (target < 1 s).

docs/ARCHITECTURE.md#benchmarks. A sweep as a real one leaves it: one dataset upload and, per row,
a params upload (params.json) feeding a chain of 5 plans' runs — stage 1 takes the params and the
dataset, each next stage the previous one's output (model.bin), the 5th writes metrics.json and is
tagged type:metrics. The catalog is written through knitctl.catalog.records (the rows knit's own
writers make: run, data, tags, their MLMD rows), the files straight into the store, under
benchmarks/.work/compare (built once, reused; --rebuild starts over).

Measured, best of --repeat, in this process: `comparison.compare(-t type:metrics)` — select the data,
walk each one's lineage 5 runs up, read metrics.json of every row and params.json of every params
upload (the places that differ), shape the table — plus sorting and the CSV text; against the
reference `data.find(-t type:metrics)` on the same catalog (selecting the same rows), as a ratio.
Then the whole command as a user runs it, `knitctl data compare -t type:metrics --sort accuracy --desc -o csv`,
a fresh process (answered by the fast path, without Typer), median of 5. CPU times are given beside
the wall-clock ones: on a shared machine they say what the work costs, apart from waiting for a core.

Options: --rows N (default 1000), --depth N (runs in each lineage, default 5), --repeat N (default 5), --rebuild.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work" / "compare"
TARGET_S = 1.0


def log(text: str) -> None:
    print(f"  compare: {text}", file=sys.stderr, flush=True)


def build(home: Path, rows: int, depth: int) -> None:
    """The sweep's catalog and store under `home` (see the module's docstring)."""
    import yaml

    from knitctl.catalog import records
    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan
    from knitctl.session import Session
    from knitctl.tags import Tag

    os.environ["KNIT_HOME"] = str(home)
    with Session.open() as s:
        plans = []
        for i in range(depth):
            inputs = [{"path": "/in/params", "tags": ["type:params"]}, {"path": "/in/data", "tags": ["type:dataset"]}] \
                if i == 0 else [{"path": "/in/prev", "tags": [f"stage:{i}"]}]
            out = ["type:metrics"] if i == depth - 1 else [f"stage:{i + 1}"]
            doc = {"image": "knit/busybox:1", "args": ["true"], "inputs": inputs, "outputs": [{"path": "/out", "tags": out}]}
            plans.append(registry.apply(s, parse_plan(yaml.safe_dump(doc), f"stage{i}.yaml")).plan.plan_id)

        def datum(c, run_id: str, path: str, tags: list[Tag], files: dict[str, str]) -> str:
            kid = records.insert_datum(c, run_id, path, tags, digest="sha256:bench", size=1, file_count=len(files))
            d = s.store.path_of(kid)
            d.mkdir()
            for name, text in files.items():
                (d / name).write_text(text)
            return kid

        with s.catalog.write() as c:
            up = records.insert_run(c, records.UPLOAD_PLAN, "done")
            dataset = datum(c, up, records.UPLOAD_PATH, [Tag("type", "dataset")], {"points.csv": "x,y\n1,2\n"})
            for n in range(rows):
                lr = round(0.0001 * (n + 1), 6)
                up = records.insert_run(c, records.UPLOAD_PLAN, "done")
                prev = datum(c, up, records.UPLOAD_PATH, [Tag("type", "params")],
                             {"params.json": json.dumps({"lr": lr, "batch": 32, "optimizer": {"name": "sgd"}})})
                for i, plan_id in enumerate(plans):
                    assignment = {"/in/params": prev, "/in/data": dataset} if i == 0 else {"/in/prev": prev}
                    run_id = records.insert_run(c, plan_id, "done", assignment=assignment)
                    last = i == len(plans) - 1
                    files = {"metrics.json": json.dumps({"accuracy": 0.9 - abs(lr - 0.05), "loss": {"final": lr * 3}})} \
                        if last else {"model.bin": "w" * 64}
                    prev = datum(c, run_id, "/out", [Tag("type", "metrics")] if last else [Tag("stage", str(i + 1))], files)
                if (n + 1) % 200 == 0:
                    log(f"{n + 1}/{rows} rows")


def best(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall-clock seconds, best CPU seconds of this process, the last result)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(times), min(cpu), out


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args, _ = parser.parse_known_args(argv)

    home = WORK / f"home-{args.rows}x{args.depth}"
    if args.rebuild or not (home / "catalog.db").exists():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        log(f"building {args.rows} metrics data, lineage {args.depth} runs deep, in {home} ...")
        t = time.perf_counter()
        build(home, args.rows, args.depth)
        log(f"built in {time.perf_counter() - t:.1f} s")
    os.environ["KNIT_HOME"] = str(home)

    from knitctl import compare as rules
    from knitctl import comparison
    from knitctl import data as data_api
    from knitctl.session import Session

    with Session.open() as s:
        ref_s, _, found = best(lambda: data_api.find(s, ["type:metrics"]), args.repeat)

        def whole():
            table = rules.sort(comparison.compare(s, tags=["type:metrics"]), "-accuracy")
            return table, rules.csv_text(table)

        cmp_s, cmp_cpu, (table, _) = best(whole, args.repeat)
    assert len(found) == args.rows and len(table.rows) == args.rows, (len(found), len(table.rows))
    names = [c.name for c in table.columns]
    assert "params/lr" in names and "accuracy" in names, names
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    cmd = [sys.executable, "-m", "knitctl", "data", "compare", "-t", "type:metrics", "--sort", "accuracy", "--desc", "-o", "csv"]
    cli_times, cli_cpu = [], []
    subprocess.run(cmd, env=env, capture_output=True)    # warm-up: the fast path's cached description, bytecode
    for _ in range(5):
        t, before = time.perf_counter(), os.times()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        after = os.times()
        cli_times.append(time.perf_counter() - t)
        cli_cpu.append(after.children_user + after.children_system - before.children_user - before.children_system)
        assert p.returncode == 0 and len(p.stdout.splitlines()) == args.rows + 1, p.stderr
    cli_s = statistics.median(cli_times)
    load = os.getloadavg()[0]
    verdict = "met" if cmp_s < TARGET_S else "missed"
    where = f"[{args.rows} rows, lineage {args.depth} deep, {len(names)} columns, load {load:.1f} on {os.cpu_count()} cpus]"
    return [
        f"data compare (library)   best {cmp_s * 1000:7.1f} ms (CPU {cmp_cpu * 1000:.1f} ms) | target < {TARGET_S * 1000:.0f} ms: "
        f"{verdict} | ratio to data find of the same rows ({ref_s * 1000:.1f} ms): {cmp_s / ref_s:5.1f} {where}",
        f"knitctl data compare     median {cli_s * 1000:7.1f} ms (CPU {statistics.median(cli_cpu) * 1000:.1f} ms; a fresh "
        f"process, -o csv, sorted) | target < {TARGET_S * 1000:.0f} ms: {'met' if cli_s < TARGET_S else 'missed'} {where}",
    ]
