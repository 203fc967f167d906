"""The Metadata screens' reads: types, pages of nodes and one node's neighbourhood, through the public
ML Metadata API (`knitctl.metadata.MetadataStore`) only; no SQL here.

The store is the knit catalog (read-only, `metadata_store.knit_catalog`) or an ml-metadata SQLite file
opened READONLY (`open_file`). Imported when the Metadata mode is first shown, so the TUI starts
without the metadata package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knitctl.metadata import errors, metadata_store
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata.metadata_store import KNIT_TYPE_PREFIX, ListOptions, MetadataStore, OrderByField

KINDS = ("artifact", "execution", "context")
PAGE = 100           # nodes a listing reads at a time
COUNT_CAP = 1000     # a type's count is read up to this many ("1,000+" beyond)
NEIGHBOURS_CAP = 200  # events, or a context's artifacts / executions, shown in a node's detail
KNIT_SCREENS = {"knit.Data": "data", "knit.Run": "run", "knit.Plan": "plan"}


def open_file(path: str | os.PathLike) -> MetadataStore:
    """An ml-metadata (or any MLMD-style) SQLite file, read-only: nothing is ever written to it.
    Raises a `knitctl.metadata.errors.StatusError` (one clear line) for a missing or foreign file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise errors.NotFoundError(f"no file at {p}; give the path of an ml-metadata SQLite file")
    if p.is_dir():
        raise errors.InvalidArgumentError(f"{p} is a directory; give the path of an ml-metadata SQLite file")
    if p.is_file() and p.stat().st_size == 0:  # the API would take it for a new store (READONLY: unmigrated)
        raise errors.FailedPreconditionError(f"{p} is empty: not an ml-metadata store; give the path of one")
    config: Any = pb.ConnectionConfig()   # the messages' fields are made at run time: untyped here
    config.sqlite.filename_uri = str(p)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY  # type: ignore[attr-defined]
    return MetadataStore(config)


def open_catalog(home) -> MetadataStore:
    return metadata_store.knit_catalog(home, readonly=True)


# -- types -------------------------------------------------------------------------------------


@dataclass
class TypeEntry:
    kind: str            # artifact | execution | context
    id: int
    name: str
    version: str
    properties: dict[str, str]    # name -> value type
    count: int | None = None       # read up to COUNT_CAP; None: not counted yet
    more: bool = False             # more nodes than counted

    @property
    def knit(self) -> bool:
        return self.name.startswith(KNIT_TYPE_PREFIX)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def label(self) -> str:
        return self.name + (f" ({self.version})" if self.version else "")


def list_types(store: MetadataStore) -> list[TypeEntry]:
    """Every type, artifact types first, each kind by name."""
    out = []
    for kind in KINDS:
        types = getattr(store, f"get_{kind}_types")()
        for t in sorted(types, key=lambda t: (t.name, t.version)):
            props = {k: pb.PropertyType.Name(v) for k, v in t.properties.items()}
            out.append(TypeEntry(kind, t.id, t.name, t.version, props))
    return out


def _by_type(t: TypeEntry, limit: int, token: str | None = None) -> ListOptions:
    """Filtered by type id, newest first by create time (ties by id)."""
    return ListOptions(limit=limit, order_by=OrderByField.CREATE_TIME, is_asc=False,
                       filter_query=f"type_id = {int(t.id)}", next_page_token=token)


def _by_name(t: TypeEntry, limit: int, token: str | None = None) -> ListOptions:
    """Filtered by type name, newest first by id."""
    return ListOptions(limit=limit, order_by=OrderByField.ID, is_asc=False,
                       filter_query="type = " + json.dumps(t.name), next_page_token=token)


def count(store: MetadataStore, t: TypeEntry, cap: int | None = None) -> tuple[int, bool]:
    """(how many nodes the type has, read up to `cap`; whether there are more): one capped page, so a type
    with 100,000 nodes costs about the same as one with `cap`."""
    nodes, token = _page(store, t.kind, _by_type(t, cap or COUNT_CAP))
    return len(nodes), token is not None


def _page(store: MetadataStore, kind: str, options: ListOptions):
    return getattr(store, f"get_{kind}s_page")(options)


def dense(t: TypeEntry) -> bool:
    """Whether the type is listed by name (it has COUNT_CAP nodes or more) rather than by type id.

    Measured on 100,000 nodes of one type among 20 rare ones: by name a page takes ~1 ms for the big
    type (in the knit catalog and in an ml-metadata file) but a rare type's page scans every node
    (~20-90 ms); by type id a rare type's page takes ~0.1 ms, the big type's ~1 ms in the catalog but
    ~115 ms in an ml-metadata file (all its rows are sorted for each page). So: by name when there are
    many, by type id otherwise (and before the count is known).
    """
    return bool(t.more)


def page(store: MetadataStore, t: TypeEntry, token: str | None = None, limit: int = PAGE, *,
         by_name: bool = False):
    """(nodes of the type, newest first, the token for the next page or None at the end). `by_name` (see
    `dense`) must stay the same while paging one listing. By name, nodes of another version of the type
    (same name) are dropped here, so such a page can be short."""
    if not by_name:
        return _page(store, t.kind, _by_type(t, limit, token))
    nodes, token = _page(store, t.kind, _by_name(t, limit, token))
    return [n for n in nodes if n.type_id == t.id], token


# -- values --------------------------------------------------------------------------------------


def value_text(v, *, wide: bool = False) -> str:
    """A property value as text: structs as JSON (indented when `wide`), protos as their type and size."""
    which = v.WhichOneof("value")
    if which is None:
        return "(unset)"
    x = getattr(v, which)
    if which == "struct_value":
        data = dict(x.items())
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) if wide else \
            json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if which == "proto_value":
        return f"proto {x.type_url or '(no type url)'} ({len(x.value)} bytes)"
    if which == "double_value":
        return repr(x)
    if which == "bool_value":
        return "true" if x else "false"
    return str(x)


def props_line(node, width: int = 80) -> str:
    """A node's properties and custom properties in one short line (custom ones after a `·`)."""
    parts = [f"{k}={value_text(v)}" for k, v in sorted(node.properties.items())]
    custom = [f"{k}={value_text(v)}" for k, v in sorted(node.custom_properties.items())]
    text = " ".join(parts)
    if custom:
        text = (text + " · " if text else "") + " ".join(custom)
    return text if len(text) <= width else text[: width - 1] + "…"


def state_of(kind: str, node) -> str:
    if kind == "artifact":
        return pb.Artifact.State.Name(node.state) if node.HasField("state") else ""
    if kind == "execution":
        return pb.Execution.State.Name(node.last_known_state) if node.HasField("last_known_state") else ""
    return ""


def event_path(ev) -> str:
    steps = []
    for s in ev.path.steps:
        which = s.WhichOneof("value")
        if which == "key":
            steps.append(s.key)
        elif which == "index":
            steps.append(f"[{s.index}]")
    return "/".join(steps)


# -- one node ---------------------------------------------------------------------------------------


@dataclass
class Link:
    """A neighbour of the node shown: what it is to the node, and which node it is."""

    relation: str        # e.g. "INPUT of", "OUTPUT", "context", "parent context"
    kind: str
    id: int
    type: str
    name: str
    detail: str = ""     # the event's path, a state


@dataclass
class NodeDetail:
    kind: str
    node: Any            # an Artifact, Execution or Context (knitctl.metadata.metadata_store_pb2)
    type: Any            # its type, None when gone
    links: list[Link] = field(default_factory=list)
    more: dict[str, int] = field(default_factory=dict)   # relation -> nodes not shown (over the cap)


def _get(store: MetadataStore, kind: str, ids) -> dict[int, Any]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {n.id: n for n in getattr(store, f"get_{kind}s_by_id")(ids)}


def node_detail(store: MetadataStore, kind: str, node_id: int) -> NodeDetail | None:
    """The node, its type, its events (with the node at their other end) and contexts; None when gone."""
    found = getattr(store, f"get_{kind}s_by_id")([node_id])
    if not found:
        return None
    node = found[0]
    types = getattr(store, f"get_{kind}_types_by_id")([node.type_id])
    d = NodeDetail(kind, node, types[0] if types else None)
    if kind in ("artifact", "execution"):
        other = "execution" if kind == "artifact" else "artifact"
        events = getattr(store, f"get_events_by_{kind}_ids")([node_id])
        if len(events) > NEIGHBOURS_CAP:  # the other ends of the first ones only (a datum many runs read)
            d.more["events"] = len(events) - NEIGHBOURS_CAP
            events = events[:NEIGHBOURS_CAP]
        ends = _get(store, other, [getattr(e, f"{other}_id") for e in events])
        for ev in events:
            oid = getattr(ev, f"{other}_id")
            n = ends.get(oid)
            etype = pb.Event.Type.Name(ev.type) if ev.HasField("type") else "UNKNOWN"
            # an artifact's event reads "INPUT of execution 7"; an execution's "INPUT artifact 3"
            relation = f"{etype} of" if kind == "artifact" else etype
            d.links.append(Link(relation, other, oid, n.type if n else "?", n.name if n else "(gone)",
                                event_path(ev)))
        try:
            contexts = getattr(store, f"get_contexts_by_{kind}")(node_id)
        except errors.NotFoundError:
            contexts = []
        d.links += [Link("context", "context", c.id, c.type, c.name) for c in contexts]
    else:
        d.links += [Link("parent context", "context", c.id, c.type, c.name)
                    for c in store.get_parent_contexts_by_context(node_id)]
        d.links += [Link("child context", "context", c.id, c.type, c.name)
                    for c in store.get_children_contexts_by_context(node_id)]
        for other, relation in (("artifact", "attributed"), ("execution", "associated")):
            nodes = getattr(store, f"get_{other}s_by_context")(node_id, ListOptions(limit=NEIGHBOURS_CAP + 1))
            if len(nodes) > NEIGHBOURS_CAP:
                d.more[relation] = len(nodes) - NEIGHBOURS_CAP   # at least this many more
                nodes = nodes[:NEIGHBOURS_CAP]
            d.links += [Link(relation, other, n.id, n.type, n.name, state_of(other, n)) for n in nodes]
    return d
