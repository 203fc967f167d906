"""The TUI's side of its reads: each table's `Source` (its kind and column labels over a catalog
listing) and the objects' facts the screens show.

The SQL is in `knitctl/catalog/browse.py` (keyset pages, rows by key, rows changed since a
watermark, counts, details, id search, one-hop neighbours); here the rows get what the TUI adds
to them, such as a datum's status derived from its producing run's (`knitctl.runstate.data_status`).
Everything runs on the TUI's own read-only connection (`open_read`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from knitctl.catalog import browse
from knitctl.catalog import provenance as provenance_rows
from knitctl.catalog.browse import Neighbours, Page, Row, neighbours, open_read, prepare, resolve, search_ids

if TYPE_CHECKING:
    from knitctl.session import Session

__all__ = ["SOURCES", "DataSource", "Neighbours", "Page", "PlanSource", "Row", "RunSource", "Source", "datum_detail",
           "describe", "neighbours", "open_read", "plan_detail", "prepare", "resolve", "run_detail", "search_ids"]


class Source(browse.Listing):
    """One table's rows, as the TUI shows them."""

    kind = ""
    columns: tuple[tuple[str, str], ...] = ()   # (label, key)


class RunSource(Source, browse.RunListing):
    kind = "runs"
    columns = (("ID", "id"), ("PLAN", "plan"), ("IMAGE", "image"), ("STATUS", "status"),
               ("INPUTS", "inputs"), ("AGE", "age"), ("DURATION", "duration"))


class DataSource(Source, browse.DataListing):
    kind = "data"
    columns = (("ID", "id"), ("TAGS", "tags"), ("STATUS", "status"), ("SIZE", "size"),
               ("PRODUCER", "producer"), ("AGE", "age"))

    def _rows(self, conn: sqlite3.Connection, sql: str, params) -> list[Row]:
        from knitctl.runstate import data_status

        rows = super()._rows(conn, sql, params)
        for r in rows:
            r.values["status"] = data_status(r.values["run_status"])
        return rows


class PlanSource(Source, browse.PlanListing):
    kind = "plans"
    columns = (("ID", "id"), ("IMAGE", "image"), ("INPUTS", "inputs"), ("OUTPUTS", "outputs"),
               ("ACTIVE", "active"), ("RUNS", "runs"))


SOURCES: dict[str, type[Source]] = {"runs": RunSource, "data": DataSource, "plans": PlanSource}


# -- single objects --------------------------------------------------------------------------


def run_detail(session: Session, run_id: str) -> dict | None:
    """A run with its plan's image and resources, inputs and outputs (with tags), history."""
    from knitctl import runs as runs_api
    from knitctl.errors import KnitError

    try:
        run = runs_api.get(session, run_id, history=True)
    except KnitError:
        return None
    conn = session.catalog.conn
    plan = browse.plan_settings(conn, run.plan_id)
    tags = browse.tag_texts(conn, [d["knit_id"] for d in run.inputs + run.outputs])
    spec = json.loads(plan["spec"]) if plan else {}
    return {
        "run": run,
        "resources": json.loads(plan["resources"]) if plan else {},
        "timeout": spec.get("timeout"),
        "plan_active": bool(plan["active"]) if plan else None,
        "tags": tags,
        "request": browse.request_of(conn, run.run_id),
        "provenance": provenance_rows.of_run(conn, run.run_id),
    }


def datum_detail(conn: sqlite3.Connection, knit_id: str) -> dict | None:
    from knitctl.catalog import marks
    from knitctl.runstate import data_status

    d = browse.datum(conn, knit_id)
    if d is not None:
        d["status"] = data_status(d["run_status"])
        d["provenance"] = provenance_rows.of_datum(conn, knit_id)  # who made it, how (knitctl.provenance)
        d["marks"] = marks.marks_of(conn, knit_id)  # (root, reason, marked_ms) of each bad mark it carries
        from knitctl import retention

        d["dropped"] = retention.drop_info(conn, knit_id)  # gc freed its bytes: when, by which rule
    return d


def plan_detail(session: Session, plan_id: str) -> dict | None:
    from knitctl.errors import KnitError
    from knitctl.plans import registry

    try:
        plan = registry.get(session, plan_id)
    except KnitError:
        return None
    return {"plan": plan, "spec": plan.to_dict()}


def describe(conn: sqlite3.Connection, nodes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Labels' facts for lineage nodes: runs' plan, image and status; data's tags and status."""
    from knitctl.runstate import data_status

    out = browse.describe(conn, nodes)
    for (kind, _id), facts in out.items():
        if kind == "data":
            facts["status"] = data_status(facts["run_status"])
    return out
