"""`python -m tui [--home DIR] [--context NAME]`: the same as `knitctl tui`."""

from __future__ import annotations

import argparse

from .app import run


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tui", description="knit's terminal UI")
    p.add_argument("--home", help="KNIT_HOME (default: $KNIT_HOME or the XDG data dir)")
    p.add_argument("--context", help="show this context instead of the current one")
    args = p.parse_args()
    run(args.home, context=args.context)


if __name__ == "__main__":
    main()
