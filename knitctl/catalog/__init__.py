"""The SQLite catalog: schema, migrations and the queries over it."""

from .db import Catalog, now_ms

__all__ = ["Catalog", "now_ms"]
