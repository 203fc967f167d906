"""`knitctl backup` of a home against `cp -a` of the same home.

The bar: a backup on the store's filesystem (hard links) takes less time than `cp -a` of the home;
`knitctl backup --copy` (every byte copied, then flushed) keeps within 1.25× the time of `cp -a; sync`.

The home is built under benchmarks/.work/ by copying pushes: by default 128 MiB in 1,000 files
(`--size`, `--files`; `--full` is the issue's 1 GiB in 8,000 files), in 8 data of equal file counts,
file sizes drawn around the mean. Each figure is the best of `--rounds`, interleaved; every timing
starts with nothing dirty (a `sync` first, not timed) and with the home in the page cache, as a
backup of a home in use finds it. The backups are the library's (`knitctl.backup.Backup`, what the
command runs); a third figure is `knitctl backup` as a user runs it, a new process whose start-up
(Python and the CLI's imports) is included. The references are `cp -a HOME DEST`, and
`cp -a HOME DEST; sync` for a copy as durable as a backup leaves it (flushed to disk).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .bench_ingest import GiB, MiB, filesystem_of, force_rmtree, human, parse_size

WORK = Path(__file__).resolve().parent / ".work" / "backup"
REPO = Path(__file__).resolve().parent.parent
DATA = 8
BAR_LINK = 1.0
BAR_COPY = 1.25


def log(text: str) -> None:
    print(f"  backup: {text}", file=sys.stderr, flush=True)


def build_home(home: Path, total: int, files: int, seed: int) -> tuple[int, int]:
    """A home holding `DATA` pushed data of `files` files and `total` bytes in all; (bytes, files)."""
    from knitctl import data as data_api
    from knitctl.home import Home
    from knitctl.session import Session

    rng = random.Random(seed)
    pool = rng.randbytes(16 * MiB)
    mean = max(1, total // files)
    sizes = [max(0, int(rng.expovariate(1 / mean))) for _ in range(files)]
    scale = total / max(1, sum(sizes))
    sizes = [min(len(pool), int(n * scale)) for n in sizes]
    src = WORK / "src"
    force_rmtree(src)
    written = 0
    with Session.open(Home.resolve(home)) as s:
        for d in range(DATA):
            force_rmtree(src)
            for i, n in enumerate(sizes[d::DATA]):
                p = src / f"dir{i // 100:03d}" / f"f{i:05d}.bin"
                p.parent.mkdir(parents=True, exist_ok=True)
                start = rng.randrange(0, len(pool) - n + 1)
                p.write_bytes(f"{d}/{i}\n".encode() + pool[start:start + n])
                written += n + len(f"{d}/{i}\n")
            data_api.push(s, [src], [f"bench:{d}"])
    force_rmtree(src)
    return written, files


def timed(fn: Callable[[], object]) -> float:
    os.sync()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def warm(home: Path) -> None:
    """Read every file of the home once (the page cache holds it, as for a home in use)."""
    subprocess.run(["tar", "-cf", "/dev/null", "-C", str(home), "."], check=True)


def run(argv: list[str]) -> list[str]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks backup", description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=128 * MiB, help="bytes in the home (default 128M)")
    ap.add_argument("--files", type=int, default=1000, help="files in the home (default 1000)")
    ap.add_argument("--full", action="store_true", help="the issue's size: 1 GiB in 8,000 files")
    ap.add_argument("--rounds", type=int, default=3, help="best of this many (default 3)")
    ap.add_argument("--seed", type=int, default=7)
    args, _ = ap.parse_known_args(argv)
    if args.full:
        args.size, args.files = 1 * GiB, 8000
    WORK.mkdir(parents=True, exist_ok=True)
    home, dest = WORK / "home", WORK / "dest"
    force_rmtree(home)
    log(f"building a home of {human(args.size)} in {args.files} files on {filesystem_of(WORK)}")
    size, files = build_home(home, args.size, args.files, args.seed)
    env = {**os.environ, "KNIT_HOME": str(home), "KNIT_CONFIG": str(WORK / "no-config.yaml"),
           "PYTHONPATH": str(REPO), "NO_COLOR": "1"}

    def knit_backup(*extra: str) -> Callable[[], object]:
        return lambda: subprocess.run([sys.executable, "-m", "knitctl", "backup", str(dest), *extra],
                                      env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def library(copy: bool) -> Callable[[], object]:
        def go() -> None:
            from knitctl.backup import Backup
            from knitctl.home import Home

            with Backup(Home.resolve(home), dest, copy=copy) as job:
                job.run()
        return go

    def cp(sync: bool) -> Callable[[], object]:
        def go() -> None:
            subprocess.run(["cp", "-a", str(home), str(dest)], check=True)
            if sync:
                os.sync()
        return go

    cases = {"backup": library(False), "backup --copy": library(True), "knitctl backup": knit_backup(),
             "cp -a": cp(False), "cp -a; sync": cp(True)}
    best: dict[str, float] = {}
    try:
        for r in range(args.rounds):
            for name, fn in cases.items():
                force_rmtree(dest)
                warm(home)
                t = timed(fn)
                best[name] = min(best.get(name, t), t)
                log(f"round {r + 1}: {name}: {t:.2f} s")
    finally:
        force_rmtree(dest)
        force_rmtree(home)
        with contextlib.suppress(OSError):
            WORK.rmdir()
    what = f"{human(size)} in {files} files, {DATA} data"
    link, copy = best["backup"] / best["cp -a"], best["backup --copy"] / best["cp -a; sync"]
    cli = best["knitctl backup"] / best["cp -a"]
    return [
        f"backup (hard links) of {what}: {best['backup']:.2f} s vs cp -a {best['cp -a']:.2f} s = {link:.2f}x "
        f"(bar < {BAR_LINK:.2f}x: {'ok' if link < BAR_LINK else 'MISSED'})",
        f"backup --copy of {what}: {best['backup --copy']:.2f} s vs cp -a; sync {best['cp -a; sync']:.2f} s = "
        f"{copy:.2f}x (bar <= {BAR_COPY:.2f}x: {'ok' if copy <= BAR_COPY else 'MISSED'})",
        f"the command, start-up included: knitctl backup {best['knitctl backup']:.2f} s vs cp -a = {cli:.2f}x",
    ]

if __name__ == "__main__":
    for line in run(sys.argv[1:]):
        print(line)
