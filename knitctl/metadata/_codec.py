"""Rows of the catalog's MLMD tables <-> message objects.

Reads build messages through `Message._make` (no per-field checks: the
values come from the catalog), which keeps listing 100,000 nodes fast.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..catalog.db import plain_rows
from . import errors
from . import metadata_store_pb2 as pb
from ._message import FieldSpec, MessageMap, RepeatedMessage, ScalarMap

# MLMD TypeKind, as stored in type.kind
EXECUTION_TYPE, ARTIFACT_TYPE, CONTEXT_TYPE = 0, 1, 2

VALUE_FIELD_TYPE = {
    "int_value": pb.INT,
    "double_value": pb.DOUBLE,
    "string_value": pb.STRING,
    "struct_value": pb.STRUCT,
    "proto_value": pb.PROTO,
    "bool_value": pb.BOOLEAN,
}


@dataclass(frozen=True)
class Kind:
    """One node kind: its table, message class and type kind."""

    name: str  # artifact / execution / context
    type_kind: int
    cls: type
    type_cls: type
    columns: tuple[str, ...]  # after id, type_id: the kind's own columns, then times
    mask_fields: tuple[str, ...]  # message fields a field mask may name (besides properties)

    @property
    def table(self) -> str:
        return self.name

    @property
    def prop_table(self) -> str:
        return f"{self.name}_property"

    @property
    def fk(self) -> str:
        return f"{self.name}_id"

    @functools.cached_property
    def select(self) -> str:
        return "n.id, n.type_id, " + ", ".join(f"n.{c}" for c in self.columns) + ", n.create_time_ms, n.update_time_ms"

    @functools.cached_property
    def insert_sql(self) -> str:
        marks = ", ".join("?" * len(self.columns))
        return (f"INSERT INTO {self.table}(type_id, {', '.join(self.columns)}, create_time_ms, update_time_ms) "
                f"VALUES (?, {marks}, ?, ?)")

    @functools.cached_property
    def prop_insert_sql(self) -> str:
        return f"INSERT INTO {self.prop_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

    @functools.cached_property
    def stored_sql(self) -> str:
        """A node's type_id and columns, then one row per property (NULLs when it has none)."""
        return (f"SELECT n.type_id, {', '.join('n.' + c for c in self.columns)}, p.name, p.is_custom, p.int_value, "
                f"p.double_value, p.string_value, p.struct_value, p.proto_value, p.bool_value FROM {self.table} n "
                f"LEFT JOIN {self.prop_table} p ON p.{self.fk} = n.id WHERE n.id = ?")

    @functools.cached_property
    def update_sql(self) -> str:
        sets = ", ".join(f"{c} = ?" for c in self.columns)
        return f"UPDATE {self.table} SET {sets}, update_time_ms = ? WHERE id = ?"


ARTIFACT = Kind("artifact", ARTIFACT_TYPE, pb.Artifact, pb.ArtifactType, ("uri", "state", "name", "external_id"),
                ("uri", "state", "name", "external_id"))
EXECUTION = Kind("execution", EXECUTION_TYPE, pb.Execution, pb.ExecutionType, ("last_known_state", "name", "external_id"),
                 ("last_known_state", "name", "external_id"))
CONTEXT = Kind("context", CONTEXT_TYPE, pb.Context, pb.ContextType, ("name", "external_id"), ("name", "external_id"))
KINDS = {k.name: k for k in (ARTIFACT, EXECUTION, CONTEXT)}
KIND_BY_TYPE_KIND = {k.type_kind: k for k in (ARTIFACT, EXECUTION, CONTEXT)}

_A_PROPS = pb.Artifact._FIELDS["properties"]
_A_CUSTOM = pb.Artifact._FIELDS["custom_properties"]
_E_PROPS = pb.Execution._FIELDS["properties"]
_E_CUSTOM = pb.Execution._FIELDS["custom_properties"]
_C_PROPS = pb.Context._FIELDS["properties"]
_C_CUSTOM = pb.Context._FIELDS["custom_properties"]
_PROP_SPECS = {"artifact": (_A_PROPS, _A_CUSTOM), "execution": (_E_PROPS, _E_CUSTOM), "context": (_C_PROPS, _C_CUSTOM)}

_make_value = pb.Value._make
BULK_ROWS = 512


@contextlib.contextmanager
def bulk(rows: int = BULK_ROWS + 1):
    """Pause the cyclic garbage collector while many messages are built.

    Building 100,000 messages allocates millions of objects; with the collector on,
    its passes over the growing heap cost four times the building itself.
    """
    if rows <= BULK_ROWS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # What was built is kept (it is the answer): move it to the oldest generation at once, as
            # if it had survived, rather than have the next young collection walk every new object
            # (a tenth of a second for 100,000 artifacts). Skipped when the program froze objects itself.
            gc.freeze()
            gc.unfreeze()
        gc.enable()


# -- values -------------------------------------------------------------------


def value_columns(v: pb.Value) -> tuple[int, tuple]:
    """(property type, (int, double, string, struct, proto, bool)) of a Value; type 0 when empty."""
    for field, x in v._v.items():
        if field == "int_value":
            return pb.INT, (x, None, None, None, None, None)
        if field == "string_value":
            return pb.STRING, (None, None, x, None, None, None)
        if field == "double_value":
            return pb.DOUBLE, (None, x, None, None, None, None)
        if field == "bool_value":
            return pb.BOOLEAN, (None, None, None, None, None, 1 if x else 0)
        if field == "struct_value":
            return pb.STRUCT, (None, None, None, x.to_json(), None, None)
        if field == "proto_value":
            return pb.PROTO, (None, None, None, None, x.to_bytes(), None)
    return pb.UNKNOWN, (None, None, None, None, None, None)


# -- nodes ----------------------------------------------------------------------


class TypeNames:
    """type id -> name, filled on demand (types are never renamed)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.names: dict[int, str] = {}

    def __call__(self, type_id: int) -> str:
        n = self.names.get(type_id)
        if n is None:
            for tid, name in self.conn.execute("SELECT id, name FROM type"):
                self.names[tid] = name
            n = self.names.get(type_id, "")
        return n


def node_from_row(kind: Kind, r, tname: TypeNames):
    """A message from a row of `kind.select`."""
    if kind is ARTIFACT:
        # id, type_id, uri, state, name, external_id, ct, ut
        v = {"id": r[0], "type_id": r[1], "type": tname(r[1]), "create_time_since_epoch": r[6],
             "last_update_time_since_epoch": r[7]}
        if r[2] is not None:
            v["uri"] = r[2]
        if r[3] is not None:
            v["state"] = r[3]
        if r[4] is not None:
            v["name"] = r[4]
        if r[5] is not None:
            v["external_id"] = r[5]
        return pb.Artifact._make(v)
    if kind is EXECUTION:
        # id, type_id, last_known_state, name, external_id, ct, ut
        v = {"id": r[0], "type_id": r[1], "type": tname(r[1]), "create_time_since_epoch": r[5],
             "last_update_time_since_epoch": r[6]}
        if r[2] is not None:
            v["last_known_state"] = r[2]
        if r[3] is not None:
            v["name"] = r[3]
        if r[4] is not None:
            v["external_id"] = r[4]
        return pb.Execution._make(v)
    # id, type_id, name, external_id, ct, ut
    v = {"id": r[0], "type_id": r[1], "type": tname(r[1]), "name": r[2], "create_time_since_epoch": r[4],
         "last_update_time_since_epoch": r[5]}
    if r[3] is not None:
        v["external_id"] = r[3]
    return pb.Context._make(v)


# A property row's value as one column plus a tag saying which field it is (fewer columns to fetch).
VALUE_TAG = ("CASE WHEN {p}.int_value IS NOT NULL THEN 1 WHEN {p}.string_value IS NOT NULL THEN 3"
             " WHEN {p}.double_value IS NOT NULL THEN 2 WHEN {p}.bool_value IS NOT NULL THEN 6"
             " WHEN {p}.struct_value IS NOT NULL THEN 4 WHEN {p}.proto_value IS NOT NULL THEN 5 ELSE 0 END")
VALUE_COLUMN = "coalesce({p}.int_value, {p}.string_value, {p}.double_value, {p}.bool_value, {p}.struct_value, {p}.proto_value)"


def prop_columns(alias: str) -> str:
    """name, value, tag of property rows under `alias`: the tag is VALUE_TAG, plus 8 for a custom property."""
    return (f"{alias}.name, {VALUE_COLUMN.format(p=alias)}, "
            f"{VALUE_TAG.format(p=alias)} + CASE WHEN {alias}.is_custom THEN 8 ELSE 0 END")


def _value(val, tag) -> pb.Value:
    if tag == 1:
        return _make_value({"int_value": val})
    if tag == 3:
        return _make_value({"string_value": val})
    if tag == 2:
        return _make_value({"double_value": float(val)})
    if tag == 6:
        return _make_value({"bool_value": bool(val)})
    if tag == 4:
        return _make_value({"struct_value": pb.Struct.from_json(val)})
    if tag == 5:
        return _make_value({"proto_value": pb.Any.from_bytes(val)})
    return _make_value({})


def attach_properties(kind: Kind, nodes_by_id: dict, rows) -> None:
    """Rows of (node_id, name, value, tag) (`prop_columns`), grouped by node, into the nodes' property maps."""
    pspec, cspec = _PROP_SPECS[kind.name]
    value_cls = pb.Value
    new_value = value_cls.__new__
    new_map = MessageMap.__new__
    last = None
    node = pd = cd = None  # the node, the dicts of its properties and custom properties maps
    for nid, name, val, tag in rows:
        if nid != last:
            last = nid
            node = nodes_by_id.get(nid)
            if node is None:
                continue
            v = node._v
            m = v.get("properties")
            pd = None if m is None else m._d
            m = v.get("custom_properties")
            cd = None if m is None else m._d
        elif node is None:
            continue
        t = tag & 7
        if t == 1 or t == 3:  # the common cases, built inline (Value._make without the call)
            value = new_value(value_cls)
            value._v = {"int_value": val} if t == 1 else {"string_value": val}
            value._lazy = value._parent = value._pname = None
        else:
            value = _value(val, t)
        if tag < 8:
            if pd is None:
                m = new_map(MessageMap)
                m._owner, m._spec, m._d = None, pspec, {}
                node._v["properties"] = m
                pd = m._d
            pd[name] = value
        else:
            if cd is None:
                m = new_map(MessageMap)
                m._owner, m._spec, m._d = None, cspec, {}
                node._v["custom_properties"] = m
                cd = m._d
            cd[name] = value


def nodes_with_properties(kind: Kind, rows, tname: TypeNames) -> list:
    """Messages from rows of `kind.select` + `prop_columns` (a LEFT JOIN: one row per property, the
    node's columns repeated), grouped by node; node_from_row and attach_properties in one pass."""
    if kind is CONTEXT:  # contexts keep node_from_row's field order (their name always set)
        by_id: dict = {}
        props = []
        n = 2 + len(kind.columns) + 2
        for r in rows:
            if r[0] not in by_id:
                by_id[r[0]] = node_from_row(kind, r, tname)
            if r[n] is not None:
                props.append((r[0], r[n], r[n + 1], r[n + 2]))
        if props:
            attach_properties(kind, by_id, props)
        return list(by_id.values())
    cls: Any = kind.cls
    new = cls.__new__
    value_cls = pb.Value
    new_value = value_cls.__new__
    new_map = MessageMap.__new__
    pspec, cspec = _PROP_SPECS[kind.name]
    optional = list(enumerate(kind.columns, 2))
    ct = 2 + len(kind.columns)
    p = ct + 2
    names = tname.names
    out: list = []
    last = None
    v: dict = {}
    pd = cd = None
    for r in rows:
        nid = r[0]
        if nid != last:  # a node's first row: the node (as node_from_row makes it)
            last = nid
            t = r[1]
            tn = names.get(t)
            if tn is None:
                tn = tname(t)
            v = {"id": nid, "type_id": t, "type": tn, "create_time_since_epoch": r[ct],
                 "last_update_time_since_epoch": r[ct + 1]}
            for i, col in optional:
                x = r[i]
                if x is not None:
                    v[col] = x
            m = new(cls)
            m._v = v
            m._lazy = m._parent = m._pname = None
            out.append(m)
            pd = cd = None
        name = r[p]
        if name is None:
            continue
        val, tag = r[p + 1], r[p + 2]
        k = tag & 7
        if k == 1 or k == 3:  # as attach_properties
            value = new_value(value_cls)
            value._v = {"int_value": val} if k == 1 else {"string_value": val}
            value._lazy = value._parent = value._pname = None
        else:
            value = _value(val, k)
        if tag < 8:
            if pd is None:
                pm = new_map(MessageMap)
                pm._owner, pm._spec, pm._d = None, pspec, {}
                v["properties"] = pm
                pd = pm._d
            pd[name] = value
        else:
            if cd is None:
                cm = new_map(MessageMap)
                cm._owner, cm._spec, cm._d = None, cspec, {}
                v["custom_properties"] = cm
                cd = cm._d
            cd[name] = value
    return out


def property_rows(kind: Kind, conn: sqlite3.Connection, ids: list[int]):
    """The property rows of nodes `ids` (sorted), in one query, grouped by node."""
    if not ids:
        return []
    cols = f"p.{kind.fk}, {prop_columns('p')}"
    table = f"{kind.prop_table} p"
    if len(ids) == 1:
        return plain_rows(conn, f"SELECT {cols} FROM {table} WHERE p.{kind.fk} = ?", (ids[0],))
    lo, hi = ids[0], ids[-1]
    if hi - lo < 4 * len(ids):  # dense: one range scan of the primary key, extra rows dropped by the caller
        return plain_rows(conn, f"SELECT {cols} FROM {table} WHERE p.{kind.fk} BETWEEN ? AND ?", (lo, hi))
    return plain_rows(
        conn, f"SELECT {cols} FROM {table} WHERE p.{kind.fk} IN (SELECT value FROM json_each(?)) ORDER BY p.{kind.fk}",
        (_json_ids(ids),),
    )


def _json_ids(ids) -> str:
    return "[" + ",".join(map(str, ids)) + "]"


json_ids = _json_ids


def load_nodes(kind: Kind, conn: sqlite3.Connection, rows, tname: TypeNames) -> list:
    """Messages for node rows (of `kind.select`), with their properties."""
    with bulk(len(rows)):
        if kind is ARTIFACT:
            nodes = _artifacts(rows, tname)
        else:
            nodes = [node_from_row(kind, r, tname) for r in rows]
        if nodes:
            by_id = {n._v["id"]: n for n in nodes}
            attach_properties(kind, by_id, property_rows(kind, conn, sorted(by_id)))
    return nodes


def _artifacts(rows, tname: TypeNames) -> list:
    """node_from_row for many artifacts, inlined (listings of 100,000 spend their time here)."""
    names = tname.names
    cls = pb.Artifact
    new = cls.__new__
    out: list[pb.Artifact] = []
    append = out.append
    for i, t, uri, state, name, ext, ct, ut in rows:
        tn = names.get(t)
        if tn is None:
            tn = tname(t)
        v = {"id": i, "type_id": t, "type": tn, "create_time_since_epoch": ct, "last_update_time_since_epoch": ut}
        if uri is not None:
            v["uri"] = uri
        if state is not None:
            v["state"] = state
        if name is not None:
            v["name"] = name
        if ext is not None:
            v["external_id"] = ext
        m = new(cls)
        m._v = v
        m._lazy = m._parent = m._pname = None
        append(m)
    return out


# -- types ------------------------------------------------------------------------

_TYPE_PROPS: dict[type, FieldSpec] = {cls: cls._FIELDS["properties"] for cls in (pb.ArtifactType, pb.ExecutionType, pb.ContextType)}


def type_from_row(cls: type, r, props: dict[str, int]):
    """r: id, name, version, description, external_id, base_type."""
    v = {"id": r[0], "name": r[1]}
    if r[2] is not None:
        v["version"] = r[2]
    if r[3] is not None:
        v["description"] = r[3]
    if r[4] is not None:
        v["external_id"] = r[4]
    if r[5]:
        v["base_type"] = r[5]
    t = cls._make(v)
    if props:
        m = ScalarMap(None, _TYPE_PROPS[cls])
        m._d = props
        t._v["properties"] = m
    return t


TYPE_COLUMNS = "id, name, version, description, external_id, base_type"


def load_types(conn: sqlite3.Connection, kind: Kind, where: str, params=()) -> list:
    rows = conn.execute(f"SELECT {TYPE_COLUMNS} FROM type WHERE kind = ? AND {where} ORDER BY id",
                        (kind.type_kind, *params)).fetchall()
    if not rows:
        return []
    props: dict[int, dict[str, int]] = {r[0]: {} for r in rows}
    for tid, name, dt in conn.execute(
        "SELECT type_id, name, data_type FROM type_property WHERE type_id IN (SELECT value FROM json_each(?))",
        (_json_ids(props),),
    ):
        props[tid][name] = dt
    return [type_from_row(kind.type_cls, r, props[r[0]]) for r in rows]


# -- events -----------------------------------------------------------------------


def events_from_rows(rows) -> list[pb.Event]:
    """Rows of (id, artifact_id, execution_id, type, ms, position, is_index_step, step_index, step_key), by id."""
    out: list[pb.Event] = []
    last_id = None
    ev = None
    steps = None
    for eid, aid, xid, typ, ms, pos, is_index, idx, key in rows:
        if eid != last_id:
            v = {"artifact_id": aid, "execution_id": xid, "type": typ}
            if ms is not None:
                v["milliseconds_since_epoch"] = ms
            ev = pb.Event._make(v)
            out.append(ev)
            last_id = eid
            steps = None
        if pos is not None:
            assert ev is not None  # made from this event's first row, above
            if steps is None:
                path = _Path._make({})
                steps = path._v["steps"] = RepeatedMessage(None, _STEPS)
                ev._v["path"] = path
            steps._items.append(_Step._make({"index": idx} if is_index else {"key": key}))
    return out


_Path = pb.Event.Path
_Step = pb.Event.Path.Step
_STEPS = _Path._FIELDS["steps"]


EVENT_SELECT = (
    "SELECT e.id, e.artifact_id, e.execution_id, e.type, e.milliseconds_since_epoch, "
    "p.position, p.is_index_step, p.step_index, p.step_key "
    "FROM event e LEFT JOIN event_path p ON p.event_id = e.id"
)


def check_value_type(kind: Kind, type_props: dict[str, int], name: str, v: pb.Value, custom: bool) -> tuple[int, tuple]:
    ptype, cols = value_columns(v)
    if custom:
        return ptype, cols
    declared = type_props.get(name)
    if declared is None:
        raise errors.InvalidArgumentError(
            f"{kind.name} property {name!r} is not declared by its type (declared: "
            f"{', '.join(sorted(type_props)) or 'none'}); declare it, or use custom_properties"
        )
    if ptype != declared:
        # "Found unmatched property type" is ml-metadata's wording, which callers match on.
        raise errors.InvalidArgumentError(
            f"Found unmatched property type: {name}: {kind.name} property {name!r} is declared "
            f"{pb.PropertyType.Name(declared)} but the value given is {pb.PropertyType.Name(ptype) if ptype else 'empty'}"
        )
    return ptype, cols
