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
    run(args.home, context=args.context, mlmd=args.mlmd)


if __name__ == "__main__":
    main()
