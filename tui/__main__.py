"""`python -m tui [--home DIR] [--context NAME] [--mlmd FILE]`: the same as `knitctl tui`."""

from __future__ import annotations

import argparse

from .app import run


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tui", description="knit's terminal UI")
    p.add_argument("--home", help="KNIT_HOME (default: $KNIT_HOME or the XDG data dir)")
    p.add_argument("--context", help="show this context instead of the current one")
    p.add_argument("--mlmd", help="browse this ml-metadata SQLite store instead (read-only)")
    args = p.parse_args()
    from knitctl.errors import KnitError

    try:
        run(args.home, context=args.context, mlmd=args.mlmd)
    except KnitError as e:  # e.g. --mlmd naming no ml-metadata store: one line, as knitctl prints it
        p.exit(1, f"{p.prog}: error: {e.message}\n")


if __name__ == "__main__":
    main()
