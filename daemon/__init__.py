"""knitd: executes the runs the catalog holds.

How it fits with the library, the CLI and the TUI: docs/ARCHITECTURE.md#daemon.
"""
