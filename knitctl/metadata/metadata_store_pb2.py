"""ML Metadata's message types as pure-Python classes (no protobuf needed).

Field names, numbers of enum values and defaults follow MLMD's public
`metadata_store.proto`, so code written against `ml_metadata.proto.metadata_store_pb2`
reads the same: `metadata_store_pb2.ArtifactType()`, `properties["day"] = metadata_store_pb2.INT`,
`metadata_store_pb2.Event.DECLARED_INPUT`, `ConnectionConfig().fake_database.SetInParent()`.

knit adds one connection variant, `ConnectionConfig(knit=KnitCatalogConfig(home=...))`:
the knit catalog itself, where every datum, run and plan is already recorded.

Every field carries its number in MLMD's protos (`n=`), so `knitctl.metadata._wire` reads and
writes the same bytes as ml-metadata; `tests/test_metadata_grpc_wire.py` compares each field's name,
number and type with ml-metadata 1.17.1's own descriptors. knit's additions (the `knit`
connection, a client's `token_file`) use numbers from 1000 up, which MLMD does not use.
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
    f_repeated,
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

    FIELDS = [f_string("type_url", n=1), f_bytes("value", n=2)]

    def TypeName(self) -> str:
        return self.type_url.rsplit("/", 1)[-1]

    def to_bytes(self) -> bytes:
        """The Any's own protobuf wire encoding (how the store keeps proto_value)."""
        return self.SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        return cls.FromString(data)






# -- values -------------------------------------------------------------------


class Value(Message):
    """One property value; exactly one of the fields is set."""

    FIELDS = [
        f_int64("int_value", oneof="value", n=1),
        f_double("double_value", oneof="value", n=2),
        f_string("string_value", oneof="value", n=3),
        f_message("struct_value", Struct, oneof="value", n=4),
        f_message("proto_value", Any, oneof="value", n=5),
        f_bool("bool_value", oneof="value", n=6),
    ]


class SystemTypeExtension(Message):
    FIELDS = [f_string("type_name", n=1)]


# -- types --------------------------------------------------------------------


class ArtifactType(Message):
    SystemDefinedBaseType = EnumType(
        "ml_metadata.ArtifactType.SystemDefinedBaseType",
        {"UNSET": 0, "DATASET": 1, "MODEL": 2, "METRICS": 3, "STATISTICS": 4},
    )
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=2),
        f_string("version", n=4),
        f_string("description", n=5),
        f_string("external_id", n=7),
        f_map("properties", f_enum("", PropertyType), n=3),
        f_enum("base_type", SystemDefinedBaseType, n=6),
    ]


def _struct_type():  # ArtifactStructType's kinds hold ArtifactStructTypes: resolved on first use
    return ArtifactStructType


class UnionArtifactStructType(Message):
    FIELDS = [f_repeated_message("candidates", _struct_type, n=1)]


class IntersectionArtifactStructType(Message):
    FIELDS = [f_repeated_message("constraints", _struct_type, n=1)]


class ListArtifactStructType(Message):
    FIELDS = [f_message("element", _struct_type, n=1)]


class NoneArtifactStructType(Message):
    FIELDS: list = []


class AnyArtifactStructType(Message):
    FIELDS: list = []


class TupleArtifactStructType(Message):
    FIELDS = [f_repeated_message("elements", _struct_type, n=1)]


class DictArtifactStructType(Message):
    FIELDS = [
        f_map_message("properties", _struct_type, n=1),
        f_bool("none_type_not_required", n=2),
        f_message("extra_properties_type", _struct_type, n=3),
    ]


class ArtifactStructType(Message):
    """The shape of an execution type's inputs or outputs (kept and returned as given)."""

    FIELDS = [
        f_message("simple", ArtifactType, oneof="kind", n=1),
        f_message("union_type", UnionArtifactStructType, oneof="kind", n=2),
        f_message("intersection", IntersectionArtifactStructType, oneof="kind", n=3),
        f_message("list", ListArtifactStructType, oneof="kind", n=4),
        f_message("none", NoneArtifactStructType, oneof="kind", n=5),
        f_message("any", AnyArtifactStructType, oneof="kind", n=6),
        f_message("tuple", TupleArtifactStructType, oneof="kind", n=7),
        f_message("dict", DictArtifactStructType, oneof="kind", n=8),
    ]


class ExecutionType(Message):
    SystemDefinedBaseType = EnumType(
        "ml_metadata.ExecutionType.SystemDefinedBaseType",
        {"UNSET": 0, "TRAIN": 1, "TRANSFORM": 2, "PROCESS": 3, "EVALUATE": 4, "DEPLOY": 5},
    )
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=2),
        f_string("version", n=6),
        f_string("description", n=7),
        f_string("external_id", n=9),
        f_map("properties", f_enum("", PropertyType), n=3),
        f_message("input_type", ArtifactStructType, n=4),
        f_message("output_type", ArtifactStructType, n=5),
        f_enum("base_type", SystemDefinedBaseType, n=8),
    ]


class ContextType(Message):
    SystemDefinedBaseType = EnumType("ml_metadata.ContextType.SystemDefinedBaseType", {"UNSET": 0})
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=2),
        f_string("version", n=4),
        f_string("description", n=5),
        f_string("external_id", n=7),
        f_map("properties", f_enum("", PropertyType), n=3),
        f_enum("base_type", SystemDefinedBaseType, n=6),
    ]


# -- nodes --------------------------------------------------------------------


class Artifact(Message):
    State = EnumType(
        "ml_metadata.Artifact.State",
        {"UNKNOWN": 0, "PENDING": 1, "LIVE": 2, "MARKED_FOR_DELETION": 3, "DELETED": 4, "ABANDONED": 5,
         "REFERENCE": 6},
    )
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=7),
        f_int64("type_id", n=2),
        f_string("type", n=8),
        f_string("uri", n=3),
        f_string("external_id", n=11),
        f_map_message("properties", Value, n=4),
        f_map_message("custom_properties", Value, n=5),
        f_enum("state", State, n=6),
        f_int64("create_time_since_epoch", n=9),
        f_int64("last_update_time_since_epoch", n=10),
        f_message("system_metadata", Any, n=12),
    ]


class Execution(Message):
    State = EnumType(
        "ml_metadata.Execution.State",
        {"UNKNOWN": 0, "NEW": 1, "RUNNING": 2, "COMPLETE": 3, "FAILED": 4, "CACHED": 5, "CANCELED": 6},
    )
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=6),
        f_int64("type_id", n=2),
        f_string("type", n=7),
        f_string("external_id", n=10),
        f_enum("last_known_state", State, n=3),
        f_map_message("properties", Value, n=4),
        f_map_message("custom_properties", Value, n=5),
        f_int64("create_time_since_epoch", n=8),
        f_int64("last_update_time_since_epoch", n=9),
        f_message("system_metadata", Any, n=11),
    ]


class Context(Message):
    FIELDS = [
        f_int64("id", n=1),
        f_string("name", n=3),
        f_int64("type_id", n=2),
        f_string("type", n=6),
        f_string("external_id", n=9),
        f_map_message("properties", Value, n=4),
        f_map_message("custom_properties", Value, n=5),
        f_int64("create_time_since_epoch", n=7),
        f_int64("last_update_time_since_epoch", n=8),
        f_message("system_metadata", Any, n=10),
    ]


# -- edges --------------------------------------------------------------------


class _Step(Message):
    FIELDS = [f_int64("index", oneof="value", n=1), f_string("key", oneof="value", n=2)]


_Step.__name__ = _Step.__qualname__ = "Step"


class _Path(Message):
    Step = _Step
    FIELDS = [f_repeated_message("steps", _Step, n=1)]


_Path.__name__ = _Path.__qualname__ = "Path"


class Event(Message):
    Type = EnumType(
        "ml_metadata.Event.Type",
        {"UNKNOWN": 0, "DECLARED_OUTPUT": 1, "DECLARED_INPUT": 2, "INPUT": 3, "OUTPUT": 4, "INTERNAL_INPUT": 5,
         "INTERNAL_OUTPUT": 6, "PENDING_OUTPUT": 7},
    )
    Path = _Path
    FIELDS = [
        f_int64("artifact_id", n=1),
        f_int64("execution_id", n=2),
        f_message("path", _Path, n=3),
        f_enum("type", Type, n=4),
        f_int64("milliseconds_since_epoch", n=5),
        f_message("system_metadata", Any, n=6),
    ]


class Attribution(Message):
    FIELDS = [f_int64("artifact_id", n=1), f_int64("context_id", n=2), f_message("system_metadata", Any, n=3)]


class Association(Message):
    FIELDS = [f_int64("execution_id", n=1), f_int64("context_id", n=2), f_message("system_metadata", Any, n=3)]


class ParentContext(Message):
    FIELDS = [f_int64("child_id", n=1), f_int64("parent_id", n=2), f_message("system_metadata", Any, n=3)]


# -- lineage ------------------------------------------------------------------


class LineageGraph(Message):
    FIELDS = [
        f_repeated_message("artifact_types", ArtifactType, n=1),
        f_repeated_message("execution_types", ExecutionType, n=2),
        f_repeated_message("context_types", ContextType, n=3),
        f_repeated_message("artifacts", Artifact, n=4),
        f_repeated_message("executions", Execution, n=5),
        f_repeated_message("contexts", Context, n=6),
        f_repeated_message("events", Event, n=7),
        f_repeated_message("attributions", Attribution, n=8),
        f_repeated_message("associations", Association, n=9),
        f_repeated_message("parent_contexts", ParentContext, n=10),
    ]


class _StartingNodes(Message):
    FIELDS = [f_string("filter_query", n=1)]


_StartingNodes.__name__ = _StartingNodes.__qualname__ = "StartingNodes"


class _EndingNodes(Message):
    FIELDS = [f_string("filter_query", n=1), f_bool("include_ending_nodes", n=2)]


_EndingNodes.__name__ = _EndingNodes.__qualname__ = "EndingNodes"


class LineageSubgraphQueryOptions(Message):
    Direction = EnumType(
        "ml_metadata.LineageSubgraphQueryOptions.Direction",
        {"DIRECTION_UNSPECIFIED": 0, "UPSTREAM": 1, "DOWNSTREAM": 2, "BIDIRECTIONAL": 3},
    )
    StartingNodes = _StartingNodes
    EndingNodes = _EndingNodes
    FIELDS = [
        f_message("starting_artifacts", _StartingNodes, oneof="starting_nodes", n=1),
        f_message("starting_executions", _StartingNodes, oneof="starting_nodes", n=2),
        f_int64("max_num_hops", n=3),
        f_enum("direction", Direction, n=4),
        f_message("ending_artifacts", _EndingNodes, n=5),
        f_message("ending_executions", _EndingNodes, n=6),
    ]


# -- listing options (the gRPC service's paging) ------------------------------------


class _OrderByField(Message):
    Field = EnumType(
        "ml_metadata.ListOperationOptions.OrderByField.Field",
        {"FIELD_UNSPECIFIED": 0, "CREATE_TIME": 1, "LAST_UPDATE_TIME": 2, "ID": 3},
    )
    FIELDS = [f_enum("field", Field, default=3, n=1), f_bool("is_asc", default=True, n=2)]


_OrderByField.__name__ = _OrderByField.__qualname__ = "OrderByField"


class ListOperationOptions(Message):
    OrderByField = _OrderByField
    FIELDS = [
        f_int32("max_result_size", default=20, n=1),
        f_message("order_by_field", _OrderByField, n=2),
        f_string("next_page_token", n=3),
        f_string("filter_query", n=4),
    ]


class ListOperationNextPageToken(Message):
    FIELDS = [
        f_int64("id_offset", n=1),
        f_int64("field_offset", n=2),
        f_message("set_options", ListOperationOptions, n=3),
        f_repeated("listed_ids", f_int64(""), n=4),
    ]


class TransactionOptions(Message):
    """Accepted on every request; knit runs each call in one transaction of its own (extensions are skipped)."""

    FIELDS = [f_string("tag", n=1)]


class _BoundaryConstraint(Message):
    FIELDS = [f_int64("max_num_hops", n=1), f_string("boundary_artifacts", n=2), f_string("boundary_executions", n=3)]


_BoundaryConstraint.__name__ = _BoundaryConstraint.__qualname__ = "BoundaryConstraint"


class LineageGraphQueryOptions(Message):
    BoundaryConstraint = _BoundaryConstraint
    FIELDS = [
        f_message("artifacts_options", ListOperationOptions, oneof="query_nodes", n=1),
        f_message("stop_conditions", _BoundaryConstraint, n=2),
        f_int64("max_node_size", n=3, default=20),
    ]


# -- connection configs ----------------------------------------------------------


class FakeDatabaseConfig(Message):
    """An in-memory database that lives as long as its MetadataStore."""

    FIELDS: list = []


class _SSLOptions(Message):
    FIELDS = [f_string("key", n=1), f_string("cert", n=2), f_string("ca", n=3), f_string("capath", n=4),
              f_string("cipher", n=5), f_bool("verify_server_cert", n=6)]


_SSLOptions.__name__ = _SSLOptions.__qualname__ = "SSLOptions"


class MySQLDatabaseConfig(Message):
    """Accepted so MLMD configs parse; knit has no MySQL backend (MetadataStore refuses it)."""

    SSLOptions = _SSLOptions
    FIELDS = [
        f_string("host", n=1),
        f_int64("port", n=2),
        f_string("database", n=3),
        f_string("user", n=4),
        f_string("password", n=5),
        f_string("socket", n=6),
        f_message("ssl_options", _SSLOptions, n=7),
        f_bool("skip_db_creation", n=8),
    ]


class _PgSSLOptions(Message):
    FIELDS = [f_string("sslmode", n=1), f_string("sslcert", n=2), f_string("sslkey", n=3),
              f_string("sslpassword", n=4), f_string("sslrootcert", n=5)]


_PgSSLOptions.__name__ = _PgSSLOptions.__qualname__ = "SSLOptions"


class PostgreSQLDatabaseConfig(Message):
    """Accepted so MLMD configs parse; knit has no PostgreSQL backend (MetadataStore refuses it)."""

    SSLOptions = _PgSSLOptions
    FIELDS = [
        f_string("host", n=1),
        f_string("hostaddr", n=2),
        f_string("port", n=3),
        f_string("user", n=4),
        f_string("password", n=5),
        f_string("passfile", n=6),
        f_string("dbname", n=7),
        f_bool("skip_db_creation", n=8),
        f_message("ssloption", _PgSSLOptions, n=9),
    ]


class SqliteMetadataSourceConfig(Message):
    ConnectionMode = EnumType(
        "ml_metadata.SqliteMetadataSourceConfig.ConnectionMode",
        {"UNKNOWN": 0, "READONLY": 1, "READWRITE": 2, "READWRITE_OPENCREATE": 3},
    )
    FIELDS = [f_string("filename_uri", n=1), f_enum("connection_mode", ConnectionMode, n=2)]


class KnitCatalogConfig(Message):
    """knit's own catalog: `home` is a KNIT_HOME (empty: $KNIT_HOME or the default)."""

    FIELDS = [f_string("home", n=1), f_bool("readonly", n=2)]


class MigrationOptions(Message):
    FIELDS = [f_bool("enable_upgrade_migration", n=3), f_int64("downgrade_to_schema_version", n=2, default=-1)]


class RetryOptions(Message):
    FIELDS = [f_int64("max_num_retries", n=1)]


class ConnectionConfig(Message):
    FIELDS = [
        f_message("fake_database", FakeDatabaseConfig, oneof="config", n=1),
        f_message("mysql", MySQLDatabaseConfig, oneof="config", n=2),
        f_message("sqlite", SqliteMetadataSourceConfig, oneof="config", n=3),
        f_message("postgresql", PostgreSQLDatabaseConfig, oneof="config", n=5),
        f_message("knit", KnitCatalogConfig, oneof="config", n=1000),
        f_message("retry_options", RetryOptions, n=4),
    ]


class GrpcChannelArguments(Message):
    FIELDS = [f_int64("max_receive_message_length", n=1), f_int64("http2_max_ping_strikes", n=2)]


class _ClientSSLConfig(Message):
    """PEM text (not file names): the client's key and certificate for mutual TLS, and the CA to trust."""

    FIELDS = [f_string("client_key", n=1), f_string("server_cert", n=2), f_string("custom_ca", n=3)]


_ClientSSLConfig.__name__ = _ClientSSLConfig.__qualname__ = "SSLConfig"


class MetadataStoreClientConfig(Message):
    """A metadata server to talk to over gRPC (`knitctl metadata serve`, or ml-metadata's own server).

    knit's addition: `token_file` names a file holding the bearer token the server asks for.
    """

    SSLConfig = _ClientSSLConfig
    FIELDS = [
        f_string("host", n=1),
        f_int64("port", n=2),
        f_message("ssl_config", _ClientSSLConfig, n=3),
        f_message("channel_arguments", GrpcChannelArguments, n=4),
        f_double("client_timeout_sec", n=5),
        f_string("token_file", n=1000),
    ]


class _ServerSSLConfig(Message):
    FIELDS = [f_string("server_key", n=1), f_string("server_cert", n=2), f_string("custom_ca", n=3),
              f_bool("client_verify", n=4)]


_ServerSSLConfig.__name__ = _ServerSSLConfig.__qualname__ = "SSLConfig"


class MetadataStoreServerConfig(Message):
    """What `knitctl metadata serve --config FILE` reads (text format), as ml-metadata's server does."""

    SSLConfig = _ServerSSLConfig
    FIELDS = [
        f_message("connection_config", ConnectionConfig, n=1),
        f_message("migration_options", MigrationOptions, n=3),
        f_message("ssl_config", _ServerSSLConfig, n=2),
    ]


__all__ = [
    "PropertyType", "UNKNOWN", "INT", "DOUBLE", "STRING", "STRUCT", "PROTO", "BOOLEAN",
    "Struct", "Any", "Value", "SystemTypeExtension", "ArtifactType", "ExecutionType", "ContextType",
    "ArtifactStructType", "UnionArtifactStructType", "IntersectionArtifactStructType", "ListArtifactStructType",
    "NoneArtifactStructType", "AnyArtifactStructType", "TupleArtifactStructType", "DictArtifactStructType",
    "Artifact", "Execution", "Context", "Event", "Attribution", "Association", "ParentContext", "LineageGraph",
    "LineageSubgraphQueryOptions", "ListOperationOptions", "ListOperationNextPageToken", "TransactionOptions",
    "LineageGraphQueryOptions", "FakeDatabaseConfig", "MySQLDatabaseConfig", "PostgreSQLDatabaseConfig",
    "SqliteMetadataSourceConfig", "KnitCatalogConfig", "MigrationOptions", "RetryOptions", "ConnectionConfig",
    "GrpcChannelArguments", "MetadataStoreClientConfig", "MetadataStoreServerConfig",
]
