"""Copying metadata between stores: an ml-metadata file into the knit catalog, the catalog out to a new
ml-metadata file.

    from knitctl.metadata import transfer
    summary = transfer.import_store("metadata.sqlite")      # into the knit catalog of $KNIT_HOME
    summary = transfer.export_catalog("exported.sqlite")   # a new file ml-metadata 1.17.1 opens

`copy_store(src, dst, label)` does the work through the two stores' MetadataStore APIs: types (by
name and version, properties merged), then artifacts, executions and contexts (ids remapped), then
events with their paths, attributions, associations and parent contexts. It is idempotent: a node
already copied is found again — by its name within its type, else by its external_id, and a node
with neither is given the external_id `<label>#<kind>/<id>` so that a second run finds it. Nodes
get the creation time of the copy (the stores set times themselves). Knit's own types (`knit.*`)
are not imported into a knit catalog, where they are knit's to write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import errors
from . import metadata_store_pb2 as pb
from .metadata_store import KNIT_TYPE_PREFIX, MetadataStore, knit_catalog

KINDS = ("artifact", "execution", "context")


@dataclass
class Summary:
    """How many of each were copied, and how many were there already (from an earlier copy)."""

    copied: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, copied: int = 0, present: int = 0, skipped: int = 0) -> None:
        for d, n in ((self.copied, copied), (self.present, present), (self.skipped, skipped)):
            d[what] = d.get(what, 0) + n

    def lines(self) -> list[str]:
        out = []
        for what in ("types", "artifacts", "executions", "contexts", "events", "attributions", "associations",
                     "parent contexts"):
            c, p, s = self.copied.get(what, 0), self.present.get(what, 0), self.skipped.get(what, 0)
            text = f"{what}: {c} copied, {p} already there"
            out.append(text + (f", {s} skipped (knit's own types)" if s else ""))
        return out


def _sqlite(path: str | os.PathLike, mode: int) -> pb.ConnectionConfig:
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(path)
    c.sqlite.connection_mode = mode
    return c


def _copy_types(src: MetadataStore, dst: MetadataStore, summary: Summary, into_knit: bool) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for kind in KINDS:
        get_all, get_one = getattr(src, f"get_{kind}_types"), getattr(dst, f"get_{kind}_type")
        put = getattr(dst, f"put_{kind}_type")
        for t in get_all():
            if into_knit and t.name.startswith(KNIT_TYPE_PREFIX):
                summary.add("types", skipped=1)
                continue
            try:
                get_one(t.name, type_version=t.version or None)
                present = True
            except errors.NotFoundError:
                present = False
            new = type(t)()
            new.CopyFrom(t)
            new.ClearField("id")
            mapping[t.id] = put(new, can_add_fields=True, can_omit_fields=True)
            summary.add("types", present=int(present), copied=int(not present))
    return mapping


def _copy_nodes(src: MetadataStore, dst: MetadataStore, kind: str, types: dict[int, int], versions: dict[int, str],
                label: str, summary: Summary) -> dict[int, int]:
    mapping: dict[int, int] = {}
    new_nodes, new_src_ids = [], []
    for n in getattr(src, f"get_{kind}s")():
        if n.type_id not in types:  # a knit type not imported
            continue
        found = None
        if n.name:
            found = getattr(dst, f"get_{kind}_by_type_and_name")(n.type, n.name, type_version=versions[n.type_id] or None)
            if found is not None and found.type_id != types[n.type_id]:
                found = None
        ext = n.external_id or f"{label}#{kind}/{n.id}"
        if found is None and not n.name:
            hits = getattr(dst, f"get_{kind}s_by_external_ids")([ext])
            found = hits[0] if hits else None
        if found is not None:
            mapping[n.id] = found.id
            summary.add(f"{kind}s", present=1)
            continue
        new = type(n)()
        new.CopyFrom(n)
        for f in ("id", "type", "create_time_since_epoch", "last_update_time_since_epoch"):
            new.ClearField(f)
        new.type_id = types[n.type_id]
        if not n.name and not n.external_id:
            new.external_id = ext
        new_nodes.append(new)
        new_src_ids.append(n.id)
    if new_nodes:
        ids = getattr(dst, f"put_{kind}s")(new_nodes)
        mapping.update(zip(new_src_ids, ids))
        summary.add(f"{kind}s", copied=len(ids))
    return mapping


def copy_store(src: MetadataStore, dst: MetadataStore, label: str) -> Summary:
    """Copy everything of `src` into `dst` (see the module's docstring); the Summary of what was done."""
    summary = Summary()
    into_knit = dst._knit
    types = _copy_types(src, dst, summary, into_knit)
    versions = {t.id: t.version for kind in KINDS for t in getattr(src, f"get_{kind}_types")()}
    ids = {kind: _copy_nodes(src, dst, kind, types, versions, label, summary) for kind in KINDS}

    have = {(e.artifact_id, e.execution_id, e.type)
            for e in dst.get_events_by_execution_ids(list(ids["execution"].values()))}
    new_events = []
    for e in src.get_events_by_execution_ids(list(ids["execution"])):
        if e.artifact_id not in ids["artifact"] or e.execution_id not in ids["execution"]:
            continue
        key = (ids["artifact"][e.artifact_id], ids["execution"][e.execution_id], e.type)
        if key in have:
            summary.add("events", present=1)
            continue
        new = pb.Event()
        new.CopyFrom(e)
        new.artifact_id, new.execution_id = key[0], key[1]
        new_events.append(new)
        have.add(key)
    if new_events:
        dst.put_events(new_events)
        summary.add("events", copied=len(new_events))

    links: dict[str, list[tuple[int, int]]] = {"artifact": [], "execution": []}  # node -> (context id, its id)
    parents: list[pb.ParentContext] = []
    for src_ctx, ctx in ids["context"].items():
        for what, node, getter in (("attributions", "artifact", "get_artifacts_by_context"),
                                   ("associations", "execution", "get_executions_by_context")):
            there = {n.id for n in getattr(dst, getter)(ctx)}
            for n in getattr(src, getter)(src_ctx):
                mapped = ids[node].get(n.id)
                if mapped is None:
                    continue
                if mapped in there:
                    summary.add(what, present=1)
                    continue
                links[node].append((ctx, mapped))
                summary.add(what, copied=1)
        there = {p.id for p in dst.get_parent_contexts_by_context(ctx)}
        for p in src.get_parent_contexts_by_context(src_ctx):
            mapped = ids["context"].get(p.id)
            if mapped is None:
                continue
            if mapped in there:
                summary.add("parent contexts", present=1)
                continue
            parents.append(pb.ParentContext(child_id=ctx, parent_id=mapped))
            summary.add("parent contexts", copied=1)
    if links["artifact"] or links["execution"]:
        dst.put_attributions_and_associations(
            [pb.Attribution(context_id=c, artifact_id=a) for c, a in links["artifact"]],
            [pb.Association(context_id=c, execution_id=x) for c, x in links["execution"]],
        )
    if parents:
        dst.put_parent_contexts(parents)
    return summary


def import_store(source: str | os.PathLike, home=None) -> Summary:
    """Copy an ml-metadata (or knit) SQLite store into the knit catalog of `home`; it is opened read-only."""
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise errors.NotFoundError(f"no store at {path}; give the path of an ml-metadata SQLite file")
    with MetadataStore(_sqlite(path, pb.SqliteMetadataSourceConfig.READONLY)) as src, knit_catalog(home) as dst:
        return copy_store(src, dst, label=str(path))


def export_catalog(dest: str | os.PathLike, home=None) -> Summary:
    """Copy the knit catalog's metadata into a new ml-metadata SQLite file at `dest` (which must not exist)."""
    from .mlmd_file import create

    path = Path(dest).expanduser().absolute()
    if path.exists():
        raise errors.FailedPreconditionError(f"{path} exists already; give the path of a new file")
    if not path.parent.is_dir():
        raise errors.NotFoundError(f"{path.parent} is not a directory; export into an existing one")
    partial = path.with_name(f".{path.name}.partial")  # renamed into place once complete
    partial.unlink(missing_ok=True)
    try:
        create(str(partial))
        with knit_catalog(home, readonly=True) as src, \
                MetadataStore(_sqlite(partial, pb.SqliteMetadataSourceConfig.READWRITE)) as dst:
            summary = copy_store(src, dst, label="knit")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return summary
