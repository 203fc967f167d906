"""knit: a single-node ML workflow appliance.

The library the CLI, the daemon and the TUI share. Public entry points live in
small modules named for what they hold: `tags`, `home`, `store`, `catalog`,
`data` (push/find/show/pull/tag).

The map of the code — layers, write paths, where each rule lives — is docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
