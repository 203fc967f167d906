"""Using an SQLite store written by ml-metadata itself (its schema version 10, as 1.17.1 writes it).

Its journal mode is left as ml-metadata set it, and opened read-only nothing is written. On the
connection, TEMP views named like knit's metadata tables (`type`, `artifact`, `artifact_property`,
`event_path`, ...) present ml-metadata's tables (`Type`, `Artifact`, `ArtifactProperty`,
`EventPath`, ...) in knit's shape, so every read of `MetadataStore` works on them unchanged (SQLite
looks an unqualified name up in `temp` before `main`). The views translate:

- columns: `type_kind` → `kind`, `*_since_epoch` → `*_ms`, `is_custom_property` → `is_custom`;
- ml-metadata's built-in types (`mlmd.Dataset` ... `mlmd.Deploy`) are hidden, as ml-metadata hides
  them, and a type's link to one of them (`ParentType`) becomes its `base_type`;
- a struct value (`string_value` "mlmd-struct::" + base64 of a protobuf Struct) becomes knit's JSON;
  a proto value (base64 of a protobuf Any) becomes the Any's bytes;
- an event path's steps keep the order ml-metadata wrote them in (EventPath rows by rowid, which the
  view gives as `position`).

Writes (opened read-write) go the other way: `_Writer` rewrites each of MetadataStore's
INSERT/UPDATE/DELETE statements onto ml-metadata's table, with the same translations.
"""

from __future__ import annotations

import base64
import json
import operator
import re
import sqlite3
from typing import cast

from ..catalog import openfiles
from ..catalog.db import Transactions, inserted_id
from ..catalog.mlmd_tables import BASE_TYPE_NAMES as _BASE_TYPE_NAMES
from ..catalog.mlmd_tables import SCHEMA_VERSION, SYSTEM_TYPES, create_tables
from . import errors
from ._wire import decode_struct, encode_struct

STRUCT_PREFIX = "mlmd-struct::"

def is_mlmd_store(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'MLMDEnv'").fetchone() is not None


def stored_string(string_value, struct_value):
    """What ml-metadata keeps in string_value: the string, or a struct as "mlmd-struct::" + base64."""
    if struct_value is None:
        return string_value
    return STRUCT_PREFIX + base64.b64encode(encode_struct(json.loads(struct_value))).decode("ascii")


def stored_proto(value):
    """What ml-metadata keeps in proto_value: the base64 text of the Any's encoding."""
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def struct_json(text: str | None) -> str | None:
    """ml-metadata's stored struct ("mlmd-struct::" + base64) as knit's JSON; None for anything else."""
    if not isinstance(text, str) or not text.startswith(STRUCT_PREFIX):
        return None
    return json.dumps(decode_struct(base64.b64decode(text[len(STRUCT_PREFIX):])), sort_keys=True, separators=(",", ":"))


def plain_string(text):
    return None if isinstance(text, str) and text.startswith(STRUCT_PREFIX) else text


def proto_bytes(value) -> bytes | None:
    """ml-metadata's stored proto value (base64 text of an Any's encoding) as the Any's bytes."""
    if value is None:
        return None
    raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw


# -- the views ----------------------------------------------------------------------------------------


def _props(kind: str, fk: str) -> str:
    struct = f"substr(string_value, 1, {len(STRUCT_PREFIX)}) = '{STRUCT_PREFIX}'"
    # plain SQL for the common rows; a Python function only for the rare struct and proto values
    return f"""CREATE TEMP VIEW {kind}_property AS SELECT {fk}, name, is_custom_property AS is_custom, int_value,
        double_value, CASE WHEN {struct} THEN NULL ELSE string_value END AS string_value,
        CASE WHEN {struct} THEN knit_mlmd_struct(string_value) END AS struct_value,
        CASE WHEN proto_value IS NOT NULL THEN knit_mlmd_proto(proto_value) END AS proto_value, bool_value
        FROM main.{kind.capitalize()}Property"""


def _node(kind: str, extra: str) -> str:
    return f"""CREATE TEMP VIEW {kind} AS SELECT id, type_id, {extra} name, external_id,
        create_time_since_epoch AS create_time_ms, last_update_time_since_epoch AS update_time_ms
        FROM main.{kind.capitalize()}"""


_system = ", ".join(f"'{n}'" for n in SYSTEM_TYPES)
_base = " ".join(f"WHEN '{n}' THEN {v}" for n, v in SYSTEM_TYPES.items())
VIEWS = [
    f"""CREATE TEMP VIEW type AS SELECT t.id, t.type_kind AS kind, t.name, t.version, t.description, t.external_id,
        t.input_type, t.output_type,
        (SELECT CASE p.name {_base} END FROM main.ParentType pt JOIN main.Type p ON p.id = pt.parent_type_id
         WHERE pt.type_id = t.id AND p.name IN ({_system})) AS base_type
        FROM main.Type t WHERE t.name NOT IN ({_system})""",
    "CREATE TEMP VIEW type_property AS SELECT type_id, name, data_type FROM main.TypeProperty",
    f"""CREATE TEMP VIEW parent_type AS SELECT pt.type_id, pt.parent_type_id FROM main.ParentType pt
        JOIN main.Type p ON p.id = pt.parent_type_id WHERE p.name NOT IN ({_system})""",
    _node("artifact", "uri, state,"),
    _node("execution", "last_known_state,"),
    _node("context", ""),
    _props("artifact", "artifact_id"),
    _props("execution", "execution_id"),
    _props("context", "context_id"),
    "CREATE TEMP VIEW event AS SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM main.Event",
    # `position` orders an event's steps (ml-metadata keeps them in row order); it is the row's rowid, not a
    # 0-based count, so the view stays a plain projection SQLite folds into each query (a window function
    # would make it read the whole table every time)
    """CREATE TEMP VIEW event_path AS SELECT event_id, rowid AS position, is_index_step, step_index, step_key
        FROM main.EventPath""",
    "CREATE TEMP VIEW attribution AS SELECT id, context_id, artifact_id FROM main.Attribution",
    "CREATE TEMP VIEW association AS SELECT id, context_id, execution_id FROM main.Association",
    "CREATE TEMP VIEW parent_context AS SELECT context_id, parent_context_id FROM main.ParentContext",
]


# -- writes: knit's INSERT/UPDATE/DELETE statements rewritten onto ml-metadata's tables ------------------
#
# The views can't take writes (a TEMP trigger can't name `main.Artifact`, and unqualified it would be
# the view itself), so the connection handed to MetadataStore rewrites each write statement once
# (cached) into one on ml-metadata's table, translating its columns and values.

_TABLES = {
    "type": "Type", "type_property": "TypeProperty", "parent_type": "ParentType", "artifact": "Artifact",
    "execution": "Execution", "context": "Context", "artifact_property": "ArtifactProperty",
    "execution_property": "ExecutionProperty", "context_property": "ContextProperty", "event": "Event",
    "event_path": "EventPath", "attribution": "Attribution", "association": "Association",
    "parent_context": "ParentContext",
}
_COLUMNS = {"kind": "type_kind", "create_time_ms": "create_time_since_epoch",
            "update_time_ms": "last_update_time_since_epoch", "is_custom": "is_custom_property"}
_PROP_COLUMNS = ("name", "is_custom", "int_value", "double_value", "string_value", "struct_value", "proto_value",
                 "bool_value")
# Rows a new row must point at (ml-metadata's tables declare no foreign keys; knit's do).
_REFERENCES = {"context_id": "Context", "artifact_id": "Artifact", "execution_id": "Execution",
               "parent_context_id": "Context", "type_id": "Type", "event_id": "Event"}
_INSERT = re.compile(r"INSERT\s+(OR\s+IGNORE\s+)?INTO\s+(\w+)\s*(?:\(([^)]*)\))?\s*VALUES\s*\(([?,\s]*)\)$", re.I | re.S)
_UPDATE = re.compile(r"UPDATE\s+(\w+)\s+SET\s+(.*?)\s+WHERE\s+id\s*=\s*\?$", re.I | re.S)
_DELETE = re.compile(r"DELETE\s+FROM\s+(\w+)\s+WHERE\s+(.*)$", re.I | re.S)


class _Done:
    """What a rewritten write statement returns: the cursor attributes MetadataStore reads."""

    def __init__(self, lastrowid: int | None, rowcount: int):
        self.lastrowid, self.rowcount = lastrowid, rowcount

    def fetchone(self):
        return None

    def fetchall(self):
        return []


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


# Rows whose references are checked before they are written (ml-metadata's tables declare no foreign
# keys): the edges. A node's type and a property's node were read or written just before by MetadataStore.
_CHECKED = {"event", "attribution", "association", "parent_context"}


class _Insert:
    """One of MetadataStore's INSERT statements, rewritten once onto ml-metadata's table: the statement
    to run and how to turn its parameters into the new one's."""

    def __init__(self, table: str, ignore: bool, columns: str | None):
        cols = [f"{table[:-len('_property')]}_id", *_PROP_COLUMNS] if columns is None else _names(columns)
        self.table, self.cols = table, cols
        self.base_type = cols.index("base_type") if table == "type" and "base_type" in cols else None
        self.kind = cols.index("kind") if table == "type" else None
        self.prop = table.endswith("_property") and table != "type_property"
        dropped = {"base_type"} if table == "type" else {"position"} if table == "event_path" else set()
        if self.prop:
            dropped.add("struct_value")
            self.string, self.struct, self.proto = (cols.index(c) if c in cols else None
                                                    for c in ("string_value", "struct_value", "proto_value"))
        self.keep = [i for i, c in enumerate(cols) if c not in dropped]
        self.refs = [(i, _REFERENCES[c], c) for i, c in enumerate(cols) if c in _REFERENCES] if table in _CHECKED else []
        # one query answering for every reference of the row: which of them are missing
        self.check_sql = "SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM main.{t} WHERE id = ?)" for _, t, _ in self.refs)
        # every column kept as given (most tables): the parameters pass through untouched
        self.plain = not self.prop and len(self.keep) == len(cols)
        self.pick = operator.itemgetter(*self.keep) if len(self.keep) > 1 else (lambda p: (p[self.keep[0]],))
        names = ", ".join(_COLUMNS.get(cols[i], cols[i]) for i in self.keep)
        self.sql = (f"INSERT {'OR IGNORE ' if ignore else ''}INTO main.{_TABLES[table]}({names}) "
                    f"VALUES ({', '.join('?' * len(self.keep))})")

    def row(self, params):
        if self.plain:
            return params
        if self.prop:
            struct, proto = self.struct, self.proto
            if (struct is None or params[struct] is None) and (proto is None or params[proto] is None):
                return self.pick(params)  # a plain value: nothing to translate
        p = list(params)
        if self.prop:
            if self.string is not None or self.struct is not None:
                struct = p[self.struct] if self.struct is not None else None
                if struct is not None:
                    p[self.string] = stored_string(p[self.string] if self.string is not None else None, struct)
            if self.proto is not None and p[self.proto] is not None:
                p[self.proto] = stored_proto(p[self.proto])
        return [p[i] for i in self.keep]


_READ, _NEW = object(), object()


def execute_known(conn, sql: str, params):
    """`conn.execute(sql, params)` for an INSERT whose referenced rows the caller knows exist."""
    if isinstance(conn, _Writer):
        return conn.execute_known(sql, params)
    return conn.execute(sql, params)


class _Writer:
    """A connection that answers reads itself and rewrites knit's writes onto ml-metadata's tables."""

    def __init__(self, raw: sqlite3.Connection):
        self._raw = raw
        self._plans: dict[str, _Insert | None] = {}
        self._seen: dict[str, object] = {}  # statement -> _READ, or its INSERT's plan

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def _plan(self, sql: str) -> _Insert | None:
        if sql in self._plans:
            return self._plans[sql]
        m = _INSERT.match(sql.strip())
        plan = _Insert(m.group(2).lower(), bool(m.group(1)), m.group(3)) if m else None
        self._plans[sql] = plan
        return plan

    def execute(self, sql: str, params=()):
        # one dict lookup for a statement seen before: a read passes through, an INSERT has its plan
        plan = self._seen.get(sql, _NEW)
        if plan is _READ:
            return self._raw.execute(sql, params)
        if plan is _NEW:
            head = sql.lstrip()[:6].upper()
            if head not in ("INSERT", "UPDATE", "DELETE"):
                if len(self._seen) > 2048:  # statements built from filters vary; keep the map small
                    self._seen.clear()
                self._seen[sql] = _READ
                return self._raw.execute(sql, params)
            plan = self._plan(sql) if head == "INSERT" else None
            if plan is not None:
                self._seen[sql] = plan
        if plan is not None:
            return self._insert(cast(_Insert, plan), params)
        text = sql.strip()
        m = _UPDATE.match(text)
        if m:
            sets = [part.split("=")[0].strip() for part in m.group(2).split(",")]
            return self._update(m.group(1).lower(), sets, list(params))
        m = _DELETE.match(text)
        if m:
            table = m.group(1).lower()
            conds = [c.split("=")[0].strip() for c in re.split(r"\s+AND\s+", m.group(2), flags=re.I)]
            where = " AND ".join(f"{_COLUMNS.get(c, c)} = ?" for c in conds)
            cur = self._raw.execute(f"DELETE FROM main.{_TABLES[table]} WHERE {where}", params)
            return _Done(None, cur.rowcount)
        raise errors.UnimplementedError(f"knit cannot yet write this to an ml-metadata store: {text[:80]}")

    def executemany(self, sql: str, seq):
        head = sql.lstrip()[:6].upper()
        if head not in ("INSERT", "UPDATE", "DELETE"):
            return self._raw.executemany(sql, seq)
        plan = self._plan(sql) if head == "INSERT" else None
        if plan is not None and not plan.refs and plan.base_type is None:
            cur = self._raw.executemany(plan.sql, [plan.row(params) for params in seq])
            return _Done(None, cur.rowcount)
        n = 0
        for params in seq:
            n += self.execute(sql, params).rowcount
        return _Done(None, n)

    def execute_known(self, sql: str, params):
        """An INSERT whose caller vouches that the rows it points at exist (it has just written or read
        them in this transaction), so their check is skipped."""
        plan = self._plan(sql)
        if plan is None:
            return self.execute(sql, params)
        return self._insert(plan, params, check=False)

    def _insert(self, plan: _Insert, params, check: bool = True):
        if check and plan.refs:
            found = self._raw.execute(plan.check_sql, [params[i] for i, _, _ in plan.refs]).fetchone()
            for (i, _, col), there in zip(plan.refs, found):
                if not there and params[i] is not None:
                    raise sqlite3.IntegrityError(f"FOREIGN KEY constraint failed ({col} {params[i]})")
        cur = self._raw.execute(plan.sql, plan.row(params))
        new_id = cur.lastrowid
        if plan.base_type is not None and params[plan.base_type]:
            assert plan.kind is not None
            self._set_base_type(inserted_id(cur), params[plan.kind], params[plan.base_type])
        return _Done(new_id, cur.rowcount)

    def _update(self, table: str, sets: list[str], params: list):
        values, row_id = dict(zip(sets, params[:-1])), params[-1]
        if table == "type" and "base_type" in values:
            kind = self._raw.execute("SELECT type_kind FROM main.Type WHERE id = ?", (row_id,)).fetchone()[0]
            self._set_base_type(row_id, kind, values.pop("base_type"))
        if not values:
            return _Done(None, 1)
        assignments = ", ".join(f"{_COLUMNS.get(c, c)} = ?" for c in values)
        cur = self._raw.execute(f"UPDATE main.{_TABLES[table]} SET {assignments} WHERE id = ?", [*values.values(), row_id])
        return _Done(None, cur.rowcount)

    def _set_base_type(self, type_id: int, kind: int, base_type: int | None) -> None:
        """ml-metadata keeps a base type as a ParentType link to its built-in type of that name."""
        system = ", ".join(f"'{n}'" for n in SYSTEM_TYPES)
        self._raw.execute(
            f"DELETE FROM main.ParentType WHERE type_id = ? AND parent_type_id IN "
            f"(SELECT id FROM main.Type WHERE name IN ({system}))", (type_id,))
        name = _BASE_TYPE_NAMES.get(kind, {}).get(base_type or 0)
        if name:
            self._raw.execute(
                "INSERT INTO main.ParentType(type_id, parent_type_id) SELECT ?, id FROM main.Type WHERE name = ? AND type_kind = ?",
                (type_id, name, kind))


def present(raw: sqlite3.Connection) -> sqlite3.Connection:
    """The connection, in knit's shape: the TEMP views over ml-metadata's tables, and a stand-in that
    rewrites MetadataStore's writes onto them (reads pass through)."""
    raw.execute("PRAGMA temp_store = MEMORY")
    raw.create_function("knit_mlmd_struct", 1, struct_json, deterministic=True)
    raw.create_function("knit_mlmd_plain", 1, plain_string, deterministic=True)
    raw.create_function("knit_mlmd_proto", 1, proto_bytes, deterministic=True)
    for view in VIEWS:
        raw.execute(view)
    return cast(sqlite3.Connection, _Writer(raw))


class MlmdFile(Transactions):
    """A connection to an ml-metadata SQLite store, in knit's shape (what MetadataStore needs of a
    Catalog: `conn`, `read()`, `write()`, `close()`). Read-only unless `writable`; its journal mode
    stays what ml-metadata set."""

    def __init__(self, path: str, *, writable: bool = False, busy_timeout_ms: int = 60_000):
        self.path = path
        self.writable = writable
        raw = sqlite3.connect(f"file:{path}?mode={'rw' if writable else 'ro'}", uri=True, isolation_level=None,
                                    check_same_thread=False)
        self._held = openfiles.opened(path)  # no header read in this process may close it now (openfiles)
        try:
            row = raw.execute("SELECT schema_version FROM MLMDEnv").fetchone()
            version = row[0] if row else None
            if version != SCHEMA_VERSION:
                how = ("upgrade it by opening it once with ml-metadata 1.17.1 and enable_upgrade_migration=True"
                       if version is not None and version < SCHEMA_VERSION else "open it with the ml-metadata that wrote it")
                raise errors.FailedPreconditionError(
                    f"cannot open {path}: it is an ml-metadata store of schema version {version}; knit reads version "
                    f"{SCHEMA_VERSION} (ml-metadata 1.17.1's): {how}"
                )
            raw.row_factory = sqlite3.Row
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self.conn = present(raw)
        except BaseException:
            raw.close()
            openfiles.closed(self._held)
            self._held = None
            raise

    def _check_writable(self) -> None:
        if not self.writable:
            raise errors.PermissionDeniedError(
                f"the store is read-only ({self.path}); open it with connection_mode READWRITE to write"
            )

    def close(self) -> None:
        self.conn.close()
        openfiles.closed(self._held)
        self._held = None


# -- a new, empty store in ml-metadata's format -----------------------------------------------------

def create(path: str) -> None:
    """Make a new, empty ml-metadata store (schema 10, with its built-in types) at `path`, which must not
    exist or be empty; FailedPreconditionError otherwise."""
    import os

    if os.path.exists(path) and os.path.getsize(path) > 0:
        raise errors.FailedPreconditionError(f"{path} exists already; give the path of a new file")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        create_tables(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
