"""Reading an SQLite store written by ml-metadata itself (its schema version 10, as 1.17.1 writes it).

The file is opened read-only and never written: not its tables, not its journal mode. On that
connection, TEMP views named like knit's metadata tables (`type`, `artifact`, `artifact_property`,
`event_path`, ...) present ml-metadata's tables (`Type`, `Artifact`, `ArtifactProperty`,
`EventPath`, ...) in knit's shape, so every read of `MetadataStore` works on them unchanged (SQLite
looks an unqualified name up in `temp` before `main`). The views translate:

- columns: `type_kind` → `kind`, `*_since_epoch` → `*_ms`, `is_custom_property` → `is_custom`;
- ml-metadata's built-in types (`mlmd.Dataset` ... `mlmd.Deploy`) are hidden, as ml-metadata hides
  them, and a type's link to one of them (`ParentType`) becomes its `base_type`;
- a struct value (`string_value` "mlmd-struct::" + base64 of a protobuf Struct) becomes knit's JSON;
  a proto value (base64 of a protobuf Any) becomes the Any's bytes;
- an event path's steps keep the order ml-metadata wrote them in (EventPath rows by rowid).
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import struct
from typing import Iterator

from . import errors

SCHEMA_VERSION = 10
STRUCT_PREFIX = "mlmd-struct::"
# ml-metadata's built-in types and the base_type value each stands for.
SYSTEM_TYPES = {
    "mlmd.Dataset": 1, "mlmd.Model": 2, "mlmd.Metrics": 3, "mlmd.Statistics": 4,
    "mlmd.Train": 1, "mlmd.Transform": 2, "mlmd.Process": 3, "mlmd.Evaluate": 4, "mlmd.Deploy": 5,
}


def is_mlmd_store(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'MLMDEnv'").fetchone() is not None


# -- protobuf wire decoding of google.protobuf.Struct (pure functions) -------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message's encoding: ints for varints, bytes for lengths."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(data, i)
            value, i = data[i:i + n], i + n
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _value(data: bytes):
    out = None
    for number, _, v in _fields(data):
        if number == 1:
            out = None
        elif number == 2:
            out = struct.unpack("<d", v)[0]
        elif number == 3:
            out = v.decode("utf-8")
        elif number == 4:
            out = bool(v)
        elif number == 5:
            out = decode_struct(v)
        elif number == 6:
            out = [_value(item) for n, _, item in _fields(v) if n == 1]
    return out


def decode_struct(data: bytes) -> dict:
    """A google.protobuf.Struct's wire encoding as the plain dict it holds."""
    out = {}
    for number, _, entry in _fields(data):
        if number != 1:
            continue
        key, value = "", None
        for n, _, v in _fields(entry):
            if n == 1:
                key = v.decode("utf-8")
            elif n == 2:
                value = _value(v)
        out[key] = value
    return out


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
    return f"""CREATE TEMP VIEW {kind}_property AS SELECT {fk}, name, is_custom_property AS is_custom, int_value,
        double_value, knit_mlmd_plain(string_value) AS string_value, knit_mlmd_struct(string_value) AS struct_value,
        knit_mlmd_proto(proto_value) AS proto_value, bool_value FROM main.{kind.capitalize()}Property"""


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
    """CREATE TEMP VIEW event_path AS SELECT event_id,
        row_number() OVER (PARTITION BY event_id ORDER BY rowid) - 1 AS position, is_index_step, step_index, step_key
        FROM main.EventPath""",
    "CREATE TEMP VIEW attribution AS SELECT id, context_id, artifact_id FROM main.Attribution",
    "CREATE TEMP VIEW association AS SELECT id, context_id, execution_id FROM main.Association",
    "CREATE TEMP VIEW parent_context AS SELECT context_id, parent_context_id FROM main.ParentContext",
]


class MlmdFile:
    """A read-only connection to an ml-metadata SQLite store, in knit's shape (what MetadataStore
    needs of a Catalog: `conn`, `read()`, `write()`, `close()`)."""

    def __init__(self, path: str):
        self.path = path
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        try:
            row = self.conn.execute("SELECT schema_version FROM MLMDEnv").fetchone()
            version = row[0] if row else None
            if version != SCHEMA_VERSION:
                how = ("upgrade it by opening it once with ml-metadata 1.17.1 and enable_upgrade_migration=True"
                       if version is not None and version < SCHEMA_VERSION else "open it with the ml-metadata that wrote it")
                raise errors.FailedPreconditionError(
                    f"cannot open {path}: it is an ml-metadata store of schema version {version}; knit reads version "
                    f"{SCHEMA_VERSION} (ml-metadata 1.17.1's): {how}"
                )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA temp_store = MEMORY")
            self.conn.create_function("knit_mlmd_struct", 1, struct_json, deterministic=True)
            self.conn.create_function("knit_mlmd_plain", 1, plain_string, deterministic=True)
            self.conn.create_function("knit_mlmd_proto", 1, proto_bytes, deterministic=True)
            for view in VIEWS:
                self.conn.execute(view)
        except BaseException:
            self.conn.close()
            raise

    _depth = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (nested calls join the outer one)."""
        if self._depth:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield self.conn
        finally:
            self._depth = 0
            self.conn.execute("COMMIT")

    def write(self):
        raise errors.PermissionDeniedError(
            f"{self.path} is an ml-metadata store, which knit reads but does not write yet; "
            "write to it with ml-metadata, or record into a knit store"
        )

    def close(self) -> None:
        self.conn.close()
