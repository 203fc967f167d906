"""knit's terminal UI: a Textual app over the catalog (docs/ARCHITECTURE.md#tui).

`KnitApp` is the app; `knitctl tui` starts it. It reads the catalog directly
(its own read-only connections, so it never blocks a writer) and follows
changes through SQLite's data_version.
"""

from __future__ import annotations

__all__ = ["KnitApp"]


def __getattr__(name: str):
    if name == "KnitApp":
        from .app import KnitApp

        return KnitApp
    raise AttributeError(name)
