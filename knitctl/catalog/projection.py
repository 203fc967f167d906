"""Projection's questions to the catalog: which plan inputs a datum fits, which data fit an input,
whether a combination already ran, what every new run of a plan shares. The rule itself (the
cartesian product, no datum twice) is pure, in `knitctl.projection`."""

from __future__ import annotations

import sqlite3

from . import marks

NOMINATABLE = "done"  # only data of done runs are nominated


def fitted_inputs(conn: sqlite3.Connection, knit_id: str) -> list[tuple[str, str]]:
    """(plan_id, path) of every plan input this datum fits, if it is nominatable."""
    row = conn.execute(
        "SELECT r.status, r.finished_ms FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id = ?",
        (knit_id,),
    ).fetchone()
    if row is None or row[0] != NOMINATABLE or is_dropped(conn, knit_id):
        return []
    finished = row[1]
    roots = set(marks.roots_of(conn, [knit_id]).get(knit_id, []))  # marked bad: only inputs asking for it
    return [
        (r[0], r[1])
        for r in conn.execute(
            """
            WITH m AS (
                SELECT pit.plan_id, pit.path, count(*) AS n
                FROM tag t JOIN plan_input_tag pit ON pit.key = t.key AND pit.value = t.value
                WHERE t.knit_id = :id
                GROUP BY pit.plan_id, pit.path
            )
            SELECT pi.plan_id, pi.path, pi.pin_bad FROM plan_input pi JOIN m ON m.plan_id = pi.plan_id AND m.path = pi.path
            WHERE m.n = pi.tag_count
              AND (pi.pin_id IS NULL OR pi.pin_id = :id)
              AND (pi.pin_timestamp_ms IS NULL OR pi.pin_timestamp_ms = :ts)
            UNION
            SELECT pi.plan_id, pi.path, pi.pin_bad FROM plan_input pi
            WHERE pi.tag_count = 0 AND (pi.pin_id = :id OR (pi.pin_id IS NULL AND pi.pin_timestamp_ms = :ts)
                                        OR (pi.pin_id IS NULL AND pi.pin_timestamp_ms IS NULL AND pi.pin_bad IS NOT NULL))
              AND (pi.pin_timestamp_ms IS NULL OR pi.pin_timestamp_ms = :ts)
            """,
            {"id": knit_id, "ts": finished},
        )
        if _fits_marks(r[2], roots)
    ]


def _fits_marks(pin_bad: str | None, roots: set[str]) -> bool:
    """An input without a pin takes unmarked data; `*` any marked datum; a root id data carrying its mark."""
    if pin_bad is None:
        return not roots
    return bool(roots) if pin_bad == marks.ANY else pin_bad in roots


def is_dropped(conn: sqlite3.Connection, knit_id: str) -> bool:
    """Whether gc freed (or is freeing) the datum's bytes: it is never nominated again (knitctl.retention)."""
    return conn.execute("SELECT 1 FROM data_drop WHERE knit_id = ?", (knit_id,)).fetchone() is not None


def nominated_for(conn: sqlite3.Connection, plan_id: str, path: str) -> list[str]:
    """Knit ids of the nominatable data fitting one input, oldest first."""
    pi = conn.execute(
        "SELECT tag_count, pin_id, pin_timestamp_ms, pin_bad FROM plan_input WHERE plan_id = ? AND path = ?",
        (plan_id, path),
    ).fetchone()
    tag_count, pin_id, pin_ts, pin_bad = pi
    params: dict[str, object] = {"plan": plan_id, "path": path, "n": tag_count, "pin": pin_id, "ts": pin_ts,
                                 "bad": pin_bad}
    if tag_count:
        source = """
            SELECT t.knit_id FROM plan_input_tag p JOIN tag t ON t.key = p.key AND t.value = p.value
            WHERE p.plan_id = :plan AND p.path = :path GROUP BY t.knit_id HAVING count(*) = :n
        """
    else:
        source = "SELECT knit_id FROM data"
    sql = f"""
        SELECT d.knit_id FROM data d JOIN run r ON r.run_id = d.run_id
        WHERE d.knit_id IN ({source}) AND r.status = '{NOMINATABLE}'
          AND (:pin IS NULL OR d.knit_id = :pin)
          AND (:ts IS NULL OR r.finished_ms = :ts)
          AND {marks.nominatable_sql(":bad")}
          AND NOT EXISTS (SELECT 1 FROM data_drop x WHERE x.knit_id = d.knit_id)
        ORDER BY r.finished_ms, d.knit_id
    """
    return [r[0] for r in conn.execute(sql, params)]


def plan_inputs(conn: sqlite3.Connection, plan_id: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT path FROM plan_input WHERE plan_id = ? ORDER BY path", (plan_id,))]


def run_exists(conn: sqlite3.Connection, plan_id: str, assignment: str) -> bool:
    """Whether the plan ever had a run over this canonical assignment."""
    return conn.execute("SELECT 1 FROM run WHERE plan_id = ? AND assignment = ?", (plan_id, assignment)).fetchone() is not None


def run_template(conn: sqlite3.Connection, plan_id: str) -> tuple[bool, str | None, int, list[tuple[str, list[tuple[str, str]]]]]:
    """(active, pinned context, MLMD context id, outputs as (path, tags) with the log last) of a plan."""
    active, pinned, ctx_id = conn.execute(
        "SELECT active, json_extract(spec, '$.context'), context_id FROM plan WHERE plan_id = ?", (plan_id,)
    ).fetchone()
    tags: dict[str, list[tuple[str, str]]] = {}
    for path, k, v in conn.execute("SELECT path, key, value FROM plan_output_tag WHERE plan_id = ?", (plan_id,)):
        tags.setdefault(path, []).append((k, v))
    outputs = [
        (path, tags.get(path, []))
        for (path,) in conn.execute("SELECT path FROM plan_output WHERE plan_id = ? ORDER BY is_log, path", (plan_id,))
    ]
    return bool(active), pinned, ctx_id, outputs
