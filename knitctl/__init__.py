"""knit: a single-node ML workflow appliance.

The library the CLI, the daemon and the TUI share. Public entry points live in
small modules named for what they hold: `tags`, `home`, `store`, `catalog`,
`data` (push/find/show/pull/tag).
"""

__version__ = "0.1.0"
