"""ML Metadata's message types as pure-Python classes (no protobuf needed).

Field names, numbers of enum values and defaults follow MLMD's public
`metadata_store.proto`, so code written against `ml_metadata.proto.metadata_store_pb2`
reads the same: `metadata_store_pb2.ArtifactType()`, `properties["day"] = metadata_store_pb2.INT`,
`metadata_store_pb2.Event.DECLARED_INPUT`, `ConnectionConfig().fake_database.SetInParent()`.

knit adds one connection variant, `ConnectionConfig(knit=KnitCatalogConfig(home=...))`:
the knit catalog itself, where every datum, run and plan is already recorded.
"""

from __future__ import annotations

import json
from typing import Any as _AnyT

from ._message import (
    EnumType,
    Message,
    f_bool,
    f_bytes,
    f_double,
    f_enum,
    f_int32,
    f_int64,
    f_map,
    f_map_message,
    f_message,
    f_repeated_message,
    f_string,
)

# -- property types -----------------------------------------------------------

PropertyType = EnumType(
    "ml_metadata.PropertyType",
    {"UNKNOWN": 0, "INT": 1, "DOUBLE": 2, "STRING": 3, "STRUCT": 4, "PROTO": 5, "BOOLEAN": 6},
)
UNKNOWN = 0
INT = 1
DOUBLE = 2
STRING = 3
STRUCT = 4
PROTO = 5
BOOLEAN = 6


# -- well-known helpers: Struct and Any ------------------------------------------


def _json_value(v: _AnyT) -> _AnyT:
    """A value a Struct can hold: None, bool, number (as float), str, list, dict."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        return {_struct_key(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, Struct):
        return {k: _json_value(x) for k, x in v.items()}
    raise ValueError(f"a Struct cannot hold {type(v).__name__} {v!r}")


def _struct_key(k) -> str:
    if not isinstance(k, str):
        raise TypeError(f"Struct keys are str, not {type(k).__name__}")
    return k


class Struct(Message):
    """google.protobuf.Struct as a dict of JSON values (numbers are floats, as in protobuf)."""

    FIELDS: list = []

    def _fields(self) -> dict:
        d = self._v.get("fields")
        if d is None:
            d = self._v["fields"] = {}
        return d

    def __getitem__(self, k):
        return self._fields()[k]

    def __setitem__(self, k, v):
        self._fields()[_struct_key(k)] = _json_value(v)
        self._touch()

    def __delitem__(self, k):
        del self._fields()[k]

    def __contains__(self, k):
        return k in self._fields()

    def __len__(self):
        return len(self._fields())

    def __iter__(self):
        return iter(self._fields())

    def keys(self):
        return self._fields().keys()

    def values(self):
        return self._fields().values()

    def items(self):
        return self._fields().items()

    def get(self, k, default=None):
        return self._fields().get(k, default)

    def update(self, other=(), **kw):
        for k, v in dict(other, **kw).items():
            self._fields()[_struct_key(k)] = _json_value(v)
        self._touch()

    def HasField(self, name):
        raise ValueError(f'Protocol message Struct has no "{name}" field.')

    def ClearField(self, name):
        if name != "fields":
            raise ValueError(f'Protocol message Struct has no "{name}" field.')
        self._v.pop("fields", None)

    def Clear(self):
        self._v.pop("fields", None)

    def MergeFrom(self, other):
        if not isinstance(other, Struct):
            raise TypeError(f"Parameter to MergeFrom() must be a Struct, got {type(other).__name__}.")
        self.update(other._fields())

    def _plain(self):
        return dict(self._fields())

    def _norm(self):
        return {"fields": self._fields()}

    def to_json(self) -> str:
        return json.dumps(self._fields(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Struct:
        s = cls()
        s._v["fields"] = json.loads(text)
        return s

    def _text(self, out, pad):
        for k, v in self._fields().items():
            out.append(f"{pad}fields {{\n{pad}  key: {json.dumps(k)}\n{pad}  value: {json.dumps(v)}\n{pad}}}\n")


class Any(Message):
    """google.protobuf.Any: a type URL and the serialized message bytes."""

    FIELDS = [f_string("type_url"), f_bytes("value")]

    def TypeName(self) -> str:
        return self.type_url.rsplit("/", 1)[-1]

    def to_bytes(self) -> bytes:
        """The Any's own protobuf wire encoding (how the store keeps proto_value)."""
        out = bytearray()
        for tag, data in ((0x0A, self.type_url.encode("utf-8")), (0x12, self.value)):
            if data:
                out.append(tag)
                _varint(out, len(data))
                out += data
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        m = cls()
        i = 0
        while i < len(data):
            tag = data[i]
            i += 1
            n, i = _read_varint(data, i)
            chunk = bytes(data[i:i + n])
            i += n
            if tag == 0x0A:
                m.type_url = chunk.decode("utf-8")
            elif tag == 0x12:
                m.value = chunk
        return m


def _varint(out: bytearray, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


# -- values -------------------------------------------------------------------


class Value(Message):
    """One property value; exactly one of the fields is set."""

    FIELDS = [
        f_int64("int_value", oneof="value"),
        f_double("double_value", oneof="value"),
        f_string("string_value", oneof="value"),
        f_message("struct_value", Struct, oneof="value"),
        f_message("proto_value", Any, oneof="value"),
        f_bool("bool_value", oneof="value"),
    ]


# -- types --------------------------------------------------------------------


class ArtifactType(Message):
    SystemDefinedBaseType = EnumType(
        "ml_metadata.ArtifactType.SystemDefinedBaseType",
        {"UNSET": 0, "DATASET": 1, "MODEL": 2, "METRICS": 3, "STATISTICS": 4},
    )
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_string("version"),
        f_string("description"),
        f_string("external_id"),
        f_map("properties", f_enum("", PropertyType)),
        f_enum("base_type", SystemDefinedBaseType),
    ]


class ExecutionType(Message):
    SystemDefinedBaseType = EnumType(
        "ml_metadata.ExecutionType.SystemDefinedBaseType",
        {"UNSET": 0, "TRAIN": 1, "TRANSFORM": 2, "PROCESS": 3, "EVALUATE": 4, "DEPLOY": 5},
    )
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_string("version"),
        f_string("description"),
        f_string("external_id"),
        f_map("properties", f_enum("", PropertyType)),
        f_enum("base_type", SystemDefinedBaseType),
    ]


class ContextType(Message):
    SystemDefinedBaseType = EnumType("ml_metadata.ContextType.SystemDefinedBaseType", {"UNSET": 0})
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_string("version"),
        f_string("description"),
        f_string("external_id"),
        f_map("properties", f_enum("", PropertyType)),
        f_enum("base_type", SystemDefinedBaseType),
    ]


# -- nodes --------------------------------------------------------------------


class Artifact(Message):
    State = EnumType(
        "ml_metadata.Artifact.State",
        {"UNKNOWN": 0, "PENDING": 1, "LIVE": 2, "MARKED_FOR_DELETION": 3, "DELETED": 4, "ABANDONED": 5,
         "REFERENCE": 6},
    )
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_int64("type_id"),
        f_string("type"),
        f_string("uri"),
        f_string("external_id"),
        f_map_message("properties", Value),
        f_map_message("custom_properties", Value),
        f_enum("state", State),
        f_int64("create_time_since_epoch"),
        f_int64("last_update_time_since_epoch"),
        f_message("system_metadata", Any),
    ]


class Execution(Message):
    State = EnumType(
        "ml_metadata.Execution.State",
        {"UNKNOWN": 0, "NEW": 1, "RUNNING": 2, "COMPLETE": 3, "FAILED": 4, "CACHED": 5, "CANCELED": 6},
    )
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_int64("type_id"),
        f_string("type"),
        f_string("external_id"),
        f_enum("last_known_state", State),
        f_map_message("properties", Value),
        f_map_message("custom_properties", Value),
        f_int64("create_time_since_epoch"),
        f_int64("last_update_time_since_epoch"),
        f_message("system_metadata", Any),
    ]


class Context(Message):
    FIELDS = [
        f_int64("id"),
        f_string("name"),
        f_int64("type_id"),
        f_string("type"),
        f_string("external_id"),
        f_map_message("properties", Value),
        f_map_message("custom_properties", Value),
        f_int64("create_time_since_epoch"),
        f_int64("last_update_time_since_epoch"),
        f_message("system_metadata", Any),
    ]


# -- edges --------------------------------------------------------------------


class _Step(Message):
    FIELDS = [f_int64("index", oneof="value"), f_string("key", oneof="value")]


_Step.__name__ = _Step.__qualname__ = "Step"


class _Path(Message):
    Step = _Step
    FIELDS = [f_repeated_message("steps", _Step)]


_Path.__name__ = _Path.__qualname__ = "Path"


class Event(Message):
    Type = EnumType(
        "ml_metadata.Event.Type",
        {"UNKNOWN": 0, "DECLARED_OUTPUT": 1, "DECLARED_INPUT": 2, "INPUT": 3, "OUTPUT": 4, "INTERNAL_INPUT": 5,
         "INTERNAL_OUTPUT": 6, "PENDING_OUTPUT": 7},
    )
    Path = _Path
    FIELDS = [
        f_int64("artifact_id"),
        f_int64("execution_id"),
        f_message("path", _Path),
        f_enum("type", Type),
        f_int64("milliseconds_since_epoch"),
        f_message("system_metadata", Any),
    ]


class Attribution(Message):
    FIELDS = [f_int64("artifact_id"), f_int64("context_id"), f_message("system_metadata", Any)]


class Association(Message):
    FIELDS = [f_int64("execution_id"), f_int64("context_id"), f_message("system_metadata", Any)]


class ParentContext(Message):
    FIELDS = [f_int64("child_id"), f_int64("parent_id"), f_message("system_metadata", Any)]


# -- lineage ------------------------------------------------------------------


class LineageGraph(Message):
    FIELDS = [
        f_repeated_message("artifact_types", ArtifactType),
        f_repeated_message("execution_types", ExecutionType),
        f_repeated_message("context_types", ContextType),
        f_repeated_message("artifacts", Artifact),
        f_repeated_message("executions", Execution),
        f_repeated_message("contexts", Context),
        f_repeated_message("events", Event),
        f_repeated_message("attributions", Attribution),
        f_repeated_message("associations", Association),
        f_repeated_message("parent_contexts", ParentContext),
    ]


class _StartingNodes(Message):
    FIELDS = [f_string("filter_query")]


_StartingNodes.__name__ = _StartingNodes.__qualname__ = "StartingNodes"


class _EndingNodes(Message):
    FIELDS = [f_string("filter_query"), f_bool("include_ending_nodes")]


_EndingNodes.__name__ = _EndingNodes.__qualname__ = "EndingNodes"


class LineageSubgraphQueryOptions(Message):
    Direction = EnumType(
        "ml_metadata.LineageSubgraphQueryOptions.Direction",
        {"DIRECTION_UNSPECIFIED": 0, "UPSTREAM": 1, "DOWNSTREAM": 2, "BIDIRECTIONAL": 3},
    )
    StartingNodes = _StartingNodes
    EndingNodes = _EndingNodes
    FIELDS = [
        f_message("starting_artifacts", _StartingNodes, oneof="starting_nodes"),
        f_message("starting_executions", _StartingNodes, oneof="starting_nodes"),
        f_int64("max_num_hops"),
        f_enum("direction", Direction),
        f_message("ending_artifacts", _EndingNodes),
        f_message("ending_executions", _EndingNodes),
    ]


# -- connection configs ----------------------------------------------------------


class FakeDatabaseConfig(Message):
    """An in-memory database that lives as long as its MetadataStore."""

    FIELDS: list = []


class _SSLOptions(Message):
    FIELDS = [f_string("key"), f_string("cert"), f_string("ca"), f_string("capath"), f_string("cipher"),
              f_bool("verify_server_cert")]


_SSLOptions.__name__ = _SSLOptions.__qualname__ = "SSLOptions"


class MySQLDatabaseConfig(Message):
    """Accepted so MLMD configs parse; knit has no MySQL backend (MetadataStore refuses it)."""

    SSLOptions = _SSLOptions
    FIELDS = [
        f_string("host"),
        f_int64("port"),
        f_string("database"),
        f_string("user"),
        f_string("password"),
        f_string("socket"),
        f_message("ssl_options", _SSLOptions),
        f_bool("skip_db_creation"),
    ]


class SqliteMetadataSourceConfig(Message):
    ConnectionMode = EnumType(
        "ml_metadata.SqliteMetadataSourceConfig.ConnectionMode",
        {"UNKNOWN": 0, "READONLY": 1, "READWRITE": 2, "READWRITE_OPENCREATE": 3},
    )
    FIELDS = [f_string("filename_uri"), f_enum("connection_mode", ConnectionMode)]


class KnitCatalogConfig(Message):
    """knit's own catalog: `home` is a KNIT_HOME (empty: $KNIT_HOME or the default)."""

    FIELDS = [f_string("home"), f_bool("readonly")]


class RetryOptions(Message):
    FIELDS = [f_int32("max_num_retries")]


class ConnectionConfig(Message):
    FIELDS = [
        f_message("fake_database", FakeDatabaseConfig, oneof="config"),
        f_message("mysql", MySQLDatabaseConfig, oneof="config"),
        f_message("sqlite", SqliteMetadataSourceConfig, oneof="config"),
        f_message("knit", KnitCatalogConfig, oneof="config"),
        f_message("retry_options", RetryOptions),
    ]


class MetadataStoreClientConfig(Message):
    """Accepted so MLMD configs parse; knit talks to SQLite directly, never over gRPC."""

    FIELDS = [f_string("host"), f_int64("port")]


__all__ = [
    "PropertyType", "UNKNOWN", "INT", "DOUBLE", "STRING", "STRUCT", "PROTO", "BOOLEAN",
    "Struct", "Any", "Value", "ArtifactType", "ExecutionType", "ContextType", "Artifact", "Execution",
    "Context", "Event", "Attribution", "Association", "ParentContext", "LineageGraph",
    "LineageSubgraphQueryOptions", "FakeDatabaseConfig", "MySQLDatabaseConfig", "SqliteMetadataSourceConfig",
    "KnitCatalogConfig", "RetryOptions", "ConnectionConfig", "MetadataStoreClientConfig",
]
