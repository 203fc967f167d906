"""`knitctl metadata`: a quick look through the ML Metadata API (types, nodes, lineage).

By default it reads the knit catalog, where data, runs and plans are artifacts,
executions and contexts; `--db FILE` reads another MLMD-style SQLite store.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import yaml

from ..errors import UsageError
from .common import OutputOpt
from .output import Format, emit

if TYPE_CHECKING:  # bound at run time by _load(), on first use
    from ..metadata import errors, metadata_store
    from ..metadata import metadata_store_pb2 as pb
    from ..metadata._message import MAP, MAP_MESSAGE, MESSAGE, REPEATED, REPEATED_MESSAGE, SCALAR


def _load() -> None:
    """Import the metadata API on first use: every other knitctl command starts without it (~80 ms)."""
    global errors, metadata_store, pb, MAP, MAP_MESSAGE, MESSAGE, REPEATED, REPEATED_MESSAGE, SCALAR
    from ..metadata import errors, metadata_store
    from ..metadata import metadata_store_pb2 as pb
    from ..metadata._message import MAP, MAP_MESSAGE, MESSAGE, REPEATED, REPEATED_MESSAGE, SCALAR

app = typer.Typer(
    help="ML Metadata's view of the catalog: types, artifacts, executions, contexts, lineage.",
    no_args_is_help=True,
)

DbOpt = typer.Option(None, "--db", help="An MLMD SQLite file to read instead of the knit catalog.")
FilterOpt = typer.Option(None, "-f", "--filter", help="An ML Metadata filter query, e.g. \"uri LIKE '/data/%'\".")
TypeOpt = typer.Option(None, "-t", "--type", help="Only nodes of this type (by name).")
MAX_COUNT = 2**63 - 1  # SQLite's integers: a larger id, limit or hop count is refused, not an overflow
MAX_HOPS = 10_000      # more event edges than any lineage here has
LimitOpt = typer.Option(None, "-n", "--limit", min=1, max=MAX_COUNT, help="At most this many.")


class OrderBy(str, Enum):
    id = "id"
    create_time = "create_time"
    update_time = "update_time"


class Direction(str, Enum):
    upstream = "upstream"
    downstream = "downstream"
    both = "both"


class GraphFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"


OrderOpt = typer.Option(OrderBy.id, "--order-by", help="id, create_time or update_time.")
DescOpt = typer.Option(False, "--desc", help="Newest / highest first.")


def open_store(db: Path | None) -> metadata_store.MetadataStore:
    if db is not None:
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(db)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
        return metadata_store.MetadataStore(config)
    from ..home import Home

    home = Home.resolve()
    if not home.catalog.exists():
        raise errors.NotFoundError(f"no knit catalog at {home.catalog}; `knitctl init` creates one")
    return metadata_store.knit_catalog(home.root)  # read-write, so a catalog from an older knit is migrated


# -- plain values for json / yaml / tables ---------------------------------------------


def to_plain(msg) -> dict:
    """A message as plain data, enums by name (as protobuf's JSON form, with field names as they are)."""
    out = {}
    for spec in msg._ORDER:
        v = msg._v.get(spec.name)
        if v is None:
            continue
        if spec.kind == SCALAR:
            out[spec.name] = spec.enum.Name(v) if spec.enum is not None and v in spec.enum else (
                v.decode("latin-1") if isinstance(v, bytes) else v)
        elif spec.kind == MESSAGE:
            out[spec.name] = to_plain(v) if not isinstance(v, pb.Struct) else dict(v.items())
        elif spec.kind == REPEATED and len(v):
            out[spec.name] = list(v)
        elif spec.kind == REPEATED_MESSAGE and len(v):
            out[spec.name] = [to_plain(m) for m in v]
        elif spec.kind == MAP and len(v):
            out[spec.name] = {k: spec.enum.Name(x) if spec.enum is not None else x for k, x in v.items()}
        elif spec.kind == MAP_MESSAGE and len(v):
            out[spec.name] = {k: _value(m) for k, m in v.items()}
    return out


def _value(v: pb.Value):
    which = v.WhichOneof("value")
    if which is None:
        return None
    x = getattr(v, which)
    if which == "struct_value":
        return dict(x.items())
    if which == "proto_value":
        return {"type_url": x.type_url, "bytes": len(x.value)}
    return x


def _props(d: dict) -> str:
    parts = [f"{k}={v}" for k, v in d.get("properties", {}).items()]
    parts += [f"{k}={v}" for k, v in d.get("custom_properties", {}).items()]
    return " ".join(parts)


def _list_options(filter_query, type_name, limit, order_by: OrderBy, desc: bool) -> metadata_store.ListOptions:
    q = filter_query or ""
    if type_name:
        t = "type = " + json.dumps(type_name)
        q = f"{t} AND ({q})" if q else t
    order = {OrderBy.id: metadata_store.OrderByField.ID, OrderBy.create_time: metadata_store.OrderByField.CREATE_TIME,
             OrderBy.update_time: metadata_store.OrderByField.UPDATE_TIME}[order_by]
    return metadata_store.ListOptions(limit=limit, order_by=order, is_asc=not desc, filter_query=q or None)


# -- commands -----------------------------------------------------------------------------


@app.command("types")
def types(
    kind: str | None = typer.Option(None, "-k", "--kind", help="artifact, execution or context (default: all)."),
    db: Path | None = DbOpt,
    output: Format | None = OutputOpt,
):
    """Registered types and their properties."""
    _load()
    kinds = {"artifact": "get_artifact_types", "execution": "get_execution_types", "context": "get_context_types"}
    if kind is not None and kind not in kinds:
        raise typer.BadParameter(f"{kind!r}: use artifact, execution or context", param_hint="--kind")
    with open_store(db) as store:
        records = []
        for k, method in kinds.items():
            if kind in (None, k):
                for t in getattr(store, method)():
                    records.append({"kind": k, **to_plain(t)})
    emit(records, output, [
        ("kind", lambda r: r["kind"]),
        ("id", lambda r: r["id"]),
        ("name", lambda r: r["name"]),
        ("version", lambda r: r.get("version")),
        ("properties", lambda r: " ".join(f"{k}:{v}" for k, v in r.get("properties", {}).items())),
    ])


def _nodes(method: str, columns, filter_query, type_name, limit, order_by, desc, db, output):
    with open_store(db) as store:
        nodes = getattr(store, method)(_list_options(filter_query, type_name, limit, order_by, desc))
    emit([to_plain(n) for n in nodes], output, columns)


@app.command("artifacts")
def artifacts(
    filter_query: str | None = FilterOpt,
    type_name: str | None = TypeOpt,
    limit: int | None = LimitOpt,
    order_by: OrderBy = OrderOpt,
    desc: bool = DescOpt,
    db: Path | None = DbOpt,
    output: Format | None = OutputOpt,
):
    """Artifacts (knit data are `knit.Data` artifacts named by their knit id)."""
    _load()
    _nodes("get_artifacts", [
        ("id", lambda r: r["id"]),
        ("type", lambda r: r.get("type")),
        ("name", lambda r: r.get("name")),
        ("uri", lambda r: r.get("uri")),
        ("state", lambda r: r.get("state")),
        ("properties", _props),
    ], filter_query, type_name, limit, order_by, desc, db, output)


@app.command("executions")
def executions(
    filter_query: str | None = FilterOpt,
    type_name: str | None = TypeOpt,
    limit: int | None = LimitOpt,
    order_by: OrderBy = OrderOpt,
    desc: bool = DescOpt,
    db: Path | None = DbOpt,
    output: Format | None = OutputOpt,
):
    """Executions (knit runs are `knit.Run` executions named by their run id)."""
    _load()
    _nodes("get_executions", [
        ("id", lambda r: r["id"]),
        ("type", lambda r: r.get("type")),
        ("name", lambda r: r.get("name")),
        ("state", lambda r: r.get("last_known_state")),
        ("properties", _props),
    ], filter_query, type_name, limit, order_by, desc, db, output)


@app.command("contexts")
def contexts(
    filter_query: str | None = FilterOpt,
    type_name: str | None = TypeOpt,
    limit: int | None = LimitOpt,
    order_by: OrderBy = OrderOpt,
    desc: bool = DescOpt,
    db: Path | None = DbOpt,
    output: Format | None = OutputOpt,
):
    """Contexts (knit plans are `knit.Plan` contexts named by their plan id)."""
    _load()
    _nodes("get_contexts", [
        ("id", lambda r: r["id"]),
        ("type", lambda r: r.get("type")),
        ("name", lambda r: r.get("name")),
        ("properties", _props),
    ], filter_query, type_name, limit, order_by, desc, db, output)


@app.command("lineage")
def lineage(
    node: str = typer.Argument(..., help="An artifact id, or an artifact's name (a knit id); with -x an execution's."),
    execution: bool = typer.Option(False, "-x", "--execution", help="NODE is an execution (a knit run id works too)."),
    hops: int = typer.Option(20, "--hops", min=0, max=MAX_HOPS, help="How many event edges to walk."),
    direction: Direction = typer.Option(Direction.upstream, "-d", "--direction", help="upstream, downstream or both."),
    db: Path | None = DbOpt,
    output: GraphFormat = typer.Option(None, "-o", "--output", help="table, json, yaml, tree, dot or mermaid."),
):
    """The lineage around one artifact or execution."""
    _load()
    Q = pb.LineageSubgraphQueryOptions
    q = Q()
    start = q.starting_executions if execution else q.starting_artifacts
    if node.isdigit() and (len(node) > 19 or int(node) > MAX_COUNT):
        raise UsageError(f"NODE: {node[:30]}{'...' if len(node) > 30 else ''} is larger than any id (at most {MAX_COUNT})")
    start.filter_query = f"id = {int(node)}" if node.isdigit() else "name = " + json.dumps(node)
    q.max_num_hops = hops
    q.direction = {Direction.upstream: Q.UPSTREAM, Direction.downstream: Q.DOWNSTREAM,
                   Direction.both: Q.BIDIRECTIONAL}[direction]
    with open_store(db) as store:
        graph = store.get_lineage_subgraph(q)
    root = next((n for n in (graph.executions if execution else graph.artifacts)
                 if str(n.id) == node or n.name == node), None)
    root_key = (("e" if execution else "a") + str(root.id)) if root is not None else None
    fmt = output or (GraphFormat.tree if sys.stdout.isatty() else GraphFormat.table)
    if fmt in (GraphFormat.json, GraphFormat.yaml):
        data = to_plain(graph)
        if fmt == GraphFormat.json:
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return
    sys.stdout.write(render(graph, fmt, root_key, direction))


def _label(n, kind: str) -> str:
    name = n.name or (n.uri if kind == "a" and n.uri else "")
    return f"{n.type} {n.id}" + (f" {name}" if name else "")


def _edges(graph) -> list[tuple[str, str, str]]:
    """(from, to, event type) in data-flow direction: input artifact -> execution -> output artifact."""
    out = []
    inputs = {pb.Event.DECLARED_INPUT, pb.Event.INPUT, pb.Event.INTERNAL_INPUT}
    for ev in graph.events:
        a, e = f"a{ev.artifact_id}", f"e{ev.execution_id}"
        t = pb.Event.Type.Name(ev.type)
        steps = [str(getattr(s, s.WhichOneof("value"))) for s in ev.path.steps if s.WhichOneof("value")]
        if steps:  # knit's mount paths, or an MLMD event's key/index path
            t += " " + "/".join(steps)
        out.append((a, e, t) if ev.type in inputs else (e, a, t))
    return out


def render(graph, fmt: GraphFormat, root_key: str | None, direction: Direction) -> str:
    labels = {f"a{a.id}": _label(a, "a") for a in graph.artifacts}
    labels.update({f"e{e.id}": _label(e, "e") for e in graph.executions})
    edges = _edges(graph)
    if fmt == GraphFormat.dot:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for key, label in labels.items():
            shape = "box" if key[0] == "a" else "ellipse"
            lines.append(f"  {key} [shape={shape}, label={json.dumps(label)}];")
        lines += [f"  {s} -> {d} [label={json.dumps(t)}];" for s, d, t in edges]
        return "\n".join(lines + ["}"]) + "\n"
    if fmt == GraphFormat.mermaid:
        lines = ["flowchart LR"]
        for key, label in labels.items():
            text = label.replace('"', "'")
            lines.append(f'  {key}["{text}"]' if key[0] == "a" else f'  {key}(["{text}"])')
        lines += [f"  {s} -->|{t}| {d}" for s, d, t in edges]
        return "\n".join(lines) + "\n"
    if fmt == GraphFormat.tree:
        up = direction != Direction.downstream
        nbrs: dict[str, list[tuple[str, str]]] = {}
        for s, d, t in edges:
            if up:
                nbrs.setdefault(d, []).append((s, t))
            else:
                nbrs.setdefault(s, []).append((d, t))
        start = root_key or next(iter(labels), None)
        if start is None:
            return ""
        lines = [labels.get(start, start)]

        def walk(key: str, prefix: str, seen: frozenset) -> None:
            kids = sorted(nbrs.get(key, []))
            for i, (k, t) in enumerate(kids):
                last = i == len(kids) - 1
                lines.append(f"{prefix}{'└── ' if last else '├── '}{'◀' if up else '▶'} {t} {labels.get(k, k)}")
                if k not in seen:
                    walk(k, prefix + ("    " if last else "│   "), seen | {k})

        walk(start, "", frozenset({start}))
        return "\n".join(lines) + "\n"
    rows = [f"{labels.get(s, s)}\t{t}\t{labels.get(d, d)}" for s, d, t in edges]
    if not rows:
        rows = list(labels.values())
    return "\n".join(rows) + "\n"


# -- copies between stores ------------------------------------------------------------------------


@app.command("import")
def import_store(source: Path = typer.Argument(..., help="An ml-metadata SQLite file (read, never written).")):
    """Copy an ml-metadata store into the knit catalog: ids remapped, a summary on stderr; running it again copies nothing twice."""
    from ..metadata import transfer
    from .output import message

    for line in transfer.import_store(source).lines():
        message(line)


@app.command("export")
def export_store(dest: Path = typer.Argument(..., help="The new file to write (it must not exist).")):
    """Write the catalog's metadata to a new ml-metadata SQLite file, which ml-metadata 1.17.1 opens."""
    from ..metadata import transfer
    from .output import message

    for line in transfer.export_catalog(dest).lines():
        message(line)


# -- serving over gRPC ------------------------------------------------------------------------------


def _read_file(path: Path, option: str, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot read {what}: {e.strerror or e}") from None


SERVE_EXAMPLES = (
    "Examples:\n\n\b\n"
    "  knitctl metadata serve --port 8080\n"
    "  knitctl metadata serve --sqlite ./mlmd.sqlite --token-file ~/.config/knit/metadata-token\n"
    "  knitctl metadata serve --host 0.0.0.0 --tls-cert server.pem --tls-key server.key --client-ca ca.pem"
)


@app.command("serve", epilog=SERVE_EXAMPLES)
def serve(
    config: Path | None = typer.Option(None, "--config", help="A MetadataStoreServerConfig text proto, as ml-metadata's server reads."),
    sqlite: Path | None = typer.Option(None, "--sqlite", help="Serve this SQLite store (created if missing)."),
    in_memory: bool = typer.Option(False, "--in-memory", help="Serve a new in-memory store (gone at stop)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; not loopback needs TLS or --insecure."),
    port: int = typer.Option(8080, "--port", help="Port to listen on (0: a free one, shown at start)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Server certificate (PEM) for TLS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The certificate's private key (PEM)."),
    client_ca: Path | None = typer.Option(None, "--client-ca", help="Require client certificates signed by this CA (PEM)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without TLS."),
    token_file: Path | None = typer.Option(None, "--token-file", help="Require this file's bearer token of every call."),
    max_message_mb: int = typer.Option(64, "--max-message-mb", min=1, max=2047, help="Largest request or response, MiB."),
):
    """Serve ML Metadata's gRPC API (ml_metadata.MetadataStoreService) over a store: the knit catalog by default."""
    import logging
    import os

    os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # gRPC's own log lines on stderr: the server logs its own
    from ..metadata import metadata_store, server
    from ..metadata import serve_config as sc

    config_text = _read_file(config, "--config", "the server config").decode("utf-8", "replace") if config else None
    plan = sc.plan(config_text, str(config) if config else None, sqlite, in_memory)
    if (tls_cert or tls_key or client_ca) and plan.tls_cert is not None:
        raise UsageError("TLS is set twice: in the --config file's ssl_config and by --tls-* options; keep one")
    settings = server.Settings(
        host=host, port=port, insecure=insecure, max_message_bytes=max_message_mb << 20,
        tls_cert=_read_file(tls_cert, "--tls-cert", "the certificate") if tls_cert else plan.tls_cert,
        tls_key=_read_file(tls_key, "--tls-key", "the key") if tls_key else plan.tls_key,
        client_ca=_read_file(client_ca, "--client-ca", "the CA") if client_ca else plan.client_ca,
    )
    if token_file is not None:
        token = _read_file(token_file, "--token-file", "the token").decode("utf-8", "replace").strip()
        if not token:
            raise UsageError(f"--token-file {token_file} is empty: put the bearer token in it")
        settings.token = token
    server.check_settings(settings)
    if plan.downgrade_to is not None:
        metadata_store.downgrade_schema(plan.connection, plan.downgrade_to)
        from .output import message

        message(f"downgraded {plan.where} to schema version {plan.downgrade_to}")
        return
    log = logging.getLogger("knit.metadata.server")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s knitctl metadata serve: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    stores = server.Stores(
        lambda: metadata_store.MetadataStore(plan.connection, enable_upgrade_migration=plan.enable_upgrade_migration),
        plan.shared,
    )
    server.serve(stores, settings, plan.where)
