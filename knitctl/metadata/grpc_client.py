"""`MetadataStore(MetadataStoreClientConfig(host, port))`: the same API, over gRPC.

The store is a `knitctl metadata serve` (or ml-metadata's own server) reached through
`ml_metadata.MetadataStoreService`; requests and responses are knit's message classes written
by `_wire`. A failed call raises the `errors` class of its status code, as in-process. TLS as in
ml-metadata's client: `ssl_config.custom_ca` (PEM text) is the CA to trust, `client_key` and
`server_cert` the client's own key and certificate for mutual TLS. knit's addition: `token_file`
names a file holding the server's bearer token. `client_timeout_sec` is each call's deadline.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import grpc  # type: ignore[import-untyped]

from . import _wire, errors
from . import metadata_store_pb2 as pb
from . import service_pb2 as svc
from .metadata_store import DEFAULT_RETRIES, ListOptions, OrderByField

PAGE = 100  # the largest page a server gives


def _credentials(ssl: pb._ClientSSLConfig):
    def pem(name: str) -> bytes | None:
        return getattr(ssl, name).encode() if ssl.HasField(name) else None

    return grpc.ssl_channel_credentials(pem("custom_ca"), pem("client_key"), pem("server_cert"))


class RemoteStore:
    """MetadataStore's methods as calls to a metadata server (a MetadataStore with a client config
    hands every call to one of these)."""

    def __init__(self, config: pb.MetadataStoreClientConfig, enable_upgrade_migration: bool = False):
        if enable_upgrade_migration:
            raise errors.InvalidArgumentError(
                "enable_upgrade_migration does not apply over gRPC: the server upgrades its own store")
        if not config.host or not config.port:
            raise errors.InvalidArgumentError("MetadataStoreClientConfig needs host and port (the server's address)")
        self.max_num_retries = DEFAULT_RETRIES
        self._where = f"the metadata server at {config.host}:{config.port}"
        self._timeout = config.client_timeout_sec if config.HasField("client_timeout_sec") else None
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._stubs: dict = {}
        if config.token_file:
            try:
                token = Path(config.token_file).expanduser().read_text().strip()
            except OSError as e:
                raise errors.InvalidArgumentError(f"token_file {config.token_file}: cannot read it: {e.strerror}") from None
            self._metadata = (("authorization", f"Bearer {token}"),)
        options = []
        args = config.channel_arguments
        if args.HasField("max_receive_message_length"):
            options.append(("grpc.max_receive_message_length", args.max_receive_message_length))
        if args.HasField("http2_max_ping_strikes"):
            options.append(("grpc.http2.max_ping_strikes", args.http2_max_ping_strikes))
        target = f"[{config.host}]:{config.port}" if ":" in config.host else f"{config.host}:{config.port}"
        if config.HasField("ssl_config"):
            self._channel = grpc.secure_channel(target, _credentials(config.ssl_config), options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)

    def close(self) -> None:
        self._channel.close()

    # -- one call -------------------------------------------------------------------------------

    def _stub(self, method: str):
        stub = self._stubs.get(method)
        if stub is None:
            stub = self._stubs[method] = self._channel.unary_unary(
                f"/{svc.SERVICE}/{method}", request_serializer=_wire.encode,
                response_deserializer=functools.partial(_wire.decode, svc.response_type(method)),
            )
        return stub

    def _call(self, method: str, request):
        try:
            return self._stub(method)(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            code = e.code()
            raise errors.make_exception(f"{e.details()} ({self._where})", code.value[0] if code else errors.UNKNOWN) from None

    # -- types --------------------------------------------------------------------------------------

    def _rpc_put_type(self, method: str, field: str, t, can_add_fields: bool, can_omit_fields: bool) -> int:
        request = svc.request_type(method)(can_add_fields=can_add_fields, can_omit_fields=can_omit_fields)
        getattr(request, field).CopyFrom(t)
        return self._call(method, request).type_id

    def put_artifact_type(self, artifact_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                          extra_options=None) -> int:
        return self._rpc_put_type("PutArtifactType", "artifact_type", artifact_type, can_add_fields, can_omit_fields)

    def put_execution_type(self, execution_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                           extra_options=None) -> int:
        return self._rpc_put_type("PutExecutionType", "execution_type", execution_type, can_add_fields, can_omit_fields)

    def put_context_type(self, context_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                         extra_options=None) -> int:
        return self._rpc_put_type("PutContextType", "context_type", context_type, can_add_fields, can_omit_fields)

    def _rpc_get_type(self, method: str, field: str, type_name: str, type_version: str | None):
        request = svc.request_type(method)(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return getattr(self._call(method, request), field)

    def get_artifact_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        return self._rpc_get_type("GetArtifactType", "artifact_type", type_name, type_version)

    def get_execution_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        return self._rpc_get_type("GetExecutionType", "execution_type", type_name, type_version)

    def get_context_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        return self._rpc_get_type("GetContextType", "context_type", type_name, type_version)

    def _rpc_many(self, method: str, field: str, **request_fields) -> list:
        return list(getattr(self._call(method, svc.request_type(method)(**request_fields)), field))

    def get_artifact_types(self, extra_options=None) -> list:
        return self._rpc_many("GetArtifactTypes", "artifact_types")

    def get_execution_types(self, extra_options=None) -> list:
        return self._rpc_many("GetExecutionTypes", "execution_types")

    def get_context_types(self, extra_options=None) -> list:
        return self._rpc_many("GetContextTypes", "context_types")

    def get_artifact_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetArtifactTypesByID", "artifact_types", type_ids=list(type_ids))

    def get_execution_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetExecutionTypesByID", "execution_types", type_ids=list(type_ids))

    def get_context_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetContextTypesByID", "context_types", type_ids=list(type_ids))

    def get_artifact_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetArtifactTypesByExternalIds", "artifact_types", external_ids=list(external_ids))

    def get_execution_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetExecutionTypesByExternalIds", "execution_types", external_ids=list(external_ids))

    def get_context_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetContextTypesByExternalIds", "context_types", external_ids=list(external_ids))

    # -- nodes: writes ----------------------------------------------------------------------------

    def _rpc_put_nodes(self, method: str, field: str, ids: str, nodes, field_mask_paths) -> list[int]:
        request = svc.request_type(method)()
        getattr(request, field).extend(nodes)
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        return list(getattr(self._call(method, request), ids))

    def put_artifacts(self, artifacts, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        return self._rpc_put_nodes("PutArtifacts", "artifacts", "artifact_ids", artifacts, field_mask_paths)

    def put_executions(self, executions, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        return self._rpc_put_nodes("PutExecutions", "executions", "execution_ids", executions, field_mask_paths)

    def put_contexts(self, contexts, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        return self._rpc_put_nodes("PutContexts", "contexts", "context_ids", contexts, field_mask_paths)

    def put_events(self, events, extra_options=None) -> None:
        self._call("PutEvents", svc.PutEventsRequest(events=list(events)))

    def put_attributions_and_associations(self, attributions, associations, extra_options=None) -> None:
        self._call("PutAttributionsAndAssociations", svc.PutAttributionsAndAssociationsRequest(
            attributions=list(attributions), associations=list(associations)))

    def put_parent_contexts(self, parent_contexts, extra_options=None) -> None:
        self._call("PutParentContexts", svc.PutParentContextsRequest(parent_contexts=list(parent_contexts)))

    def put_execution(self, execution, artifact_and_events, contexts=None, reuse_context_if_already_exist: bool = False,
                      reuse_artifact_if_already_exist_by_external_id: bool = False, force_reuse_context: bool = False,
                      force_update_time: bool = False, extra_options=None) -> tuple[int, list[int], list[int]]:
        request = svc.PutExecutionRequest(execution=execution, contexts=list(contexts or ()))
        request.options.reuse_context_if_already_exist = reuse_context_if_already_exist
        request.options.reuse_artifact_if_already_exist_by_external_id = reuse_artifact_if_already_exist_by_external_id
        request.options.force_reuse_context = force_reuse_context
        request.options.force_update_time = force_update_time
        for pair in artifact_and_events:
            if pair:
                request.artifact_event_pairs.add(artifact=pair[0], event=pair[1] if len(pair) == 2 else None)
        r = self._call("PutExecution", request)
        return r.execution_id, list(r.artifact_ids), list(r.context_ids)

    def put_lineage_subgraph(self, executions, artifacts, contexts, event_edges,
                             reuse_context_if_already_exist: bool = False,
                             reuse_artifact_if_already_exist_by_external_id: bool = False,
                             extra_options=None) -> tuple[list[int], list[int], list[int]]:
        request = svc.PutLineageSubgraphRequest(executions=list(executions), artifacts=list(artifacts),
                                                contexts=list(contexts))
        request.options.reuse_context_if_already_exist = reuse_context_if_already_exist
        request.options.reuse_artifact_if_already_exist_by_external_id = reuse_artifact_if_already_exist_by_external_id
        for execution_index, artifact_index, event in event_edges:
            request.event_edges.add(execution_index=execution_index, artifact_index=artifact_index, event=event)
        r = self._call("PutLineageSubgraph", request)
        return list(r.execution_ids), list(r.artifact_ids), list(r.context_ids)

    # -- nodes: reads -----------------------------------------------------------------------------

    def get_artifacts_by_id(self, artifact_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetArtifactsByID", "artifacts", artifact_ids=list(artifact_ids))

    def get_executions_by_id(self, execution_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetExecutionsByID", "executions", execution_ids=list(execution_ids))

    def get_contexts_by_id(self, context_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetContextsByID", "contexts", context_ids=list(context_ids))

    def get_artifacts_and_types_by_artifact_ids(self, artifact_ids: Iterable[int], extra_options=None):
        r = self._call("GetArtifactsByID", svc.GetArtifactsByIDRequest(artifact_ids=list(artifact_ids),
                                                                        populate_artifact_types=True))
        return list(r.artifacts), list(r.artifact_types)

    def _rpc_by_type(self, method: str, field: str, type_name: str, type_version: str | None) -> list:
        request = svc.request_type(method)(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return list(getattr(self._call(method, request), field))

    def get_artifacts_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        return self._rpc_by_type("GetArtifactsByType", "artifacts", type_name, type_version)

    def get_executions_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        return self._rpc_by_type("GetExecutionsByType", "executions", type_name, type_version)

    def get_contexts_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        return self._rpc_by_type("GetContextsByType", "contexts", type_name, type_version)

    def _rpc_by_type_and_name(self, method: str, field: str, name_field: str, type_name, name, type_version):
        request = svc.request_type(method)(type_name=type_name, **{name_field: name})
        if type_version:
            request.type_version = type_version
        r = self._call(method, request)
        return getattr(r, field) if r.HasField(field) else None

    def get_artifact_by_type_and_name(self, type_name: str, artifact_name: str, type_version: str | None = None,
                                      extra_options=None):
        return self._rpc_by_type_and_name("GetArtifactByTypeAndName", "artifact", "artifact_name", type_name,
                                      artifact_name, type_version)

    def get_execution_by_type_and_name(self, type_name: str, execution_name: str, type_version: str | None = None,
                                       extra_options=None):
        return self._rpc_by_type_and_name("GetExecutionByTypeAndName", "execution", "execution_name", type_name,
                                      execution_name, type_version)

    def get_context_by_type_and_name(self, type_name: str, context_name: str, type_version: str | None = None,
                                     extra_options=None):
        return self._rpc_by_type_and_name("GetContextByTypeAndName", "context", "context_name", type_name,
                                      context_name, type_version)

    def get_artifacts_by_uri(self, uri: str, extra_options=None) -> list:
        return self._rpc_many("GetArtifactsByURI", "artifacts", uris=[uri])

    def get_artifacts_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetArtifactsByExternalIds", "artifacts", external_ids=list(external_ids))

    def get_executions_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetExecutionsByExternalIds", "executions", external_ids=list(external_ids))

    def get_contexts_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._rpc_many("GetContextsByExternalIds", "contexts", external_ids=list(external_ids))

    # listings --------------------------------------------------------------------------------------

    @staticmethod
    def _rpc_options(opts: ListOptions, size: int) -> pb.ListOperationOptions:
        if not isinstance(opts, ListOptions):
            raise errors.InvalidArgumentError(f"list_options must be a ListOptions, not {type(opts).__name__}")
        if opts.limit is not None and opts.limit < 1:
            raise errors.InvalidArgumentError(f"list_options.limit must be at least 1 (got {opts.limit})")
        o = pb.ListOperationOptions(max_result_size=size)
        order = opts.order_by or OrderByField.ID
        o.order_by_field.field = order.value
        o.order_by_field.is_asc = bool(opts.is_asc)
        if opts.filter_query:
            o.filter_query = opts.filter_query
        if opts.next_page_token:
            o.next_page_token = opts.next_page_token
        return o

    def _rpc_list(self, method: str, field: str, options: ListOptions | None, **request_fields) -> list:
        request = svc.request_type(method)(**request_fields)
        if options is None:
            return list(getattr(self._call(method, request), field))
        left = options.limit
        request.options.CopyFrom(self._rpc_options(options, min(PAGE, left or PAGE)))
        out: list = []
        while True:
            r = self._call(method, request)
            out.extend(getattr(r, field))
            if left is not None:
                left = options.limit - len(out)  # type: ignore[operator]
                if left <= 0:
                    return out[:options.limit]
                request.options.max_result_size = min(PAGE, left)
            if not r.next_page_token:
                return out
            request.options.next_page_token = r.next_page_token

    def _rpc_page(self, method: str, field: str, options: ListOptions | None) -> tuple[list, str | None]:
        opts = options if options is not None else ListOptions()
        request = svc.request_type(method)()
        request.options.CopyFrom(self._rpc_options(opts, min(PAGE, opts.limit or PAGE)))
        r = self._call(method, request)
        return list(getattr(r, field)), r.next_page_token or None

    def get_artifacts(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        return self._rpc_list("GetArtifacts", "artifacts", list_options)

    def get_executions(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        return self._rpc_list("GetExecutions", "executions", list_options)

    def get_contexts(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        return self._rpc_list("GetContexts", "contexts", list_options)

    def get_artifacts_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        return self._rpc_page("GetArtifacts", "artifacts", list_options)

    def get_executions_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        return self._rpc_page("GetExecutions", "executions", list_options)

    def get_contexts_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        return self._rpc_page("GetContexts", "contexts", list_options)

    def get_artifacts_by_context(self, context_id: int, list_options: ListOptions | None = None,
                                 extra_options=None) -> list:
        return self._rpc_list("GetArtifactsByContext", "artifacts", list_options, context_id=context_id)

    def get_executions_by_context(self, context_id: int, list_options: ListOptions | None = None,
                                  extra_options=None) -> list:
        return self._rpc_list("GetExecutionsByContext", "executions", list_options, context_id=context_id)

    def get_contexts_by_artifact(self, artifact_id: int, extra_options=None) -> list:
        return self._rpc_many("GetContextsByArtifact", "contexts", artifact_id=artifact_id)

    def get_contexts_by_execution(self, execution_id: int, extra_options=None) -> list:
        return self._rpc_many("GetContextsByExecution", "contexts", execution_id=execution_id)

    def get_parent_contexts_by_context(self, context_id: int, extra_options=None) -> list:
        return self._rpc_many("GetParentContextsByContext", "contexts", context_id=context_id)

    def get_children_contexts_by_context(self, context_id: int, extra_options=None) -> list:
        return self._rpc_many("GetChildrenContextsByContext", "contexts", context_id=context_id)

    def get_events_by_artifact_ids(self, artifact_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetEventsByArtifactIDs", "events", artifact_ids=list(artifact_ids))

    def get_events_by_execution_ids(self, execution_ids: Iterable[int], extra_options=None) -> list:
        return self._rpc_many("GetEventsByExecutionIDs", "events", execution_ids=list(execution_ids))

    def get_lineage_subgraph(self, query_options, field_mask_paths: Sequence[str] | None = None,
                             extra_options=None):
        """As in-process. The types are fetched by id afterwards (ml-metadata's server leaves them out)."""
        if not isinstance(query_options, pb.LineageSubgraphQueryOptions):
            raise errors.InvalidArgumentError(
                f"query_options must be a LineageSubgraphQueryOptions, not {type(query_options).__name__}")
        paths = list(field_mask_paths or [s.name for s in pb.LineageGraph._ORDER if s.name != "parent_contexts"])
        request = svc.GetLineageSubgraphRequest(lineage_subgraph_query_options=query_options)
        asked = [p for p in paths if not p.endswith("_types")]
        types = [p for p in paths if p.endswith("_types")]
        nodes_for_types = {"artifact_types": "artifacts", "execution_types": "executions", "context_types": "contexts"}
        request.read_mask.paths.extend(dict.fromkeys(asked + [nodes_for_types[t] for t in types if t in nodes_for_types]))
        graph = self._call("GetLineageSubgraph", request).lineage_subgraph
        by_id = {"artifact_types": self.get_artifact_types_by_id, "execution_types": self.get_execution_types_by_id,
                 "context_types": self.get_context_types_by_id}
        for t in types:
            if t in by_id:
                ids = sorted({n.type_id for n in getattr(graph, nodes_for_types[t])})
                getattr(graph, t).extend(by_id[t](ids) if ids else [])
        for p in {"artifacts", "executions", "contexts"} - set(asked):
            graph.ClearField(p)
        return graph
