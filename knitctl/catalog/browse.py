"""What the TUI reads from the catalog: pages of rows by keyset, rows by key, rows changed since a
watermark, counts, one object's facts, ids by prefix, and one-hop lineage neighbours.

Each table has a `Listing`. A row has a `key` (its id) and an `order` (an increasing integer: the
MLMD execution / artifact / context id), and the tables list rows newest first, so a page is
`WHERE order < :last ORDER BY order DESC LIMIT :n` — an index walk whatever the table's size.
Rows are read in one query per page (tags and run counts in one more per page, never one per row).
Everything here runs on a read-only connection prepared by `prepare` (the filters' REGEXP).

Rows carry the producing run's status (`run_status`); what a datum's status is, given that, is a
rule outside the catalog (`knitctl.data.data_status`), applied by the caller.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from .. import runstate
from . import marks
from .mlmd import EV_INPUT, EV_OUTPUT
from .records import LOG_PATH, UPLOAD_PLAN
from .where import IMAGE_MATCHES, Where, image_params


class Filter(Protocol):
    """A table's filter (the TUI's `/` words, parsed): an empty field does not filter."""

    @property
    def statuses(self) -> tuple[str, ...]: ...
    @property
    def plans(self) -> tuple[str, ...]: ...       # plan id prefixes
    @property
    def images(self) -> tuple[str, ...]: ...
    @property
    def tags(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def patterns(self) -> tuple[str, ...]: ...    # regular expressions over the row's text
    @property
    def active(self) -> bool | None: ...
    @property
    def uploads(self) -> bool: ...


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def _regexp(pattern: str, value) -> bool:
    if value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


def prepare(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Give a connection what the filters use (a REGEXP function)."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    return conn


def open_read(path) -> sqlite3.Connection:
    """A read-only connection of its own (WAL readers never block writers), prepared for the filters."""
    from .db import Catalog

    cat = Catalog(path, readonly=True)
    return prepare(cat.conn)


def _chunks(items: list, n: int = 400) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _prefix_clause(column: str, prefixes: Iterable[str], params: list) -> str:
    w = Where().prefixes(column, prefixes)
    params += w.params
    return w.parts[0]


@dataclass
class Row:
    key: str
    order: int
    values: dict


@dataclass
class Page:
    rows: list[Row]
    done: bool                      # no more rows after these


class Listing:
    """One table's rows. Subclasses give the SQL."""

    watermark_sql = ""                         # max(updated) of the table
    order_column = ""

    def where(self, flt: Filter) -> tuple[list[str], list]:
        raise NotImplementedError

    def select(self) -> str:
        raise NotImplementedError

    def key_column(self) -> str:
        raise NotImplementedError

    def _rows(self, conn: sqlite3.Connection, sql: str, params) -> list[Row]:
        raise NotImplementedError

    def page(self, conn: sqlite3.Connection, flt: Filter, after: int | None, limit: int) -> Page:
        where, params = self.where(flt)
        if after is not None:
            where.append(f"{self.order_column} < ?")
            params.append(after)
        sql = self.select() + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {self.order_column} DESC LIMIT ?"
        rows = self._rows(conn, sql, [*params, limit + 1])
        return Page(rows[:limit], len(rows) <= limit)

    def newer(self, conn: sqlite3.Connection, flt: Filter, than: int, limit: int = 1000) -> list[Row]:
        """Rows above the newest one shown (new since), newest first."""
        where, params = self.where(flt)
        where.append(f"{self.order_column} > ?")
        params.append(than)
        sql = self.select() + " WHERE " + " AND ".join(where) + f" ORDER BY {self.order_column} DESC LIMIT ?"
        return self._rows(conn, sql, [*params, limit])

    def fetch(self, conn: sqlite3.Connection, flt: Filter, keys: Iterable[str]) -> dict[str, Row]:
        """Those of `keys` that exist and match the filter, freshly read."""
        out: dict[str, Row] = {}
        for chunk in _chunks(list(keys)):
            where, params = self.where(flt)
            where.append(f"{self.key_column()} IN ({','.join('?' * len(chunk))})")
            sql = self.select() + " WHERE " + " AND ".join(where)
            for r in self._rows(conn, sql, [*params, *chunk]):
                out[r.key] = r
        return out

    def watermark(self, conn: sqlite3.Connection) -> int:
        return conn.execute(self.watermark_sql).fetchone()[0] or 0

    def changed(self, conn: sqlite3.Connection, since_ms: int) -> tuple[set[str], int]:
        """Keys of rows updated at or after `since_ms`, and the new watermark."""
        raise NotImplementedError

    def count(self, conn: sqlite3.Connection, flt: Filter) -> int:
        where, params = self.where(flt)
        sql = f"SELECT count(*) FROM ({self.select()}" + (" WHERE " + " AND ".join(where) if where else "") + ")"
        return conn.execute(sql, params).fetchone()[0]


# -- runs --------------------------------------------------------------------------------


class RunListing(Listing):
    order_column = "r.execution_id"
    watermark_sql = "SELECT max(updated_ms) FROM run"

    def select(self) -> str:
        return ("SELECT r.run_id, r.execution_id, r.plan_id, p.image, r.status, r.assignment, r.exit_code,"
                " r.created_ms, r.updated_ms, r.started_ms, r.finished_ms FROM run r JOIN plan p ON p.plan_id = r.plan_id")

    def key_column(self) -> str:
        return "r.run_id"

    def where(self, flt: Filter) -> tuple[list[str], list]:
        where: list[str] = []
        params: list = []
        if flt.uploads:
            where.append("r.plan_id = ?")
            params.append(UPLOAD_PLAN)
        elif flt.plans:
            where.append(_prefix_clause("r.plan_id", flt.plans, params))
        else:
            where.append("r.plan_id != ?")
            params.append(UPLOAD_PLAN)
        if flt.statuses:
            where.append(f"r.status IN ({','.join('?' * len(flt.statuses))})")
            params += flt.statuses
        else:
            where.append("r.status != 'invalidated'")
        for img in flt.images:
            where.append(IMAGE_MATCHES.format(column="p.image"))
            params += image_params(img)
        for k, v in flt.tags:
            where.append(
                "r.execution_id IN (SELECT e.execution_id FROM tag t JOIN data d ON d.knit_id = t.knit_id"
                f" JOIN Event e ON e.artifact_id = d.artifact_id WHERE t.key = ? AND t.value = ? AND e.type IN ({EV_INPUT}, {EV_OUTPUT}))"
            )
            params += [k, v]
        for pat in flt.patterns:
            where.append(
                "(r.run_id || ' ' || r.plan_id || ' ' || r.status || ' ' || coalesce(p.image, '') || ' '"
                " || coalesce(r.assignment, '') || ' ' || coalesce(r.message, '')) REGEXP ?"
            )
            params.append(pat)
        return where, params

    def _rows(self, conn, sql, params) -> list[Row]:
        out = []
        for r in conn.execute(sql, params):
            inputs = []
            if r[5]:
                for line in r[5].split("\n"):
                    path, _, kid = line.partition("=")
                    inputs.append((path, kid))
            out.append(Row(r[0], r[1], {
                "run_id": r[0], "plan_id": r[2], "image": r[3], "status": r[4], "inputs": inputs,
                "exit_code": r[6], "created_ms": r[7], "updated_ms": r[8], "started_ms": r[9], "finished_ms": r[10],
            }))
        return out

    def changed(self, conn, since_ms: int) -> tuple[set[str], int]:
        rows = conn.execute("SELECT run_id, updated_ms FROM run WHERE updated_ms >= ?", (since_ms,)).fetchall()
        return {r[0] for r in rows}, max([since_ms, *(r[1] for r in rows)])


# -- data ----------------------------------------------------------------------------------


class DataListing(Listing):
    """Data rows; `run_status` is the producing run's status (the caller derives the datum's)."""

    order_column = "d.artifact_id"
    watermark_sql = "SELECT max(last_update_time_since_epoch) FROM Artifact"

    def select(self) -> str:
        return ("SELECT d.knit_id, d.artifact_id, d.run_id, d.output_path, d.size, d.file_count, r.plan_id, r.status,"
                " r.finished_ms, a.create_time_since_epoch FROM data d JOIN run r ON r.run_id = d.run_id"
                " JOIN Artifact a ON a.id = d.artifact_id")

    def key_column(self) -> str:
        return "d.knit_id"

    def where(self, flt: Filter) -> tuple[list[str], list]:
        where: list[str] = []
        params: list = []
        if flt.uploads:
            where.append("r.plan_id = ?")
            params.append(UPLOAD_PLAN)
        elif flt.plans:
            where.append(_prefix_clause("r.plan_id", flt.plans, params))
        if flt.statuses:
            runs = [s for st in flt.statuses for s in runstate.DATA_STATUS_RUNS[st]]
            where.append(f"r.status IN ({','.join('?' * len(runs))})")
            params += runs
        for k, v in flt.tags:
            where.append("d.knit_id IN (SELECT knit_id FROM tag WHERE key = ? AND value = ?)")
            params += [k, v]
        for img in flt.images:
            where.append("r.plan_id IN (SELECT plan_id FROM plan WHERE " + IMAGE_MATCHES.format(column="image") + ")")
            params += image_params(img)
        for pat in flt.patterns:
            where.append(
                "(d.knit_id || ' ' || d.run_id || ' ' || r.plan_id || ' ' || d.output_path || ' ' ||"
                " coalesce((SELECT group_concat(key || ':' || value, ' ') FROM tag WHERE tag.knit_id = d.knit_id), ''))"
                " REGEXP ?"
            )
            params.append(pat)
        return where, params

    def _rows(self, conn, sql, params) -> list[Row]:
        rows = conn.execute(sql, params).fetchall()
        tags = tag_texts(conn, [r[0] for r in rows])
        bad = marks.roots_of(conn, [r[0] for r in rows])  # marked bad: knit#bad:<root> after the user tags
        return [
            Row(r[0], r[1], {
                "knit_id": r[0], "run_id": r[2], "output_path": r[3], "size": r[4], "file_count": r[5],
                "plan_id": r[6], "run_status": r[7], "finished_ms": r[8], "created_ms": r[9],
                "tags": tags[r[0]] + [f"knit#bad:{x}" for x in bad.get(r[0], [])], "bad": bool(bad.get(r[0])),
            })
            for r in rows
        ]

    def changed(self, conn, since_ms: int) -> tuple[set[str], int]:
        rows = conn.execute(
            "SELECT d.knit_id, a.last_update_time_since_epoch FROM Artifact a JOIN data d ON d.artifact_id = a.id"
            " WHERE a.last_update_time_since_epoch >= ?", (since_ms,)
        ).fetchall()
        return {r[0] for r in rows}, max([since_ms, *(r[1] for r in rows)])


# -- plans ---------------------------------------------------------------------------------


class PlanListing(Listing):
    order_column = "p.context_id"
    watermark_sql = "SELECT max(last_update_time_since_epoch) FROM Context"

    def select(self) -> str:
        return "SELECT p.plan_id, p.context_id, p.image, p.spec, p.active FROM plan p"

    def key_column(self) -> str:
        return "p.plan_id"

    def where(self, flt: Filter) -> tuple[list[str], list]:
        where = ["p.hash IS NOT NULL"]
        params: list = []
        if flt.plans:
            where.append(_prefix_clause("p.plan_id", flt.plans, params))
        if flt.active is not None:
            where.append("p.active = ?")
            params.append(int(flt.active))
        for img in flt.images:
            where.append(IMAGE_MATCHES.format(column="p.image"))
            params += image_params(img)
        for k, v in flt.tags:
            where.append(
                "(p.plan_id IN (SELECT plan_id FROM plan_input_tag WHERE key = ? AND value = ?)"
                " OR p.plan_id IN (SELECT plan_id FROM plan_output_tag WHERE key = ? AND value = ?))"
            )
            params += [k, v, k, v]
        for pat in flt.patterns:
            where.append("(p.plan_id || ' ' || coalesce(p.image, '') || ' ' || p.spec) REGEXP ?")
            params.append(pat)
        return where, params

    def _rows(self, conn, sql, params) -> list[Row]:
        rows = conn.execute(sql, params).fetchall()
        counts: dict[str, dict[str, int]] = {r[0]: {} for r in rows}
        for chunk in _chunks(list(counts)):
            for pid, status, n in conn.execute(
                f"SELECT plan_id, status, count(*) FROM run WHERE plan_id IN ({','.join('?' * len(chunk))})"
                " GROUP BY plan_id, status", chunk,
            ):
                counts[pid][status] = n
        out = []
        for r in rows:
            spec = json.loads(r[3])
            out.append(Row(r[0], r[1], {
                "plan_id": r[0], "image": r[2], "active": bool(r[4]),
                "inputs": [(m["path"], list(m.get("tags", []))) for m in spec.get("inputs", [])],
                "outputs": [(m["path"], list(m.get("tags", []))) for m in spec.get("outputs", [])]
                + ([("log", list(spec["log"].get("tags", []) if isinstance(spec["log"], dict) else spec["log"]))]
                   if spec.get("log") is not None else []),
                "runs": counts[r[0]],
            }))
        return out

    def changed(self, conn, since_ms: int) -> tuple[set[str], int]:
        # Plans are few, and their run counts move with every run: look at all of them.
        return {r[0] for r in conn.execute("SELECT plan_id FROM plan WHERE hash IS NOT NULL")}, since_ms


# -- single objects --------------------------------------------------------------------------


def tag_texts(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each datum's user tags as `key:value`, by key and value (every id present, maybe with none)."""
    tags: dict[str, list[str]] = {i: [] for i in knit_ids}
    for chunk in _chunks(list(tags)):
        for kid, k, v in conn.execute(
            f"SELECT knit_id, key, value FROM tag WHERE knit_id IN ({','.join('?' * len(chunk))}) ORDER BY key, value", chunk
        ):
            tags[kid].append(f"{k}:{v}")
    return tags


def plan_settings(conn: sqlite3.Connection, plan_id: str) -> sqlite3.Row | None:
    """A plan's resources and spec (JSON text) and whether it is active."""
    return conn.execute("SELECT resources, spec, active FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()


def request_of(conn: sqlite3.Connection, run_id: str) -> str | None:
    """What was asked of knitd for the run ('stop', 'abort'), if anything."""
    return conn.execute("SELECT request FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]


def plan_of_run(conn: sqlite3.Connection, run_id: str) -> str | None:
    row = conn.execute("SELECT plan_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def producer_of(conn: sqlite3.Connection, knit_id: str) -> str | None:
    """The run that made the datum."""
    row = conn.execute("SELECT run_id FROM data WHERE knit_id = ?", (knit_id,)).fetchone()
    return row[0] if row else None


def datum(conn: sqlite3.Connection, knit_id: str) -> dict | None:
    """A datum's row, its producing run's plan and status (`run_status`), its tags, and the runs that
    took it as input (the newest 50, and how many there are)."""
    r = conn.execute(
        "SELECT d.knit_id, d.run_id, d.output_path, d.digest, d.size, d.file_count, d.source, r.plan_id, r.status,"
        " r.finished_ms FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id = ?", (knit_id,)
    ).fetchone()
    if r is None:
        return None
    tags = [f"{k}:{v}" for k, v in conn.execute("SELECT key, value FROM tag WHERE knit_id = ? ORDER BY key, value", (knit_id,))]
    downstream = conn.execute(
        f"""SELECT r.run_id, r.plan_id, ep.step_key, r.status FROM data d
           JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {EV_INPUT}
           JOIN EventPath ep ON ep.event_id = e.id
           JOIN run r ON r.execution_id = e.execution_id
           WHERE d.knit_id = ? ORDER BY r.execution_id DESC LIMIT 50""", (knit_id,)
    ).fetchall()
    n_down = conn.execute(
        f"SELECT count(*) FROM data d JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {EV_INPUT} WHERE d.knit_id = ?",
        (knit_id,),
    ).fetchone()[0]
    return {
        "knit_id": r[0], "run_id": r[1], "output_path": r[2], "digest": r[3], "size": r[4], "file_count": r[5],
        "source": r[6], "plan_id": r[7], "run_status": r[8], "finished_ms": r[9],
        "tags": tags, "downstream": [tuple(x) for x in downstream], "downstream_count": n_down,
    }


def resolve(conn: sqlite3.Connection, text: str) -> tuple[str, str] | None:
    """('run'|'data'|'plan', full id) for an id or unique prefix, trying runs, then data, then plans."""
    s = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", s):
        return None
    for kind, table, col in (("run", "run", "run_id"), ("data", "data", "knit_id"), ("plan", "plan", "plan_id")):
        rows = conn.execute(f"SELECT {col} FROM {table} WHERE {col} >= ? AND {col} < ? LIMIT 2", (s, s + "g")).fetchall()
        if len(rows) == 1 or (rows and rows[0][0] == s):
            return kind, rows[0][0]
    return None


def search_ids(conn: sqlite3.Connection, prefix: str, limit: int = 8) -> list[tuple[str, str, str]]:
    """(kind, id, summary) of runs, data and plans whose id starts with `prefix`."""
    s = prefix.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", s):
        return []
    out = []
    for kid, plan, status in conn.execute(
        "SELECT run_id, plan_id, status FROM run WHERE run_id >= ? AND run_id < ? LIMIT ?", (s, s + "g", limit)
    ):
        out.append(("run", kid, f"{status} · plan {plan}"))
    for kid, path in conn.execute(
        "SELECT knit_id, output_path FROM data WHERE knit_id >= ? AND knit_id < ? LIMIT ?", (s, s + "g", limit)
    ):
        out.append(("data", kid, path))
    for pid, image in conn.execute(
        "SELECT plan_id, image FROM plan WHERE plan_id >= ? AND plan_id < ? AND hash IS NOT NULL LIMIT ?", (s, s + "g", limit)
    ):
        out.append(("plan", pid, image or ""))
    return out


# -- lineage, one hop at a time -------------------------------------------------------------


@dataclass
class Neighbours:
    items: list[tuple[str, str, str]] = field(default_factory=list)   # (kind, id, mount path)
    total: int = 0


def neighbours(conn: sqlite3.Connection, kind: str, node_id: str, direction: str, *, offset: int = 0,
               limit: int = 10) -> Neighbours:
    """The nodes one hop from (kind, id): upstream ('up') or downstream ('down'), paged."""
    if kind == "data" and direction == "up":
        rows = conn.execute("SELECT 'run', run_id, output_path FROM data WHERE knit_id = ?", (node_id,)).fetchall()
        return Neighbours([tuple(r) for r in rows], len(rows))
    if kind == "run" and direction == "up":
        base = f"""FROM run r JOIN Event e ON e.execution_id = r.execution_id AND e.type = {EV_INPUT}
                  JOIN EventPath ep ON ep.event_id = e.id
                  JOIN data d ON d.artifact_id = e.artifact_id WHERE r.run_id = ?"""
        total = conn.execute(f"SELECT count(*) {base}", (node_id,)).fetchone()[0]
        rows = conn.execute(f"SELECT 'data', d.knit_id, ep.step_key {base} ORDER BY ep.step_key LIMIT ? OFFSET ?",
                            (node_id, limit, offset)).fetchall()
        return Neighbours([tuple(r) for r in rows], total)
    if kind == "run" and direction == "down":
        total = conn.execute("SELECT count(*) FROM data WHERE run_id = ?", (node_id,)).fetchone()[0]
        rows = conn.execute(
            f"SELECT 'data', knit_id, output_path FROM data WHERE run_id = ? ORDER BY output_path = '{LOG_PATH}', output_path"
            " LIMIT ? OFFSET ?", (node_id, limit, offset)).fetchall()
        return Neighbours([tuple(r) for r in rows], total)
    if kind == "data" and direction == "down":
        base = f"""FROM data d JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {EV_INPUT}
                  JOIN EventPath ep ON ep.event_id = e.id
                  JOIN run r ON r.execution_id = e.execution_id
                  WHERE d.knit_id = ? AND r.status != 'invalidated'"""
        total = conn.execute(f"SELECT count(*) {base}", (node_id,)).fetchone()[0]
        rows = conn.execute(f"SELECT 'run', r.run_id, ep.step_key {base} ORDER BY r.execution_id LIMIT ? OFFSET ?",
                            (node_id, limit, offset)).fetchall()
        return Neighbours([tuple(r) for r in rows], total)
    raise ValueError(f"no {direction!r} neighbours for {kind!r}")


def describe(conn: sqlite3.Connection, nodes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Labels' facts for lineage nodes: runs' plan, image and status; data's tags, producing run and its status
    (`run_status`)."""
    nodes = list(nodes)
    out: dict[tuple[str, str], dict] = {}
    runs = [i for k, i in nodes if k == "run"]
    data = [i for k, i in nodes if k == "data"]
    for chunk in _chunks(runs):
        for rid, pid, status, image in conn.execute(
            f"SELECT r.run_id, r.plan_id, r.status, p.image FROM run r JOIN plan p ON p.plan_id = r.plan_id"
            f" WHERE r.run_id IN ({','.join('?' * len(chunk))})", chunk,
        ):
            out[("run", rid)] = {"plan_id": pid, "status": status, "image": image}
    for chunk in _chunks(data):
        marks = ','.join('?' * len(chunk))
        tags: dict[str, list[str]] = {i: [] for i in chunk}
        for kid, k, v in conn.execute(f"SELECT knit_id, key, value FROM tag WHERE knit_id IN ({marks}) ORDER BY key, value", chunk):
            tags[kid].append(f"{k}:{v}")
        for kid, status, rid in conn.execute(
            f"SELECT d.knit_id, r.status, d.run_id FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id IN ({marks})",
            chunk,
        ):
            out[("data", kid)] = {"tags": tags[kid], "run_status": status, "run_id": rid}
    return out


def pipeline_plans(conn: sqlite3.Connection) -> list[tuple[str, str | None, bool, dict[str, int]]]:
    """Every plan, oldest first, as the pipeline shows it: (id, image, active, run status -> how many)."""
    from .plans import run_counts

    counts = run_counts(conn)
    return [(r[0], r[1], bool(r[2]), counts.get(r[0], {})) for r in conn.execute(
        "SELECT plan_id, image, active FROM plan WHERE hash IS NOT NULL ORDER BY context_id")]
