"""Lineage subgraphs: one recursive query walks the event graph.

From the starting nodes (chosen by a filter query) the walk follows events
for up to `max_num_hops` edges:
- UPSTREAM: from an artifact to the executions that output it, from an
  execution to the artifacts it took as input;
- DOWNSTREAM: the reverse;
- BIDIRECTIONAL (and unspecified): every event, both ways.
Input events are DECLARED_INPUT, INPUT and INTERNAL_INPUT; output events
DECLARED_OUTPUT, OUTPUT, INTERNAL_OUTPUT and PENDING_OUTPUT.

Ending nodes (another filter) are reached but not walked past; with
`include_ending_nodes` false they are left out too. The graph holds the nodes
reached, the events among them, their contexts with the attributions and
associations to them, and the types of all of these.
"""

from __future__ import annotations

import functools
import sqlite3

from ..catalog.db import plain_rows
from . import _codec as codec
from . import errors
from . import metadata_store_pb2 as pb
from .filter_query import Compiled, compile_filter

Q = pb.LineageSubgraphQueryOptions
INPUT_TYPES = (pb.Event.DECLARED_INPUT, pb.Event.INPUT, pb.Event.INTERNAL_INPUT)
OUTPUT_TYPES = (pb.Event.DECLARED_OUTPUT, pb.Event.OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.PENDING_OUTPUT)
DEFAULT_MAX_HOPS = 100

MASK_FIELDS = ("artifacts", "executions", "contexts", "artifact_types", "execution_types", "context_types", "events",
               "attributions", "associations")


def _types_in(types) -> str:
    return "(" + ", ".join(str(int(t)) for t in types) + ")"


def _ending_check(kind: str, c: Compiled | None) -> tuple[str, list]:
    if c is None:
        return "", []
    sql = f" AND (w.d = 0 OR NOT EXISTS (SELECT 1 FROM {kind} n {c.joins} WHERE n.id = w.id AND {c.where}))"
    return sql, list(c.all_params)


def traversal(opts: pb.LineageSubgraphQueryOptions) -> tuple[str, list]:
    """The recursive query for `opts` alone: rows of (0 for an artifact / 1 for an execution, id)."""
    sql, params = _walk(opts)
    return sql + " SELECT x, id FROM reached", params


def _walk(opts: pb.LineageSubgraphQueryOptions) -> tuple[str, list]:
    """The WITH clause that defines `reached` for `opts` (cached per distinct options)."""
    which = opts.WhichOneof("starting_nodes")
    key = (
        which, getattr(opts, which).filter_query if which else None,
        opts.max_num_hops if opts.HasField("max_num_hops") else None, opts.direction,
        opts.ending_artifacts.filter_query, opts.ending_artifacts.include_ending_nodes,
        opts.ending_executions.filter_query, opts.ending_executions.include_ending_nodes,
    )
    sql, params = _traversal(key, opts)
    return sql, list(params)


_CACHE: dict = {}


def _traversal(key, opts) -> tuple[str, tuple]:
    hit = _CACHE.get(key)
    if hit is None:
        sql, params = _build_traversal(opts)
        if len(_CACHE) > 256:
            _CACHE.clear()
        hit = _CACHE[key] = (sql, tuple(params))
    return hit


def _build_traversal(opts: pb.LineageSubgraphQueryOptions) -> tuple[str, list]:
    which = opts.WhichOneof("starting_nodes")
    if which is None:
        raise errors.InvalidArgumentError(
            "get_lineage_subgraph needs starting nodes: set query_options.starting_artifacts or starting_executions"
        )
    start = getattr(opts, which)
    if not start.filter_query.strip():
        raise errors.InvalidArgumentError(f"query_options.{which}.filter_query is empty; it chooses the starting nodes")
    hops = opts.max_num_hops if opts.HasField("max_num_hops") else DEFAULT_MAX_HOPS
    if hops < 0:
        raise errors.InvalidArgumentError(f"max_num_hops cannot be negative (got {hops})")
    start_kind = "artifact" if which == "starting_artifacts" else "execution"
    s = compile_filter(start.filter_query, start_kind)
    end_a = compile_filter(opts.ending_artifacts.filter_query, "artifact") if opts.ending_artifacts.filter_query.strip() else None
    end_e = compile_filter(opts.ending_executions.filter_query, "execution") if opts.ending_executions.filter_query.strip() else None

    direction = opts.direction
    # `+e.type`: one index seek per node, its few events' types checked in the (covering) index, rather
    # than a seek per event type
    if direction == Q.UPSTREAM:
        a2e, e2a = f" AND +e.type IN {_types_in(OUTPUT_TYPES)}", f" AND +e.type IN {_types_in(INPUT_TYPES)}"
    elif direction == Q.DOWNSTREAM:
        a2e, e2a = f" AND +e.type IN {_types_in(INPUT_TYPES)}", f" AND +e.type IN {_types_in(OUTPUT_TYPES)}"
    else:
        a2e = e2a = ""
    both_ways = direction not in (Q.UPSTREAM, Q.DOWNSTREAM)
    # Both ways, never step straight back along the edge just walked (keeps the walk from
    # ping-ponging); one way, the node we came from cannot come next anyway.
    back_a = " AND e.execution_id IS NOT w.prev" if both_ways else ""
    back_e = " AND e.artifact_id IS NOT w.prev" if both_ways else ""
    prev = "w.id" if both_ways else "NULL"
    end_a_sql, end_a_params = _ending_check("artifact", end_a)
    end_e_sql, end_e_params = _ending_check("execution", end_e)

    sql = (
        "WITH RECURSIVE walk(x, id, d, prev) AS ("
        f" SELECT {0 if start_kind == 'artifact' else 1}, n.id, 0, NULL FROM {start_kind} n {s.joins} WHERE {s.where}"
        " UNION"
        f" SELECT 1, e.execution_id, w.d + 1, {prev} FROM walk w JOIN event e ON e.artifact_id = w.id"
        f" WHERE w.x = 0 AND w.d < ?{a2e}{back_a}{end_a_sql}"
        " UNION"
        f" SELECT 0, e.artifact_id, w.d + 1, {prev} FROM walk w JOIN event e ON e.execution_id = w.id"
        f" WHERE w.x = 1 AND w.d < ?{e2a}{back_e}{end_e_sql}"
        ")"
    )
    params = [*s.all_params, hops, *end_a_params, hops, *end_e_params]
    excluded = []
    for flag, c, ending in ((0, end_a, opts.ending_artifacts), (1, end_e, opts.ending_executions)):
        if c is not None and not ending.include_ending_nodes:
            kind = "artifact" if flag == 0 else "execution"
            excluded.append(f"(g.x = {flag} AND g.d > 0 AND EXISTS (SELECT 1 FROM {kind} n {c.joins} WHERE n.id = g.id AND {c.where}))")
            params += list(c.all_params)
    # `reached` holds the nodes of the graph: (0, artifact id) or (1, execution id); a node's least depth
    # matters only to leave out ending nodes
    if excluded:
        sql += (", reached(x, id) AS (SELECT g.x, g.id FROM (SELECT x, id, MIN(d) AS d FROM walk GROUP BY x, id) g"
                f" WHERE NOT ({' OR '.join(excluded)}))")
    else:
        sql += ", reached(x, id) AS (SELECT DISTINCT x, id FROM walk)"
    return sql, params


def subgraph(conn: sqlite3.Connection, tnames: codec.TypeNames, opts, field_mask_paths=None) -> pb.LineageGraph:
    want = set(field_mask_paths or MASK_FIELDS)
    unknown = want - set(MASK_FIELDS)
    if unknown:
        raise errors.InvalidArgumentError(
            f"unknown field_mask_paths {sorted(unknown)}; lineage graphs have {', '.join(MASK_FIELDS)}"
        )
    sql, params = traversal(opts)
    art_ids: list[int] = []
    exe_ids: list[int] = []
    for x, nid in plain_rows(conn, sql, params):  # plain tuples throughout: no sqlite3.Row per row
        (exe_ids if x else art_ids).append(nid)
    if not art_ids and not exe_ids:
        which = opts.WhichOneof("starting_nodes")
        raise errors.NotFoundError(
            f"no {which[len('starting_'):]} match the starting filter_query {getattr(opts, which).filter_query!r}"
        )
    art_ids.sort()
    exe_ids.sort()
    arts_json, exes_json = codec.json_ids(art_ids), codec.json_ids(exe_ids)
    # Plain queries by id after the walk: cheaper than joining everything onto it in one statement.
    # the nodes are read only for the parts of the graph asked for (themselves or their types)
    artifacts = (load_by_ids(conn, codec.ARTIFACT, art_ids, tnames)
                 if art_ids and want & {"artifacts", "artifact_types"} else [])
    executions = (load_by_ids(conn, codec.EXECUTION, exe_ids, tnames)
                  if exe_ids and want & {"executions", "execution_types"} else [])
    g = pb.LineageGraph()
    if "artifacts" in want:
        g.artifacts._items.extend(artifacts)
    if "executions" in want:
        g.executions._items.extend(executions)
    if "events" in want and art_ids and exe_ids:
        # the executions' events (one index seek each), kept when their artifact is in the graph too
        # (`+`: not one seek per artifact and execution pair)
        rows = plain_rows(
            conn, f"{codec.EVENT_SELECT} WHERE e.execution_id IN (SELECT value FROM json_each(?))"
            " AND +e.artifact_id IN (SELECT value FROM json_each(?)) ORDER BY e.id, p.position",
            (exes_json, arts_json),
        )
        g.events._items.extend(codec.events_from_rows(rows))
    contexts: list = []
    if want & {"contexts", "context_types", "attributions", "associations"}:
        links = plain_rows(
            conn, "SELECT 0, artifact_id, context_id FROM attribution WHERE artifact_id IN (SELECT value FROM json_each(?))"
            " UNION ALL SELECT 1, execution_id, context_id FROM association"
            " WHERE execution_id IN (SELECT value FROM json_each(?)) ORDER BY 1, 3, 2",
            (arts_json, exes_json),
        )
        if links and want & {"contexts", "context_types"}:
            contexts = load_by_ids(conn, codec.CONTEXT, sorted({r[2] for r in links}), tnames)
        if "contexts" in want:
            g.contexts._items.extend(contexts)
        for x, nid, cid in links:
            if x == 0 and "attributions" in want:
                g.attributions._items.append(pb.Attribution._make({"artifact_id": nid, "context_id": cid}))
            elif x == 1 and "associations" in want:
                g.associations._items.append(pb.Association._make({"execution_id": nid, "context_id": cid}))
    type_ids = set()
    if "artifact_types" in want:
        type_ids |= {a._v["type_id"] for a in artifacts}
    if "execution_types" in want:
        type_ids |= {e._v["type_id"] for e in executions}
    if "context_types" in want:
        type_ids |= {c._v["type_id"] for c in contexts}
    if type_ids:
        by_kind = types_by_ids(conn, sorted(type_ids))
        g.artifact_types._items.extend(by_kind.get(codec.ARTIFACT_TYPE, []))
        g.execution_types._items.extend(by_kind.get(codec.EXECUTION_TYPE, []))
        g.context_types._items.extend(by_kind.get(codec.CONTEXT_TYPE, []))
    return g


def load_by_ids(conn: sqlite3.Connection, kind: codec.Kind, ids: list[int], tnames: codec.TypeNames) -> list:
    """Nodes with these ids (in id order) and their properties, in one query."""
    with codec.bulk(len(ids)):
        return _load_by_ids(conn, kind, ids, tnames)


@functools.cache
def _by_ids_sql(kind: codec.Kind) -> str:
    return (f"SELECT {kind.select}, {codec.prop_columns('p')}"
            f" FROM {kind.table} n LEFT JOIN {kind.prop_table} p ON p.{kind.fk} = n.id"
            " WHERE n.id IN (SELECT value FROM json_each(?)) ORDER BY n.id")


def _load_by_ids(conn, kind, ids, tnames):
    return codec.nodes_with_properties(kind, plain_rows(conn, _by_ids_sql(kind), (codec.json_ids(ids),)), tnames)


_TYPES_SQL = (f"SELECT t.kind, {', '.join('t.' + c.strip() for c in codec.TYPE_COLUMNS.split(','))}, p.name, p.data_type"
              " FROM type t LEFT JOIN type_property p ON p.type_id = t.id"
              " WHERE t.id IN (SELECT value FROM json_each(?)) ORDER BY t.id")


def types_by_ids(conn: sqlite3.Connection, ids: list[int]) -> dict[int, list]:
    """Types with these ids, grouped by type kind, in id order."""
    rows = plain_rows(conn, _TYPES_SQL, (codec.json_ids(ids),))
    out: dict[int, list] = {}
    last = None
    props: dict[str, int] = {}
    head = None
    for r in rows:
        if r[1] != last:
            if head is not None:
                out.setdefault(head[0], []).append(codec.type_from_row(codec.KIND_BY_TYPE_KIND[head[0]].type_cls, head[1:7], props))
            head, props, last = r, {}, r[1]
        if r[7] is not None:
            props[r[7]] = r[8]
    if head is not None:
        out.setdefault(head[0], []).append(codec.type_from_row(codec.KIND_BY_TYPE_KIND[head[0]].type_cls, head[1:7], props))
    return out
