"""Run benchmarks: `python -m benchmarks [NAME...] [OPTIONS]`.

Each `benchmarks/bench_<name>.py` is one benchmark. It exposes
`run(argv: list[str]) -> list[str] | None`: it parses its own options out of
`argv` (the options given after the names; options it doesn't know are for
other benchmarks and are ignored) and returns the lines to print — one line
per figure, each a ratio against a reference it measured in the same run — or
prints them itself and returns None. Progress goes to stderr.

    python -m benchmarks                       # every benchmark
    python -m benchmarks ingest --size 256M    # one, with its options
    python -m benchmarks ingest --help         # a benchmark's options
    python -m benchmarks --list
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

PREFIX = "bench_"


def available() -> dict[str, str]:
    """name → module name, for every benchmarks/bench_*.py."""
    here = Path(__file__).parent
    return {
        m.name[len(PREFIX):]: f"{__package__}.{m.name}"
        for m in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name)
        if m.name.startswith(PREFIX)
    }


def summary(module_name: str) -> str:
    doc = importlib.import_module(module_name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main(argv: list[str]) -> int:
    benches = available()
    names: list[str] = []
    while argv and not argv[0].startswith("-"):
        names.append(argv.pop(0))
    if not names and argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        print("\nbenchmarks:")
        for name, mod in benches.items():
            print(f"  {name:12} {summary(mod)}")
        return 0
    if argv[:1] == ["--list"]:
        for name, mod in benches.items():
            print(f"{name}\t{summary(mod)}")
        return 0
    unknown = [n for n in names if n.removeprefix(PREFIX) not in benches]
    if unknown:
        print(f"benchmarks: no benchmark named {', '.join(unknown)}; there are: {', '.join(benches)}", file=sys.stderr)
        return 2
    chosen = [n.removeprefix(PREFIX) for n in names] or list(benches)
    for name in chosen:
        module = importlib.import_module(benches[name])
        print(f"# {name}: {summary(benches[name])}", flush=True)
        started = time.perf_counter()
        lines = module.run(list(argv))
        for line in lines or []:
            print(line, flush=True)
        print(f"# {name}: finished in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
