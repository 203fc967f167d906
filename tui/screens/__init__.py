"""The TUI's screens, each in its own module."""
