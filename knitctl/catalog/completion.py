"""Names for shell completion: ids and tags starting with what was typed, from a read-only connection."""

from __future__ import annotations

import sqlite3

_NAMES = {
    "data": "SELECT knit_id FROM data WHERE knit_id LIKE ? ESCAPE '\\' ORDER BY knit_id LIMIT ?",
    "run": "SELECT run_id FROM run WHERE run_id LIKE ? ESCAPE '\\' AND plan_id IN (SELECT plan_id FROM plan"
           " WHERE hash IS NOT NULL) ORDER BY run_id LIMIT ?",  # not the uploads' pseudo-runs
    "plan": "SELECT plan_id FROM plan WHERE plan_id LIKE ? ESCAPE '\\' AND hash IS NOT NULL ORDER BY plan_id LIMIT ?",
    "tag": "SELECT DISTINCT key || ':' || value AS t FROM tag WHERE t LIKE ? ESCAPE '\\' AND key NOT LIKE 'knit#%' ORDER BY t LIMIT ?",
}
KINDS = tuple(_NAMES)


def names(conn: sqlite3.Connection, kind: str, prefix: str, limit: int) -> list[str]:
    """Up to `limit` names of `kind` (data, run, plan, tag) that start with `prefix`, in order."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [r[0] for r in conn.execute(_NAMES[kind], (like, limit))]
