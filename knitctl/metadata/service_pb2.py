"""ML Metadata's gRPC service, `ml_metadata.MetadataStoreService`: its requests and responses.

knit's own definitions of the messages in ml-metadata's `metadata_store_service.proto` (names,
field numbers and types are the interface: the real client sends and reads these bytes). They are
written by hand with `_message`'s helpers and kept in step by `tests/test_metadata_grpc_wire.py`,
which compares every message's fields (name, number, type, label) with ml-metadata 1.17.1's own
descriptors and round-trips each one through the real protobuf classes.

`METHODS` lists the service's RPCs in the proto's order; `request_type(name)` and
`response_type(name)` give their message classes.
"""

from __future__ import annotations

from . import metadata_store_pb2 as pb
from ._message import (
    Message,
    f_bool,
    f_int32,
    f_int64,
    f_map_message,
    f_message,
    f_repeated,
    f_repeated_message,
    f_string,
)

SERVICE = "ml_metadata.MetadataStoreService"


class FieldMask(Message):
    """google.protobuf.FieldMask: the paths of the fields an update or a read is limited to."""

    FIELDS = [f_repeated("paths", f_string(""), n=1)]


class ArtifactAndType(Message):
    FIELDS = [
        f_message("artifact", pb.Artifact, n=1),
        f_message("type", pb.ArtifactType, n=2),
    ]


def _artifact_struct():  # ArtifactStruct holds maps and lists of ArtifactStructs: resolved on first use
    return ArtifactStruct


class ArtifactStructMap(Message):
    FIELDS = [f_map_message("properties", _artifact_struct, n=1)]


class ArtifactStructList(Message):
    FIELDS = [f_repeated_message("elements", _artifact_struct, n=1)]


class ArtifactStruct(Message):
    FIELDS = [
        f_message("artifact", ArtifactAndType, oneof="value", n=1),
        f_message("map", ArtifactStructMap, oneof="value", n=2),
        f_message("list", ArtifactStructList, oneof="value", n=3),
    ]


class PutArtifactsRequest(Message):
    class Options(Message):
        FIELDS = [f_bool("abort_if_latest_updated_time_changed", n=1)]

    FIELDS = [
        f_repeated_message("artifacts", pb.Artifact, n=1),
        f_message("options", Options, n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
        f_message("update_mask", FieldMask, n=4),
    ]


class PutArtifactsResponse(Message):
    FIELDS = [f_repeated("artifact_ids", f_int64(""), n=1)]


class PutArtifactTypeRequest(Message):
    FIELDS = [
        f_message("artifact_type", pb.ArtifactType, n=1),
        f_bool("can_add_fields", n=2),
        f_bool("can_omit_fields", n=5),
        f_bool("can_delete_fields", n=3),
        f_bool("all_fields_match", default=True, n=4),
        f_message("transaction_options", pb.TransactionOptions, n=6),
    ]


class PutArtifactTypeResponse(Message):
    FIELDS = [f_int64("type_id", n=1)]


class PutExecutionsRequest(Message):
    FIELDS = [
        f_repeated_message("executions", pb.Execution, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
        f_message("update_mask", FieldMask, n=3),
    ]


class PutExecutionsResponse(Message):
    FIELDS = [f_repeated("execution_ids", f_int64(""), n=1)]


class PutExecutionTypeRequest(Message):
    FIELDS = [
        f_message("execution_type", pb.ExecutionType, n=1),
        f_bool("can_add_fields", n=2),
        f_bool("can_omit_fields", n=5),
        f_bool("can_delete_fields", n=3),
        f_bool("all_fields_match", default=True, n=4),
        f_message("transaction_options", pb.TransactionOptions, n=6),
    ]


class PutExecutionTypeResponse(Message):
    FIELDS = [f_int64("type_id", n=1)]


class PutEventsRequest(Message):
    FIELDS = [
        f_repeated_message("events", pb.Event, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class PutEventsResponse(Message):
    FIELDS: list = []


class PutExecutionRequest(Message):
    class ArtifactAndEvent(Message):
        FIELDS = [
            f_message("artifact", pb.Artifact, n=1),
            f_message("event", pb.Event, n=2),
        ]

    class Options(Message):
        FIELDS = [
            f_bool("reuse_context_if_already_exist", n=1),
            f_bool("reuse_artifact_if_already_exist_by_external_id", n=2),
            f_bool("force_update_time", n=3),
            f_bool("force_reuse_context", n=4),
        ]

    FIELDS = [
        f_message("execution", pb.Execution, n=1),
        f_repeated_message("artifact_event_pairs", ArtifactAndEvent, n=2),
        f_repeated_message("contexts", pb.Context, n=3),
        f_message("options", Options, n=4),
        f_message("transaction_options", pb.TransactionOptions, n=5),
    ]


class PutExecutionResponse(Message):
    FIELDS = [
        f_int64("execution_id", n=1),
        f_repeated("artifact_ids", f_int64(""), n=2),
        f_repeated("context_ids", f_int64(""), n=3),
    ]


class PutLineageSubgraphRequest(Message):
    class EventEdge(Message):
        FIELDS = [
            f_int32("execution_index", n=1),
            f_int32("artifact_index", n=2),
            f_message("event", pb.Event, n=3),
        ]

    class Options(Message):
        FIELDS = [
            f_bool("reuse_context_if_already_exist", n=1),
            f_bool("reuse_artifact_if_already_exist_by_external_id", n=2),
        ]

    FIELDS = [
        f_repeated_message("executions", pb.Execution, n=1),
        f_repeated_message("artifacts", pb.Artifact, n=2),
        f_repeated_message("contexts", pb.Context, n=3),
        f_repeated_message("event_edges", EventEdge, n=4),
        f_message("options", Options, n=5),
        f_message("transaction_options", pb.TransactionOptions, n=6),
    ]


class PutLineageSubgraphResponse(Message):
    FIELDS = [
        f_repeated("execution_ids", f_int64(""), n=1),
        f_repeated("artifact_ids", f_int64(""), n=2),
        f_repeated("context_ids", f_int64(""), n=3),
    ]


class PutTypesRequest(Message):
    FIELDS = [
        f_repeated_message("artifact_types", pb.ArtifactType, n=1),
        f_repeated_message("execution_types", pb.ExecutionType, n=2),
        f_repeated_message("context_types", pb.ContextType, n=3),
        f_bool("can_add_fields", n=4),
        f_bool("can_omit_fields", n=7),
        f_bool("can_delete_fields", n=5),
        f_bool("all_fields_match", default=True, n=6),
        f_message("transaction_options", pb.TransactionOptions, n=8),
    ]


class PutTypesResponse(Message):
    FIELDS = [
        f_repeated("artifact_type_ids", f_int64(""), n=1),
        f_repeated("execution_type_ids", f_int64(""), n=2),
        f_repeated("context_type_ids", f_int64(""), n=3),
    ]


class PutContextTypeRequest(Message):
    FIELDS = [
        f_message("context_type", pb.ContextType, n=1),
        f_bool("can_add_fields", n=2),
        f_bool("can_omit_fields", n=5),
        f_bool("can_delete_fields", n=3),
        f_bool("all_fields_match", default=True, n=4),
        f_message("transaction_options", pb.TransactionOptions, n=6),
    ]


class PutContextTypeResponse(Message):
    FIELDS = [f_int64("type_id", n=1)]


class PutContextsRequest(Message):
    FIELDS = [
        f_repeated_message("contexts", pb.Context, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
        f_message("update_mask", FieldMask, n=3),
    ]


class PutContextsResponse(Message):
    FIELDS = [f_repeated("context_ids", f_int64(""), n=1)]


class PutAttributionsAndAssociationsRequest(Message):
    FIELDS = [
        f_repeated_message("attributions", pb.Attribution, n=1),
        f_repeated_message("associations", pb.Association, n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class PutAttributionsAndAssociationsResponse(Message):
    FIELDS: list = []


class PutParentContextsRequest(Message):
    FIELDS = [
        f_repeated_message("parent_contexts", pb.ParentContext, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class PutParentContextsResponse(Message):
    FIELDS: list = []


class GetArtifactsByTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=2),
        f_message("options", pb.ListOperationOptions, n=3),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetArtifactsByTypeResponse(Message):
    FIELDS = [
        f_repeated_message("artifacts", pb.Artifact, n=1),
        f_string("next_page_token", n=2),
    ]


class GetArtifactByTypeAndNameRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=3),
        f_string("artifact_name", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetArtifactByTypeAndNameResponse(Message):
    FIELDS = [f_message("artifact", pb.Artifact, n=1)]


class GetArtifactsByIDRequest(Message):
    FIELDS = [
        f_repeated("artifact_ids", f_int64(""), n=1),
        f_bool("populate_artifact_types", n=3),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetArtifactsByIDResponse(Message):
    FIELDS = [
        f_repeated_message("artifacts", pb.Artifact, n=1),
        f_repeated_message("artifact_types", pb.ArtifactType, n=2),
    ]


class GetArtifactsRequest(Message):
    FIELDS = [
        f_message("options", pb.ListOperationOptions, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetArtifactsResponse(Message):
    FIELDS = [
        f_repeated_message("artifacts", pb.Artifact, n=1),
        f_string("next_page_token", n=2),
    ]


class GetArtifactsByURIRequest(Message):
    FIELDS = [
        f_repeated("uris", f_string(""), n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetArtifactsByURIResponse(Message):
    FIELDS = [f_repeated_message("artifacts", pb.Artifact, n=1)]


class GetExecutionsRequest(Message):
    FIELDS = [
        f_message("options", pb.ListOperationOptions, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetExecutionsResponse(Message):
    FIELDS = [
        f_repeated_message("executions", pb.Execution, n=1),
        f_string("next_page_token", n=2),
    ]


class GetArtifactTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetArtifactTypeResponse(Message):
    FIELDS = [f_message("artifact_type", pb.ArtifactType, n=1)]


class GetArtifactTypesRequest(Message):
    FIELDS = [f_message("transaction_options", pb.TransactionOptions, n=1)]


class GetArtifactTypesResponse(Message):
    FIELDS = [f_repeated_message("artifact_types", pb.ArtifactType, n=1)]


class GetExecutionTypesRequest(Message):
    FIELDS = [f_message("transaction_options", pb.TransactionOptions, n=1)]


class GetExecutionTypesResponse(Message):
    FIELDS = [f_repeated_message("execution_types", pb.ExecutionType, n=1)]


class GetContextTypesRequest(Message):
    FIELDS = [f_message("transaction_options", pb.TransactionOptions, n=1)]


class GetContextTypesResponse(Message):
    FIELDS = [f_repeated_message("context_types", pb.ContextType, n=1)]


class GetArtifactsByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetArtifactsByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("artifacts", pb.Artifact, n=1)]


class GetExecutionsByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetExecutionsByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("executions", pb.Execution, n=1)]


class GetContextsByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextsByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetArtifactTypesByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetArtifactTypesByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("artifact_types", pb.ArtifactType, n=1)]


class GetExecutionTypesByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetExecutionTypesByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("execution_types", pb.ExecutionType, n=1)]


class GetContextTypesByExternalIdsRequest(Message):
    FIELDS = [
        f_repeated("external_ids", f_string(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextTypesByExternalIdsResponse(Message):
    FIELDS = [f_repeated_message("context_types", pb.ContextType, n=1)]


class GetExecutionsByTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=2),
        f_message("options", pb.ListOperationOptions, n=3),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetExecutionsByTypeResponse(Message):
    FIELDS = [
        f_repeated_message("executions", pb.Execution, n=1),
        f_string("next_page_token", n=2),
    ]


class GetExecutionByTypeAndNameRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=3),
        f_string("execution_name", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetExecutionByTypeAndNameResponse(Message):
    FIELDS = [f_message("execution", pb.Execution, n=1)]


class GetExecutionsByIDRequest(Message):
    FIELDS = [
        f_repeated("execution_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetExecutionsByIDResponse(Message):
    FIELDS = [f_repeated_message("executions", pb.Execution, n=1)]


class GetExecutionTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetExecutionTypeResponse(Message):
    FIELDS = [f_message("execution_type", pb.ExecutionType, n=1)]


class GetEventsByExecutionIDsRequest(Message):
    FIELDS = [
        f_repeated("execution_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetEventsByExecutionIDsResponse(Message):
    FIELDS = [f_repeated_message("events", pb.Event, n=1)]


class GetEventsByArtifactIDsRequest(Message):
    FIELDS = [
        f_repeated("artifact_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetEventsByArtifactIDsResponse(Message):
    FIELDS = [f_repeated_message("events", pb.Event, n=1)]


class GetArtifactTypesByIDRequest(Message):
    FIELDS = [
        f_repeated("type_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetArtifactTypesByIDResponse(Message):
    FIELDS = [f_repeated_message("artifact_types", pb.ArtifactType, n=1)]


class GetExecutionTypesByIDRequest(Message):
    FIELDS = [
        f_repeated("type_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetExecutionTypesByIDResponse(Message):
    FIELDS = [f_repeated_message("execution_types", pb.ExecutionType, n=1)]


class GetContextTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetContextTypeResponse(Message):
    FIELDS = [f_message("context_type", pb.ContextType, n=1)]


class GetContextTypesByIDRequest(Message):
    FIELDS = [
        f_repeated("type_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextTypesByIDResponse(Message):
    FIELDS = [f_repeated_message("context_types", pb.ContextType, n=1)]


class GetContextsRequest(Message):
    FIELDS = [
        f_message("options", pb.ListOperationOptions, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextsResponse(Message):
    FIELDS = [
        f_repeated_message("contexts", pb.Context, n=1),
        f_string("next_page_token", n=2),
    ]


class GetContextsByTypeRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_message("options", pb.ListOperationOptions, n=2),
        f_string("type_version", n=3),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetContextsByTypeResponse(Message):
    FIELDS = [
        f_repeated_message("contexts", pb.Context, n=1),
        f_string("next_page_token", n=2),
    ]


class GetContextByTypeAndNameRequest(Message):
    FIELDS = [
        f_string("type_name", n=1),
        f_string("type_version", n=3),
        f_string("context_name", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=4),
    ]


class GetContextByTypeAndNameResponse(Message):
    FIELDS = [f_message("context", pb.Context, n=1)]


class GetContextsByIDRequest(Message):
    FIELDS = [
        f_repeated("context_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextsByIDResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetContextsByArtifactRequest(Message):
    FIELDS = [
        f_int64("artifact_id", n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextsByArtifactResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetContextsByExecutionRequest(Message):
    FIELDS = [
        f_int64("execution_id", n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetContextsByExecutionResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetParentContextsByContextRequest(Message):
    FIELDS = [
        f_int64("context_id", n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetParentContextsByContextResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetChildrenContextsByContextRequest(Message):
    FIELDS = [
        f_int64("context_id", n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetChildrenContextsByContextResponse(Message):
    FIELDS = [f_repeated_message("contexts", pb.Context, n=1)]


class GetParentContextsByContextsRequest(Message):
    FIELDS = [
        f_repeated("context_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class _ParentContextsPerChild(Message):
    FIELDS = [f_repeated_message("parent_contexts", pb.Context, n=1)]


_ParentContextsPerChild.__name__ = _ParentContextsPerChild.__qualname__ = "ParentContextsPerChild"


class GetParentContextsByContextsResponse(Message):
    """`contexts` is a map<int64, ParentContextsPerChild> on the wire: a repeated entry (key = 1, value = 2)."""

    ParentContextsPerChild = _ParentContextsPerChild

    class ContextsEntry(Message):
        FIELDS = [f_int64("key", n=1), f_message("value", _ParentContextsPerChild, n=2)]

    FIELDS = [f_repeated_message("contexts", ContextsEntry, n=2)]


class GetChildrenContextsByContextsRequest(Message):
    FIELDS = [
        f_repeated("context_ids", f_int64(""), n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class _ChildrenContextsPerParent(Message):
    FIELDS = [f_repeated_message("children_contexts", pb.Context, n=1)]


_ChildrenContextsPerParent.__name__ = _ChildrenContextsPerParent.__qualname__ = "ChildrenContextsPerParent"


class GetChildrenContextsByContextsResponse(Message):
    """`contexts` is a map<int64, ChildrenContextsPerParent> on the wire: a repeated entry (key = 1, value = 2)."""

    ChildrenContextsPerParent = _ChildrenContextsPerParent

    class ContextsEntry(Message):
        FIELDS = [f_int64("key", n=1), f_message("value", _ChildrenContextsPerParent, n=2)]

    FIELDS = [f_repeated_message("contexts", ContextsEntry, n=2)]


class GetArtifactsByContextRequest(Message):
    FIELDS = [
        f_int64("context_id", n=1),
        f_message("options", pb.ListOperationOptions, n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetArtifactsByContextResponse(Message):
    FIELDS = [
        f_repeated_message("artifacts", pb.Artifact, n=1),
        f_string("next_page_token", n=2),
    ]


class GetExecutionsByContextRequest(Message):
    FIELDS = [
        f_int64("context_id", n=1),
        f_message("options", pb.ListOperationOptions, n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetExecutionsByContextResponse(Message):
    FIELDS = [
        f_repeated_message("executions", pb.Execution, n=1),
        f_string("next_page_token", n=2),
        f_message("transaction_options", pb.TransactionOptions, n=3),
    ]


class GetLineageGraphRequest(Message):
    FIELDS = [
        f_message("options", pb.LineageGraphQueryOptions, n=1),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetLineageGraphResponse(Message):
    FIELDS = [f_message("subgraph", pb.LineageGraph, n=1)]


class GetLineageSubgraphRequest(Message):
    FIELDS = [
        f_message("lineage_subgraph_query_options", pb.LineageSubgraphQueryOptions, n=1),
        f_message("read_mask", FieldMask, n=3),
        f_message("transaction_options", pb.TransactionOptions, n=2),
    ]


class GetLineageSubgraphResponse(Message):
    FIELDS = [f_message("lineage_subgraph", pb.LineageGraph, n=1)]


METHODS = (
    "PutArtifactType",
    "PutExecutionType",
    "PutContextType",
    "PutTypes",
    "PutArtifacts",
    "PutExecutions",
    "PutEvents",
    "PutExecution",
    "PutLineageSubgraph",
    "PutContexts",
    "PutAttributionsAndAssociations",
    "PutParentContexts",
    "GetArtifactType",
    "GetArtifactTypesByID",
    "GetArtifactTypes",
    "GetExecutionType",
    "GetExecutionTypesByID",
    "GetExecutionTypes",
    "GetContextType",
    "GetContextTypesByID",
    "GetContextTypes",
    "GetArtifacts",
    "GetExecutions",
    "GetContexts",
    "GetArtifactsByID",
    "GetExecutionsByID",
    "GetContextsByID",
    "GetArtifactsByType",
    "GetExecutionsByType",
    "GetContextsByType",
    "GetArtifactByTypeAndName",
    "GetExecutionByTypeAndName",
    "GetContextByTypeAndName",
    "GetArtifactsByURI",
    "GetEventsByExecutionIDs",
    "GetEventsByArtifactIDs",
    "GetArtifactsByExternalIds",
    "GetExecutionsByExternalIds",
    "GetContextsByExternalIds",
    "GetArtifactTypesByExternalIds",
    "GetExecutionTypesByExternalIds",
    "GetContextTypesByExternalIds",
    "GetContextsByArtifact",
    "GetContextsByExecution",
    "GetParentContextsByContext",
    "GetChildrenContextsByContext",
    "GetParentContextsByContexts",
    "GetChildrenContextsByContexts",
    "GetArtifactsByContext",
    "GetExecutionsByContext",
    "GetLineageGraph",
    "GetLineageSubgraph",
)


def request_type(method: str) -> type:
    return globals()[method + "Request"]


def response_type(method: str) -> type:
    return globals()[method + "Response"]
