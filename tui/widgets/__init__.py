"""The TUI's widgets, each in its own module."""
