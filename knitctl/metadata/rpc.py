"""What each RPC of `ml_metadata.MetadataStoreService` does: a request message in, a response out.

`handle(store, method, request)` runs one call against a `MetadataStore` (errors are its
StatusErrors, which carry MLMD's status codes); the gRPC plumbing is in `server`. Listings take
ml-metadata's `ListOperationOptions`: without them every node comes back at once, with them one
page (`max_result_size`, at most 100) and a `next_page_token` for the next, as ml-metadata's
server does (later pages come from a snapshot of the listing's ids: `ListingCache`).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Callable

from . import errors
from . import metadata_store_pb2 as pb
from . import service_pb2 as svc
from .metadata_store import ListOptions, MetadataStore, OrderByField

MAX_PAGE = 100  # ml-metadata's largest page, too

Handler = Callable[[MetadataStore, object], object]
_HANDLERS: dict[str, Handler] = {}


def rpc(fn: Handler) -> Handler:
    _HANDLERS[fn.__name__] = fn
    return fn


def methods() -> dict[str, Handler]:
    """RPC name -> handler, for every RPC of the service knit answers."""
    return dict(_HANDLERS)


def handle(store: MetadataStore, method: str, request):
    fn = _HANDLERS.get(method)
    if fn is None:
        raise errors.UnimplementedError(f"knit's metadata server does not answer {method}")
    return fn(store, request)


def _fill(container, items) -> None:
    """Put messages the store made into a response's repeated field (they are fresh: no copies)."""
    container._items.extend(items)
    container._changed()


def _version(req) -> str | None:
    return req.type_version or None


# -- listing options --------------------------------------------------------------------


def list_options(o: pb.ListOperationOptions, extra_filter: str = "") -> ListOptions:
    """ml-metadata's ListOperationOptions as a page request to knit's store."""
    size = o.max_result_size
    if size < 1:
        raise errors.InvalidArgumentError(f"options.max_result_size must be at least 1, not {size}")
    field = o.order_by_field.field if o.HasField("order_by_field") else pb.ListOperationOptions.OrderByField.ID
    order = OrderByField(field) if field else OrderByField.ID
    fq = o.filter_query.strip()
    if extra_filter:
        fq = f"{extra_filter} AND ({fq})" if fq else extra_filter
    return ListOptions(limit=min(size, MAX_PAGE), order_by=order, is_asc=o.order_by_field.is_asc,
                       filter_query=fq or None, next_page_token=o.next_page_token or None)


_PAGE = {"artifacts": "get_artifacts_page", "executions": "get_executions_page", "contexts": "get_contexts_page"}
_BY_IDS = {"artifacts": "get_artifacts_by_id", "executions": "get_executions_by_id", "contexts": "get_contexts_by_id"}


class ListingCache:
    """The ids of a listing's later pages, so that page N does not cost N times a page.

    A filtered listing's page costs about as much as the whole listing (the filter is evaluated
    over every row to find the page), so a client walking 95,000 matches 100 at a time would pay
    950 listings. The first page is one page query; when the second is asked for, the ids of
    everything after it are listed once (a snapshot as of then) and kept here, and each later
    page is a lookup of its 100 ids. A page token of this kind is "~" + the listing's own token
    where the snapshot starts + the offset into it: when its entry has gone (least recently used
    of `size`, or the listing finished) the snapshot is taken again from that token.
    """

    def __init__(self, size: int = 32):
        self.size = size
        self._ids: OrderedDict[tuple, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> list[int] | None:
        with self._lock:
            ids = self._ids.get(key)
            if ids is not None:
                self._ids.move_to_end(key)
            return ids

    def put(self, key: tuple, ids: list[int]) -> None:
        with self._lock:
            self._ids[key] = ids
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)

    def drop(self, key: tuple) -> None:
        with self._lock:
            self._ids.pop(key, None)


LISTINGS = ListingCache()


def _snapshot_token(start: str, offset: int) -> str:
    return "~" + base64.urlsafe_b64encode(json.dumps([start, offset]).encode()).decode().rstrip("=")


def _read_snapshot_token(token: str) -> tuple[str, int]:
    try:
        start, offset = json.loads(base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4)))
        if not isinstance(start, str) or not isinstance(offset, int) or offset < 0:
            raise ValueError
    except ValueError:
        raise errors.InvalidArgumentError("next_page_token is not a token this server gave out") from None
    return start, offset


def _listing(store: MetadataStore, req, resp, field: str, everything: Callable[[], list], extra_filter: str = "") -> object:
    if not req.HasField("options"):
        _fill(getattr(resp, field), everything())
        return resp
    opts = list_options(req.options, extra_filter)
    token = opts.next_page_token
    if not token:  # the first page: one page query
        nodes, after = getattr(store, _PAGE[field])(opts)
        _fill(getattr(resp, field), nodes)
        if after:
            resp.next_page_token = after
        return resp
    start, offset = _read_snapshot_token(token) if token.startswith("~") else (token, 0)
    key = (store._where, field, opts.order_by, opts.is_asc, opts.filter_query, start)
    ids = LISTINGS.get(key)
    if ids is None:
        rest = ListOptions(order_by=opts.order_by, is_asc=opts.is_asc, filter_query=opts.filter_query,
                           next_page_token=start)
        ids = [n.id for n in getattr(store, "get_" + field)(rest)]
        LISTINGS.put(key, ids)
    page = ids[offset:offset + (opts.limit or MAX_PAGE)]
    found = {n.id: n for n in getattr(store, _BY_IDS[field])(page)}
    _fill(getattr(resp, field), [found[i] for i in page if i in found])  # a node deleted since is left out
    end = offset + len(page)
    if end < len(ids):
        resp.next_page_token = _snapshot_token(start, end)
    else:
        LISTINGS.drop(key)
    return resp


# -- types ----------------------------------------------------------------------------------


def _check_type_flags(req) -> None:
    if req.can_delete_fields:
        raise errors.UnimplementedError("can_delete_fields is not supported: a type's properties are never deleted")
    if not req.all_fields_match:
        raise errors.UnimplementedError("all_fields_match = false is not supported: stored properties must match")


@rpc
def PutArtifactType(store, req):
    _check_type_flags(req)
    return svc.PutArtifactTypeResponse(type_id=store.put_artifact_type(req.artifact_type, req.can_add_fields,
                                                                        req.can_omit_fields))


@rpc
def PutExecutionType(store, req):
    _check_type_flags(req)
    return svc.PutExecutionTypeResponse(type_id=store.put_execution_type(req.execution_type, req.can_add_fields,
                                                                          req.can_omit_fields))


@rpc
def PutContextType(store, req):
    _check_type_flags(req)
    return svc.PutContextTypeResponse(type_id=store.put_context_type(req.context_type, req.can_add_fields,
                                                                      req.can_omit_fields))


@rpc
def PutTypes(store, req):
    _check_type_flags(req)
    resp = svc.PutTypesResponse()
    for t in req.artifact_types:
        resp.artifact_type_ids.append(store.put_artifact_type(t, req.can_add_fields, req.can_omit_fields))
    for t in req.execution_types:
        resp.execution_type_ids.append(store.put_execution_type(t, req.can_add_fields, req.can_omit_fields))
    for t in req.context_types:
        resp.context_type_ids.append(store.put_context_type(t, req.can_add_fields, req.can_omit_fields))
    return resp


@rpc
def GetArtifactType(store, req):
    return svc.GetArtifactTypeResponse(artifact_type=store.get_artifact_type(req.type_name, _version(req)))


@rpc
def GetExecutionType(store, req):
    return svc.GetExecutionTypeResponse(execution_type=store.get_execution_type(req.type_name, _version(req)))


@rpc
def GetContextType(store, req):
    return svc.GetContextTypeResponse(context_type=store.get_context_type(req.type_name, _version(req)))


def _types(resp, field: str, found: list):
    _fill(getattr(resp, field), found)
    return resp


@rpc
def GetArtifactTypes(store, req):
    return _types(svc.GetArtifactTypesResponse(), "artifact_types", store.get_artifact_types())


@rpc
def GetExecutionTypes(store, req):
    return _types(svc.GetExecutionTypesResponse(), "execution_types", store.get_execution_types())


@rpc
def GetContextTypes(store, req):
    return _types(svc.GetContextTypesResponse(), "context_types", store.get_context_types())


@rpc
def GetArtifactTypesByID(store, req):
    return _types(svc.GetArtifactTypesByIDResponse(), "artifact_types", store.get_artifact_types_by_id(req.type_ids))


@rpc
def GetExecutionTypesByID(store, req):
    return _types(svc.GetExecutionTypesByIDResponse(), "execution_types", store.get_execution_types_by_id(req.type_ids))


@rpc
def GetContextTypesByID(store, req):
    return _types(svc.GetContextTypesByIDResponse(), "context_types", store.get_context_types_by_id(req.type_ids))


@rpc
def GetArtifactTypesByExternalIds(store, req):
    return _types(svc.GetArtifactTypesByExternalIdsResponse(), "artifact_types",
                  store.get_artifact_types_by_external_ids(req.external_ids))


@rpc
def GetExecutionTypesByExternalIds(store, req):
    return _types(svc.GetExecutionTypesByExternalIdsResponse(), "execution_types",
                  store.get_execution_types_by_external_ids(req.external_ids))


@rpc
def GetContextTypesByExternalIds(store, req):
    return _types(svc.GetContextTypesByExternalIdsResponse(), "context_types",
                  store.get_context_types_by_external_ids(req.external_ids))


# -- nodes: writes ---------------------------------------------------------------------------


def _mask(req) -> list[str] | None:
    return list(req.update_mask.paths) or None


@rpc
def PutArtifacts(store, req):
    if req.options.abort_if_latest_updated_time_changed:
        raise errors.UnimplementedError("options.abort_if_latest_updated_time_changed is not supported")
    resp = svc.PutArtifactsResponse()
    resp.artifact_ids.extend(store.put_artifacts(list(req.artifacts), _mask(req)))
    return resp


@rpc
def PutExecutions(store, req):
    resp = svc.PutExecutionsResponse()
    resp.execution_ids.extend(store.put_executions(list(req.executions), _mask(req)))
    return resp


@rpc
def PutContexts(store, req):
    resp = svc.PutContextsResponse()
    resp.context_ids.extend(store.put_contexts(list(req.contexts), _mask(req)))
    return resp


@rpc
def PutEvents(store, req):
    store.put_events(list(req.events))
    return svc.PutEventsResponse()


@rpc
def PutAttributionsAndAssociations(store, req):
    store.put_attributions_and_associations(list(req.attributions), list(req.associations))
    return svc.PutAttributionsAndAssociationsResponse()


@rpc
def PutParentContexts(store, req):
    store.put_parent_contexts(list(req.parent_contexts))
    return svc.PutParentContextsResponse()


@rpc
def PutExecution(store, req):
    pairs = [(p.artifact, p.event if p.HasField("event") else None) for p in req.artifact_event_pairs]
    o = req.options
    execution_id, artifact_ids, context_ids = store.put_execution(
        req.execution, pairs, list(req.contexts),
        reuse_context_if_already_exist=o.reuse_context_if_already_exist,
        reuse_artifact_if_already_exist_by_external_id=o.reuse_artifact_if_already_exist_by_external_id,
        force_reuse_context=o.force_reuse_context, force_update_time=o.force_update_time,
    )
    resp = svc.PutExecutionResponse(execution_id=execution_id)
    resp.artifact_ids.extend(artifact_ids)
    resp.context_ids.extend(context_ids)
    return resp


@rpc
def PutLineageSubgraph(store, req):
    edges = [(e.execution_index if e.HasField("execution_index") else None,
              e.artifact_index if e.HasField("artifact_index") else None, e.event) for e in req.event_edges]
    o = req.options
    execution_ids, artifact_ids, context_ids = store.put_lineage_subgraph(
        list(req.executions), list(req.artifacts), list(req.contexts), edges,
        reuse_context_if_already_exist=o.reuse_context_if_already_exist,
        reuse_artifact_if_already_exist_by_external_id=o.reuse_artifact_if_already_exist_by_external_id,
    )
    resp = svc.PutLineageSubgraphResponse()
    resp.execution_ids.extend(execution_ids)
    resp.artifact_ids.extend(artifact_ids)
    resp.context_ids.extend(context_ids)
    return resp


# -- nodes: reads ------------------------------------------------------------------------------


@rpc
def GetArtifacts(store, req):
    return _listing(store, req, svc.GetArtifactsResponse(), "artifacts", store.get_artifacts)


@rpc
def GetExecutions(store, req):
    return _listing(store, req, svc.GetExecutionsResponse(), "executions", store.get_executions)


@rpc
def GetContexts(store, req):
    return _listing(store, req, svc.GetContextsResponse(), "contexts", store.get_contexts)


def _by_type(store, req, resp, field: str, get_type: Callable, get_all: Callable):
    if req.HasField("options"):
        try:
            type_id = get_type(req.type_name, _version(req)).id
        except errors.NotFoundError:
            return resp  # no such type: no nodes, as without options
        return _listing(store, req, resp, field, list, f"type_id = {int(type_id)}")
    _fill(getattr(resp, field), get_all(req.type_name, _version(req)))
    return resp


@rpc
def GetArtifactsByType(store, req):
    return _by_type(store, req, svc.GetArtifactsByTypeResponse(), "artifacts", store.get_artifact_type,
                    store.get_artifacts_by_type)


@rpc
def GetExecutionsByType(store, req):
    return _by_type(store, req, svc.GetExecutionsByTypeResponse(), "executions", store.get_execution_type,
                    store.get_executions_by_type)


@rpc
def GetContextsByType(store, req):
    return _by_type(store, req, svc.GetContextsByTypeResponse(), "contexts", store.get_context_type,
                    store.get_contexts_by_type)


@rpc
def GetArtifactByTypeAndName(store, req):
    found = store.get_artifact_by_type_and_name(req.type_name, req.artifact_name, _version(req))
    return svc.GetArtifactByTypeAndNameResponse(artifact=found)


@rpc
def GetExecutionByTypeAndName(store, req):
    found = store.get_execution_by_type_and_name(req.type_name, req.execution_name, _version(req))
    return svc.GetExecutionByTypeAndNameResponse(execution=found)


@rpc
def GetContextByTypeAndName(store, req):
    found = store.get_context_by_type_and_name(req.type_name, req.context_name, _version(req))
    return svc.GetContextByTypeAndNameResponse(context=found)


@rpc
def GetArtifactsByID(store, req):
    resp = svc.GetArtifactsByIDResponse()
    if req.populate_artifact_types:
        artifacts, types = store.get_artifacts_and_types_by_artifact_ids(req.artifact_ids)
        _fill(resp.artifact_types, types)
    else:
        artifacts = store.get_artifacts_by_id(req.artifact_ids)
    _fill(resp.artifacts, artifacts)
    return resp


@rpc
def GetExecutionsByID(store, req):
    resp = svc.GetExecutionsByIDResponse()
    _fill(resp.executions, store.get_executions_by_id(req.execution_ids))
    return resp


@rpc
def GetContextsByID(store, req):
    resp = svc.GetContextsByIDResponse()
    _fill(resp.contexts, store.get_contexts_by_id(req.context_ids))
    return resp


@rpc
def GetArtifactsByURI(store, req):
    resp = svc.GetArtifactsByURIResponse()
    seen = set()
    for uri in dict.fromkeys(req.uris):
        found = [a for a in store.get_artifacts_by_uri(uri) if a.id not in seen]
        seen.update(a.id for a in found)
        _fill(resp.artifacts, found)
    return resp


@rpc
def GetArtifactsByExternalIds(store, req):
    resp = svc.GetArtifactsByExternalIdsResponse()
    _fill(resp.artifacts, store.get_artifacts_by_external_ids(req.external_ids))
    return resp


@rpc
def GetExecutionsByExternalIds(store, req):
    resp = svc.GetExecutionsByExternalIdsResponse()
    _fill(resp.executions, store.get_executions_by_external_ids(req.external_ids))
    return resp


@rpc
def GetContextsByExternalIds(store, req):
    resp = svc.GetContextsByExternalIdsResponse()
    _fill(resp.contexts, store.get_contexts_by_external_ids(req.external_ids))
    return resp


@rpc
def GetEventsByExecutionIDs(store, req):
    resp = svc.GetEventsByExecutionIDsResponse()
    _fill(resp.events, store.get_events_by_execution_ids(req.execution_ids))
    return resp


@rpc
def GetEventsByArtifactIDs(store, req):
    resp = svc.GetEventsByArtifactIDsResponse()
    _fill(resp.events, store.get_events_by_artifact_ids(req.artifact_ids))
    return resp


# -- contexts -------------------------------------------------------------------------------------


@rpc
def GetContextsByArtifact(store, req):
    resp = svc.GetContextsByArtifactResponse()
    _fill(resp.contexts, store.get_contexts_by_artifact(req.artifact_id))
    return resp


@rpc
def GetContextsByExecution(store, req):
    resp = svc.GetContextsByExecutionResponse()
    _fill(resp.contexts, store.get_contexts_by_execution(req.execution_id))
    return resp


@rpc
def GetParentContextsByContext(store, req):
    resp = svc.GetParentContextsByContextResponse()
    _fill(resp.contexts, store.get_parent_contexts_by_context(req.context_id))
    return resp


@rpc
def GetChildrenContextsByContext(store, req):
    resp = svc.GetChildrenContextsByContextResponse()
    _fill(resp.contexts, store.get_children_contexts_by_context(req.context_id))
    return resp


@rpc
def GetParentContextsByContexts(store, req):
    resp = svc.GetParentContextsByContextsResponse()
    for cid in dict.fromkeys(req.context_ids):
        parents = store.get_parent_contexts_by_context(cid)
        if parents:
            entry = resp.contexts.add(key=cid)
            _fill(entry.value.parent_contexts, parents)
    return resp


@rpc
def GetChildrenContextsByContexts(store, req):
    resp = svc.GetChildrenContextsByContextsResponse()
    for cid in dict.fromkeys(req.context_ids):
        children = store.get_children_contexts_by_context(cid)
        if children:
            entry = resp.contexts.add(key=cid)
            _fill(entry.value.children_contexts, children)
    return resp


def _in_context(context_id: int) -> str:
    return f"contexts_knit_rpc_owner.id = {int(context_id)}"


@rpc
def GetArtifactsByContext(store, req):
    return _listing(store, req, svc.GetArtifactsByContextResponse(), "artifacts",
                    lambda: store.get_artifacts_by_context(req.context_id), _in_context(req.context_id))


@rpc
def GetExecutionsByContext(store, req):
    return _listing(store, req, svc.GetExecutionsByContextResponse(), "executions",
                    lambda: store.get_executions_by_context(req.context_id), _in_context(req.context_id))


# -- lineage --------------------------------------------------------------------------------------


@rpc
def GetLineageSubgraph(store, req):
    # ml-metadata's client asks for every LineageGraph field, parent_contexts too, which a subgraph never
    # holds (its server leaves it empty): the same here.
    paths = [p for p in req.read_mask.paths if p != "parent_contexts"] or None
    graph = store.get_lineage_subgraph(req.lineage_subgraph_query_options, paths)
    return svc.GetLineageSubgraphResponse(lineage_subgraph=graph)

