"""`knitctl data push` against `cp -r`, and `push --move` at two sizes.

docs/ARCHITECTURE.md#benchmarks: a push that copies keeps at least 95% of the throughput of `cp -r; sync`; a
push that moves (same filesystem) takes constant time.

The source is a directory of mixed file sizes, by bytes: a quarter in many
small files (1–64 KiB), a third in some medium ones (1–8 MiB), the rest in a
few large ones (64–256 MiB, cut to fit smaller sizes). It is built under
benchmarks/.work/ — on the same filesystem as the store, so `--move` can be a
rename — and removed afterwards.

Copy: `cp -r` and a push of the same directory, interleaved, `--rounds`
times; the figures are medians, with the spread of the rounds (the machine is
shared: the spread is the noise to read them against). A push flushes what it
wrote to disk before it commits (syncfs); `cp -r` does not, so the reference is
given twice: `cp -r` alone, and `cp -r` followed by `sync` (the same durability
as a push). Every timing starts with nothing dirty (a `sync` first, not timed);
the source stays cached for both. Two sources: the mixed one, and one of many
small files only (1–64 KiB, an eighth of the size), where the work per file
dominates.

Move: `push --move` of the full directory and of one an eighth its size,
each put back where it was (not timed) for the next round; constant time
means the two take about the same.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
WORK = Path(__file__).resolve().parent / ".work"

# (share of the bytes, smallest file, largest file, folder)
MIX = [
    (0.25, 1 * KiB, 64 * KiB, "small"),
    (0.35, 1 * MiB, 8 * MiB, "medium"),
    (0.40, 64 * MiB, 256 * MiB, "large"),
]
SMALL_PER_DIR = 200
BAR_COPY = 0.95


def parse_size(text: str) -> int:
    """`1G`, `256M`, `64K`, `1.5G`, plain bytes; binary units (an optional `i`/`B` is accepted)."""
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": KiB, "M": MiB, "G": GiB, "T": 1 << 40}
    try:
        if s and s[-1] in units:
            return int(float(s[:-1]) * units[s[-1]])
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write it like 256M or 1G") from None


def human(n: float) -> str:
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB"
    return f"{n / KiB:.0f} KiB"


def log(text: str) -> None:
    print(f"  ingest: {text}", file=sys.stderr, flush=True)


# -- the source directory ------------------------------------------------------------


def plan_sizes(total: int, seed: int, mix: list[tuple[float, int, int, str]] = MIX) -> dict[str, list[int]]:
    rng = random.Random(seed)
    plan: dict[str, list[int]] = {}
    given = 0
    for k, (share, lo, hi, folder) in enumerate(mix):
        left = total - given if k == len(mix) - 1 else int(total * share)
        given += left
        sizes = []
        while left > 0:
            n = min(rng.randint(lo, hi), left)
            sizes.append(n)
            left -= n
        plan[folder] = sizes
    return plan


def build_tree(root: Path, total: int, seed: int, mix: list[tuple[float, int, int, str]] = MIX) -> tuple[int, int]:
    """Write the mixed directory (or one of another `mix`); returns (bytes, files)."""
    rng = random.Random(seed)
    pool = rng.randbytes(32 * MiB)  # file contents are slices of it, each file with its own header
    root.mkdir(parents=True)
    size = files = 0
    for folder, sizes in plan_sizes(total, seed, mix).items():
        for i, n in enumerate(sizes):
            d = root / folder / (f"d{i // SMALL_PER_DIR:03d}" if folder == "small" else "")
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"f{i:05d}.bin", "wb") as f:
                header = f"{folder}/{i}/{seed}\n".encode()[:n]
                f.write(header)
                left = n - len(header)
                while left > 0:
                    k = min(left, 8 * MiB)
                    start = rng.randrange(0, len(pool) - k + 1)
                    f.write(pool[start : start + k])
                    left -= k
            size += n
            files += 1
    return size, files


def force_rmtree(path: Path) -> None:
    """Remove a tree even where the store made it read-only."""
    if not path.exists():
        return
    make_writable(path)
    shutil.rmtree(path)


def build_fat(root: Path, like: Path, factor: int) -> tuple[int, int]:
    """The same tree as `like`, each file `factor` times as big: bytes grow, the file count doesn't."""
    size = files = 0
    for p in sorted(like.rglob("*")):
        out = root / p.relative_to(like)
        if p.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif p.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            chunk = p.read_bytes()
            out.write_bytes(chunk * factor)
            size += len(chunk) * factor
            files += 1
    return size, files


def make_writable(path: Path) -> None:
    os.chmod(path, 0o755)
    for dirpath, dirnames, filenames in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding path, from /proc/mounts (longest mount point that contains it)."""
    best, fstype = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                _, mnt, kind, *_ = line.split()
                mnt = mnt.replace("\\040", " ")
                if (str(path) == mnt or str(path).startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, kind
    except OSError:
        pass
    return fstype


# -- measuring ---------------------------------------------------------------------------


def cpu_seconds(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], object], cpu: list[float] | None = None) -> float:
    """Wall seconds of fn(); its CPU seconds (this process, every thread) appended to `cpu`."""
    os.sync()  # start with nothing dirty: earlier writes must not be paid for by this one
    c = cpu_seconds(resource.RUSAGE_SELF)
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    if cpu is not None:
        cpu.append(cpu_seconds(resource.RUSAGE_SELF) - c)
    return wall


def new_home(path: Path):
    """A fresh KNIT_HOME with its catalog created (not timed)."""
    from knitctl.home import Home
    from knitctl.session import Session

    force_rmtree(path)
    home = Home.resolve(path)
    Session.open(home).close()
    return home


def push(home, src: Path, *, move: bool):
    from knitctl import data
    from knitctl.session import Session

    with Session.open(home) as s:
        return data.push(s, [src], ["bench:x"], move=move)


def cp_r(src: Path, dst: Path) -> tuple[float, float, float]:
    """Times of `cp -r`, and of `cp -r; sync`; cp's CPU seconds."""
    os.sync()
    c = cpu_seconds(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    copied = time.perf_counter()
    os.sync()
    return copied - t, time.perf_counter() - t, cpu_seconds(resource.RUSAGE_CHILDREN) - c


def measure_copy(work: Path, src: Path, rounds: int) -> dict[str, list[float]]:
    """Each round's wall times, CPU seconds and push/(cp -r; sync) throughput ratio (the CPU is
    what a loaded machine rations; the ratio of one round compares runs that shared its load)."""
    runs: dict[str, list[float]] = {k: [] for k in ("cp", "cp+sync", "push", "cp cpu", "push cpu", "ratio")}
    dst, home_dir = work / "cp-copy", work / "home-copy"
    for r in range(rounds):
        force_rmtree(dst)
        t_cp, t_cp_sync, cpu_cp = cp_r(src, dst)
        runs["cp"].append(t_cp)
        runs["cp+sync"].append(t_cp_sync)
        runs["cp cpu"].append(cpu_cp)
        force_rmtree(dst)
        log(f"{src.name} round {r + 1}: cp -r {t_cp:.2f} s, with sync {t_cp_sync:.2f} s ({cpu_cp:.2f} s of CPU)")

        home = new_home(home_dir)
        cpu: list[float] = []
        t = timed(lambda home=home: push(home, src, move=False), cpu)
        runs["push"].append(t)
        runs["push cpu"].append(cpu[0])
        runs["ratio"].append(t_cp_sync / t)
        force_rmtree(home_dir)
        log(f"{src.name} round {r + 1}: push {t:.2f} s ({cpu[0]:.2f} s of CPU)")
    return runs


def spread(values: list[float]) -> str:
    """`median (min–max)`: the figure and the noise around it."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def copy_lines(head: str, size: int, runs: dict[str, list[float]]) -> list[str]:
    med = {k: statistics.median(v) for k, v in runs.items()}

    def rate(t: float) -> str:
        return f"{human(size / t)}/s"

    ratio_sync = med["cp+sync"] / med["push"]
    return [
        f"{head}: cp -r           {med['cp']:7.2f} s  {rate(med['cp']):>12}  reference (rounds {spread(runs['cp'])} s)",
        f"{head}: cp -r; sync     {med['cp+sync']:7.2f} s  {rate(med['cp+sync']):>12}  reference "
        f"(rounds {spread(runs['cp+sync'])} s)",
        f"{head}: push            {med['push']:7.2f} s  {rate(med['push']):>12}  "
        f"{ratio_sync:.2f}x the throughput of cp -r; sync (bar >= {BAR_COPY:.2f}: "
        f"{'met' if ratio_sync >= BAR_COPY else 'NOT met'}; rounds {spread(runs['push'])} s, "
        f"ratio within a round {spread(runs['ratio'])})",
        f"{head}: push            {med['push']:7.2f} s  {rate(med['push']):>12}  "
        f"{med['cp'] / med['push']:.2f}x the throughput of cp -r without sync",
        f"{head}: CPU used      push {med['push cpu']:6.2f} s, cp -r {med['cp cpu']:6.2f} s "
        "(user + system, medians; on a loaded machine the wall times follow these)",
    ]


def measure_move(work: Path, sources: list[Path], rounds: int) -> list[float]:
    """Best `push --move` time of each source; each is put back after every round."""
    best = [float("inf")] * len(sources)
    home_dir = work / "home-move"
    for r in range(rounds):
        for i, src in enumerate(sources):
            home = new_home(home_dir)
            pushed: list = []
            t = timed(lambda home=home, src=src, pushed=pushed: pushed.extend(push(home, src, move=True)))
            best[i] = min(best[i], t)
            stored = home.data / pushed[0].knit_id
            make_writable(stored)
            os.rename(stored, src)  # back where it was, for the next round
            force_rmtree(home_dir)
            log(f"round {r + 1}: push --move {src.name} {t:.3f} s")
    return best


def measure_rename(src: Path, rounds: int) -> float:
    """The floor for a move: rename(2) of the directory there and back."""
    other = src.with_name(src.name + ".renamed")
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        os.rename(src, other)
        best = min(best, time.perf_counter() - t)
        os.rename(other, src)
    return best


# -- the benchmark ---------------------------------------------------------------------------


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=GiB, help="size of the source directory (default 1G; e.g. 256M for a quick run)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measurement, medians taken (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the file sizes and contents")
    parser.add_argument("--keep", action="store_true", help="keep benchmarks/.work/ingest afterwards")
    args, _ = parser.parse_known_args(argv)
    if args.size < 8 * MiB:
        parser.error("--size: at least 8M")

    work = WORK / "ingest"
    force_rmtree(work)
    work.mkdir(parents=True)
    src, small, many = work / "source", work / "source-eighth", work / "source-small-files"
    try:
        log(f"building {human(args.size)} of mixed files in {src}")
        size, files = build_tree(src, args.size, args.seed)
        size8, files8 = build_tree(small, args.size // 8, args.seed + 1)
        fat = work / "source-eighth-fat"
        size_fat, files_fat = build_fat(fat, small, 8)
        size_many, files_many = build_tree(many, args.size // 8, args.seed + 2, MIX[:1])
        fs = filesystem_of(work)

        copy = measure_copy(work, src, args.rounds)
        copy_many = measure_copy(work, many, args.rounds)
        rename = measure_rename(src, max(args.rounds, 3))
        move_full, move_eighth, move_fat = measure_move(work, [src, small, fat], args.rounds)
    finally:
        if not args.keep:
            force_rmtree(work)
            if WORK.exists() and not any(WORK.iterdir()):
                WORK.rmdir()

    growth = move_full / move_eighth
    load = os.getloadavg()[0]
    where = f"{fs}, median of {args.rounds}, load {load:.1f} on {os.cpu_count()} cpus"
    return [
        *copy_lines(f"ingest {human(size)} in {files} files ({where})", size, copy),
        *copy_lines(f"ingest {human(size_many)} in {files_many} small files ({where})", size_many, copy_many),
        f"ingest move {human(size8)} in {files8} files:  push --move {move_eighth:8.3f} s  reference",
        f"ingest move {human(size)} in {files} files: push --move {move_full:8.3f} s  "
        f"{growth:.2f}x the time for {size / size8:.0f}x the bytes "
        f"(constant time: ~1; reading every byte: ~{size / size8:.0f}) — {'constant' if growth < 2 else 'NOT constant'}",
        f"ingest move {human(size_fat)} in {files_fat} files: push --move {move_fat:8.3f} s  "
        f"{move_fat / move_eighth:.2f}x the time for {size_fat / size8:.0f}x the bytes in the same files "
        f"(constant in bytes: ~1) — {'constant' if move_fat / move_eighth < 2 else 'NOT constant'}; "
        "the work left grows with the number of files (checks, read-only modes), not their size",
        f"ingest move {human(size)} in {files} files: rename(2)   {rename * 1e3:8.3f} ms  "
        f"push --move takes {move_full / rename:,.0f}x a bare rename",
    ]
