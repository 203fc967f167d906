"""`MetadataStore`: ML Metadata's Python API over knit's SQLite catalog.

    from knitctl.metadata import metadata_store, metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()            # in memory
    # config.sqlite.filename_uri = "/tmp/mlmd.db"  # a file (connection_mode READONLY=1, READWRITE=2,
    # config.sqlite.connection_mode = 3            #   READWRITE_OPENCREATE=3, the default)
    # config.knit.SetInParent()                    # the knit catalog: data, runs and plans are there
    store = metadata_store.MetadataStore(config)

Every store is a knit catalog (same schema and migrations, WAL, one
`BEGIN IMMEDIATE` transaction per write call), so many processes can write
one file at once; except an SQLite file written by ml-metadata itself, which
is read in place and never written (see `mlmd_file`). The methods, their arguments and their errors follow ML
Metadata 1.17; where this differs it says so in the method's docstring.

In the knit catalog, rows of knit's own types (`knit.Data` artifacts,
`knit.Run` executions, `knit.Plan` contexts) are read-only here: record your
own nodes beside them and connect them with events from your executions and
attributions to your contexts.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog, now_ms, preflight
from ..catalog.db import plain_rows
from ..catalog.schema import LATEST
from ..errors import KnitError
from ..home import Home
from . import _codec as codec
from . import errors, lineage
from . import metadata_store_pb2 as pb
from ._codec import ARTIFACT, CONTEXT, EXECUTION, Kind
from .filter_query import compile_filter
from .mlmd_file import MlmdFile, execute_known, present

KNIT_TYPE_PREFIX = "knit."


class OrderByField(enum.Enum):
    """The fields a listing can be ordered by."""

    CREATE_TIME = 1
    UPDATE_TIME = 2
    ID = 3


@dataclass
class ListOptions:
    """Options of a listing.

    limit: at most this many nodes (all when None).
    order_by: an OrderByField (ID when None); is_asc: ascending (default) or not.
    filter_query: a filter in ML Metadata's query language (see `knitctl.metadata.filter_query`).
    next_page_token: knit's addition — continue a listing where a `get_*_page` call left off.
    """

    limit: int | None = None
    order_by: OrderByField | None = None
    is_asc: bool = True
    filter_query: str | None = None
    next_page_token: str | None = None


@dataclass
class ExtraOptions:
    """Accepted for compatibility with ML Metadata; knit needs no extra options."""

    euc: str | None = None


_ORDER_COLUMN = {OrderByField.ID: "n.id", OrderByField.CREATE_TIME: "n.create_time_ms",
                 OrderByField.UPDATE_TIME: "n.update_time_ms"}
DEFAULT_PAGE_SIZE = 100
DEFAULT_RETRIES = 5  # ml-metadata's default for retry_options.max_num_retries


def _api(method):
    """One lock per store; SQLite failures become the matching status errors."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if self._remote is not None:
            return getattr(self._remote, method.__name__)(*args, **kwargs)
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except errors.StatusError:
                raise
            except sqlite3.OperationalError as e:
                text = str(e)
                if "readonly" in text or "read-only" in text:
                    raise errors.PermissionDeniedError(
                        f"the store is read-only ({self._where}); open it with connection_mode READWRITE to write"
                    ) from None
                if "locked" in text or "busy" in text:
                    raise errors.AbortedError(f"the store stayed busy for too long ({self._where}): {text}") from None
                raise errors.InternalError(f"database error in {self._where}: {text}") from None
            except sqlite3.Error as e:
                if "malformed" in str(e) or "not a database" in str(e):
                    raise errors.DataLossError(
                        f"{self._where} is damaged ({e}); restore it from a backup (`knitctl doctor` reports on a catalog)"
                    ) from None
                raise errors.InternalError(f"database error in {self._where}: {e}") from None
            except KnitError as e:
                raise errors.FailedPreconditionError(e.message) from None

    return call


WAL_CHECKPOINT_PAGES = 10_000


def _open(config, enable_upgrade_migration: bool = True) -> tuple[Catalog | MlmdFile, bool, bool, str]:
    """(catalog, read-only, is the knit catalog, description) for a ConnectionConfig."""
    if not isinstance(config, pb.ConnectionConfig):
        raise errors.InvalidArgumentError(f"MetadataStore takes a ConnectionConfig, not {type(config).__name__}")
    which = config.WhichOneof("config")
    try:
        if which == "fake_database":
            return Catalog(":memory:"), False, False, "an in-memory store"
        if which == "sqlite":
            return _open_sqlite(config.sqlite, enable_upgrade_migration)
        if which == "knit":
            home = Home.resolve(config.knit.home or None)
            if config.knit.readonly:
                if not home.catalog.exists():
                    raise errors.NotFoundError(f"no knit catalog at {home.catalog}; `knitctl init` creates one")
                return Catalog(home.catalog, readonly=True), True, True, f"the knit catalog {home.catalog}"
            home.ensure()
            return Catalog(home.catalog), False, True, f"the knit catalog {home.catalog}"
    except KnitError as e:
        if isinstance(e, errors.StatusError):
            raise
        raise errors.FailedPreconditionError(e.message) from None
    except sqlite3.Error as e:
        raise errors.FailedPreconditionError(f"cannot open the store: {e}") from None
    if which in ("mysql", "postgresql"):
        raise errors.UnimplementedError("knit stores metadata in SQLite only: use sqlite, fake_database or knit")
    raise errors.ConnectionConfigError(
        "the ConnectionConfig names no database: set fake_database, sqlite (filename_uri) or knit"
    )


_REFUSED = {"damaged": errors.DataLossError, "read-only": errors.PermissionDeniedError}


def _open_sqlite(cfg: pb.SqliteMetadataSourceConfig, enable_upgrade_migration: bool = True) -> tuple[Catalog | MlmdFile, bool, bool, str]:
    uri = cfg.filename_uri
    if not uri:  # ml-metadata's convention: no file name is a fresh in-memory database
        return Catalog(":memory:"), False, False, "an in-memory store"
    if uri.startswith("file:"):
        uri = uri[len("file:"):].split("?", 1)[0]
        if uri.startswith("//"):
            uri = uri[2:]
    if uri == ":memory:":
        return Catalog(":memory:"), False, False, "an in-memory store"
    mode = cfg.connection_mode or pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    path = Path(uri).expanduser()
    if mode in (pb.SqliteMetadataSourceConfig.READONLY, pb.SqliteMetadataSourceConfig.READWRITE) and not path.exists():
        name = pb.SqliteMetadataSourceConfig.ConnectionMode.Name(mode)
        raise errors.NotFoundError(f"no database at {path} (connection_mode {name} does not create one; use READWRITE_OPENCREATE)")
    readonly = mode == pb.SqliteMetadataSourceConfig.READONLY
    try:
        found = preflight.check(path, readonly)  # refused before anything writes to the file
    except preflight.Refused as e:
        if e.reason == "ml-metadata":  # used in place, through knit-shaped views over its own tables
            return MlmdFile(str(path), writable=not readonly), readonly, False, str(path)
        raise _REFUSED.get(e.reason, errors.FailedPreconditionError)(e.message) from None
    if found is not None and not readonly and not enable_upgrade_migration:
        version, application_id = found
        if version < LATEST and (version >= 1 or application_id == preflight.KNIT_APPLICATION_ID):
            raise errors.MigrationDisabledError(
                f"the store at {path} has schema version {version}, older than this knit's ({LATEST}), and schema "
                f"migration is disabled: open it with enable_upgrade_migration=True to upgrade it"
            )
    return Catalog(path, readonly=readonly), readonly, False, str(path)


class MetadataStore:
    """A store for ML metadata: types, artifacts, executions, contexts and the edges between them."""

    _remote = None  # a metadata server's client (grpc_client.RemoteStore): every call goes to it

    def __init__(self, config, enable_upgrade_migration: bool = False):
        """Open the store `config` names.

        As in ML Metadata, an SQLite file whose schema is older than this knit's is only
        upgraded with `enable_upgrade_migration=True` (else MigrationDisabledError, a
        RuntimeError); the knit catalog itself (`config.knit`) is always brought to the
        current schema, as knitctl and knitd do.
        """
        if isinstance(config, pb.MetadataStoreClientConfig):  # a metadata server: the same API over gRPC
            from .grpc_client import RemoteStore

            self._remote = RemoteStore(config, enable_upgrade_migration)
            self._max_num_retries = self._remote.max_num_retries
            return
        self._lock = threading.RLock()
        # ml-metadata retries an aborted transaction this many times. Knit's writers never abort on a
        # conflict (BEGIN IMMEDIATE waits on the lock for busy_timeout instead), so the count is kept
        # for code that reads it, and a call that stays busy fails with AbortedError at once.
        retries = config.retry_options.max_num_retries if isinstance(config, pb.ConnectionConfig) else 0
        self._max_num_retries = retries if retries > 0 else DEFAULT_RETRIES
        self._catalog, self._readonly, self._knit, self._where = _open(config, enable_upgrade_migration)
        if isinstance(self._catalog, Catalog):  # its metadata tables are ml-metadata's: seen as an MlmdFile's are
            # ml-metadata's indexes make a write touch many pages; checkpointing every 10,000 WAL pages (40 MB,
            # not SQLite's 1,000) writes each hot page back once per many calls, not once per few (this
            # connection's setting only; knitctl's and knitd's keep SQLite's)
            self._catalog.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            self._catalog.conn = present(self._catalog.conn)
        self._conn = self._catalog.conn
        self._tnames = codec.TypeNames(self._conn)
        self._type_info: dict[int, tuple[int, str, dict[str, int]]] = {}

    def close(self) -> None:
        if self._remote is not None:
            return self._remote.close()
        self._catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ---------------------------------------------------------

    def _write(self):
        if self._readonly:
            raise errors.PermissionDeniedError(
                f"the store is read-only ({self._where}); open it with connection_mode READWRITE to write"
            )
        return self._catalog.write()

    def _type(self, c, type_id: int, refresh: bool = False) -> tuple[int, str, dict[str, int]] | None:
        """(type kind, name, property types) of a type id, cached."""
        info = None if refresh else self._type_info.get(type_id)
        if info is None:
            row = c.execute("SELECT kind, name FROM type WHERE id = ?", (type_id,)).fetchone()
            if row is None:
                return None
            props = dict(c.execute("SELECT name, data_type FROM type_property WHERE type_id = ?", (type_id,)).fetchall())
            info = self._type_info[type_id] = (row[0], row[1], props)
        return info

    def _node_type(self, c, kind: Kind, type_id: int):
        info = self._type(c, type_id)
        if info is None or info[0] != kind.type_kind:
            raise errors.NotFoundError(f"no {kind.name} type with id {type_id}")
        return info

    def _guard_type(self, kind: Kind, type_name: str, what: str) -> None:
        if self._knit and type_name.startswith(KNIT_TYPE_PREFIX):
            raise errors.PermissionDeniedError(
                f"{what}: {type_name} {kind.name}s belong to knit and are read-only through the metadata API; "
                f"record your own {kind.name}s (of your own types) beside them"
            )

    def _guard_node(self, c, kind: Kind, node_id: int, what: str) -> None:
        if not self._knit:
            return
        row = c.execute(f"SELECT type_id FROM {kind.table} WHERE id = ?", (node_id,)).fetchone()
        if row is not None:
            info = self._type(c, row[0])
            if info is not None:
                self._guard_type(kind, info[1], what)

    # -- types -------------------------------------------------------------

    def _put_type(self, kind: Kind, t, can_add_fields: bool, can_omit_fields: bool) -> int:
        if not isinstance(t, kind.type_cls):
            raise errors.InvalidArgumentError(f"put_{kind.name}_type takes a {kind.type_cls.__name__}, not {type(t).__name__}")
        if not t.name:
            raise errors.InvalidArgumentError(f"the {kind.type_cls.__name__} has no name; every type needs one")
        props = dict(t.properties.items())
        for pname, dt in props.items():
            if dt == pb.UNKNOWN:
                raise errors.InvalidArgumentError(
                    f"property {pname!r} of type {t.name!r} is UNKNOWN; give it INT, DOUBLE, STRING, STRUCT, PROTO or BOOLEAN"
                )
        version = t.version or None
        label = t.name + (f" (version {version})" if version else "")
        with self._write() as c:
            row = c.execute(
                "SELECT id, description, external_id, base_type FROM type WHERE kind = ? AND name = ? AND ifnull(version, '') = ?",
                (kind.type_kind, t.name, version or ""),
            ).fetchone()
            if row is None:
                self._guard_type(kind, t.name, f"cannot create type {label}")
                ext = t.external_id or None
                if ext is not None and c.execute("SELECT 1 FROM type WHERE external_id = ?", (ext,)).fetchone():
                    raise errors.AlreadyExistsError(f"a type with external_id {ext!r} exists already")
                tid = c.execute(
                    "INSERT INTO type(kind, name, version, description, external_id, base_type) VALUES (?, ?, ?, ?, ?, ?)",
                    (kind.type_kind, t.name, version, t.description or None, ext, t.base_type or None),
                ).lastrowid
                c.executemany("INSERT INTO type_property(type_id, name, data_type) VALUES (?, ?, ?)",
                              [(tid, k, v) for k, v in props.items()])
                return tid
            tid = row[0]
            if t.HasField("id") and t.id != tid:
                raise errors.InvalidArgumentError(f"{kind.name} type {label} has id {tid}, not {t.id}")
            stored = dict(c.execute("SELECT name, data_type FROM type_property WHERE type_id = ?", (tid,)).fetchall())
            for pname, dt in props.items():
                if pname in stored and stored[pname] != dt:
                    raise errors.AlreadyExistsError(
                        f"{kind.name} type {label} exists with property {pname!r} of type "
                        f"{pb.PropertyType.Name(stored[pname])}, not {pb.PropertyType.Name(dt)}; a property's type "
                        f"cannot change (make a new type version instead)"
                    )
            added = [p for p in props if p not in stored]
            if added and not can_add_fields:
                raise errors.AlreadyExistsError(
                    f"{kind.name} type {label} exists without properties {', '.join(map(repr, added))}; "
                    f"pass can_add_fields=True to add them"
                )
            omitted = [p for p in stored if p not in props]
            if omitted and not can_omit_fields:
                raise errors.AlreadyExistsError(
                    f"{kind.name} type {label} exists with properties {', '.join(map(repr, omitted))} that the "
                    f"request omits; pass can_omit_fields=True to allow that"
                )
            changes = {}
            if t.description and t.description != row[1]:
                changes["description"] = t.description
            if t.external_id and t.external_id != row[2]:
                if c.execute("SELECT 1 FROM type WHERE external_id = ?", (t.external_id,)).fetchone():
                    raise errors.AlreadyExistsError(f"a type with external_id {t.external_id!r} exists already")
                changes["external_id"] = t.external_id
            if t.base_type and t.base_type != (row[3] or 0):
                changes["base_type"] = t.base_type
            if added or changes:
                self._guard_type(kind, t.name, f"cannot change type {label}")
            if added:
                c.executemany("INSERT INTO type_property(type_id, name, data_type) VALUES (?, ?, ?)",
                              [(tid, p, props[p]) for p in added])
                self._type_info.pop(tid, None)
            if changes:
                c.execute(f"UPDATE type SET {', '.join(k + ' = ?' for k in changes)} WHERE id = ?", (*changes.values(), tid))
            return tid

    def _get_type(self, kind: Kind, type_name: str, type_version: str | None):
        found = codec.load_types(self._conn, kind, "name = ? AND ifnull(version, '') = ?", (type_name, type_version or ""))
        if not found:
            raise errors.NotFoundError(
                f"no {kind.name} type named {type_name!r}" + (f" with version {type_version!r}" if type_version else "")
            )
        return found[0]

    @_api
    def put_artifact_type(self, artifact_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                          extra_options=None) -> int:
        """Insert an artifact type, or check and evolve the stored one with the same name and version.

        A stored type is kept when the request is compatible with it: same value type for
        shared properties (else AlreadyExistsError), new properties only with
        `can_add_fields`, stored properties missing from the request only with
        `can_omit_fields` (they stay). InvalidArgumentError for a missing name or an
        UNKNOWN property type. Returns the type id.
        """
        return self._put_type(ARTIFACT, artifact_type, can_add_fields, can_omit_fields)

    @_api
    def put_execution_type(self, execution_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                           extra_options=None) -> int:
        """Like put_artifact_type, for execution types."""
        return self._put_type(EXECUTION, execution_type, can_add_fields, can_omit_fields)

    @_api
    def put_context_type(self, context_type, can_add_fields: bool = False, can_omit_fields: bool = False,
                         extra_options=None) -> int:
        """Like put_artifact_type, for context types."""
        return self._put_type(CONTEXT, context_type, can_add_fields, can_omit_fields)

    @_api
    def get_artifact_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        """The artifact type with this name (and version); NotFoundError if there is none."""
        return self._get_type(ARTIFACT, type_name, type_version)

    @_api
    def get_execution_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        return self._get_type(EXECUTION, type_name, type_version)

    @_api
    def get_context_type(self, type_name: str, type_version: str | None = None, extra_options=None):
        return self._get_type(CONTEXT, type_name, type_version)

    @_api
    def get_artifact_types(self, extra_options=None) -> list:
        return codec.load_types(self._conn, ARTIFACT, "1")

    @_api
    def get_execution_types(self, extra_options=None) -> list:
        return codec.load_types(self._conn, EXECUTION, "1")

    @_api
    def get_context_types(self, extra_options=None) -> list:
        return codec.load_types(self._conn, CONTEXT, "1")

    def _types_by_ids(self, kind: Kind, type_ids: Iterable[int]) -> list:
        ids = list(type_ids)
        if not ids:
            return []
        return codec.load_types(self._conn, kind, "id IN (SELECT value FROM json_each(?))", (codec.json_ids(ids),))

    def _types_by_external_ids(self, kind: Kind, external_ids: Iterable[str]) -> list:
        ext = list(external_ids)
        if not ext:
            return []
        return codec.load_types(self._conn, kind, "external_id IN (SELECT value FROM json_each(?))", (json.dumps(ext),))

    @_api
    def get_artifact_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        """Artifact types with these ids; ids of missing (or non-artifact) types are skipped."""
        return self._types_by_ids(ARTIFACT, type_ids)

    @_api
    def get_execution_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        return self._types_by_ids(EXECUTION, type_ids)

    @_api
    def get_context_types_by_id(self, type_ids: Iterable[int], extra_options=None) -> list:
        return self._types_by_ids(CONTEXT, type_ids)

    @_api
    def get_artifact_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        """Artifact types with these external ids ([] when none match; ML Metadata raises NotFoundError)."""
        return self._types_by_external_ids(ARTIFACT, external_ids)

    @_api
    def get_execution_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._types_by_external_ids(EXECUTION, external_ids)

    @_api
    def get_context_types_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._types_by_external_ids(CONTEXT, external_ids)

    # -- nodes: writes -----------------------------------------------------

    def _check_props(self, c, kind: Kind, type_id: int, info, node, groups=("properties", "custom_properties")):
        """Property rows (name, is_custom, 6 value columns) of `node`, checked against its type."""
        rows = []
        v = node._v
        for group in groups:
            m = v.get(group)
            if not m:
                continue
            custom = group == "custom_properties"
            for name, value in m._d.items():
                if not custom and name not in info[2]:
                    info = self._type(c, type_id, refresh=True)  # a property may have been added since we cached
                ptype, cols = codec.check_value_type(kind, info[2], name, value, custom)
                rows.append((name, 1 if custom else 0, *cols))
        return rows

    def _columns(self, kind: Kind, node) -> tuple:
        v = node._v
        if kind is ARTIFACT:
            return (v.get("uri"), v.get("state"), v.get("name") or None, v.get("external_id") or None)
        if kind is EXECUTION:
            return (v.get("last_known_state"), v.get("name") or None, v.get("external_id") or None)
        name = v.get("name")
        if not name:
            raise errors.InvalidArgumentError("a context needs a non-empty name")
        return (name, v.get("external_id") or None)

    def _put_node(self, c, kind: Kind, node, mask: Sequence[str] | None = None, *, reuse_external_id: bool = False,
                  reuse_context: bool = False, force_update_time: bool = False) -> int:
        if not isinstance(node, kind.cls):
            raise errors.InvalidArgumentError(f"expected a {kind.cls.__name__}, got {type(node).__name__}")
        nid = node._v.get("id")
        if nid is None and reuse_external_id and node._v.get("external_id"):
            row = c.execute(f"SELECT id FROM {kind.table} WHERE external_id = ?", (node._v["external_id"],)).fetchone()
            if row is not None:
                nid = row[0]
        if nid is None:
            return self._insert_node(c, kind, node, reuse_context)
        self._update_node(c, kind, nid, node, mask, force_update_time)
        return nid

    def _insert_node(self, c, kind: Kind, node, reuse_context: bool = False) -> int:
        type_id = node._v.get("type_id")
        if not type_id:
            raise errors.InvalidArgumentError(f"the new {kind.name} has no type_id; set it to the id of {_a(kind.name)} type")
        info = self._node_type(c, kind, type_id)
        self._guard_type(kind, info[1], f"cannot create the {kind.name}")
        cols = self._columns(kind, node)
        rows = self._check_props(c, kind, type_id, info, node)
        t = now_ms()
        try:
            nid = c.execute(kind.insert_sql, (type_id, *cols, t, t)).lastrowid
        except sqlite3.IntegrityError as e:
            ext = node._v.get("external_id")
            if "external_id" in str(e):
                raise errors.AlreadyExistsError(f"an {kind.name} with external_id {ext!r} exists already") from None
            name = node._v.get("name")
            if "name" in str(e):
                found = c.execute(f"SELECT id FROM {kind.table} WHERE type_id = ? AND name = ?", (type_id, name)).fetchone()
                if reuse_context and found is not None:
                    return found[0]
                raise errors.AlreadyExistsError(
                    f"{_a(kind.name)} named {name!r} of type {info[1]!r} exists already (id {found[0] if found else '?'}); "
                    f"names are unique per type"
                ) from None
            raise
        if rows:
            c.executemany(kind.prop_insert_sql, [(nid, *r) for r in rows])
        return nid

    def _update_node(self, c, kind: Kind, nid: int, node, mask, force_update_time: bool) -> None:
        found = c.execute(kind.stored_sql, (nid,)).fetchall()
        if not found:
            raise errors.InvalidArgumentError(f"no {kind.name} with id {nid} to update (leave id unset to insert)")
        ncols = 1 + len(kind.columns)
        type_id = found[0][0]
        given_type = node._v.get("type_id")
        if given_type is not None and given_type != type_id:
            raise errors.InvalidArgumentError(
                f"{kind.name} {nid} has type_id {type_id}; an update cannot change it to {given_type}"
            )
        info = self._node_type(c, kind, type_id)
        what = f"cannot update {kind.name} {nid}"
        if mask:
            self._guard_type(kind, info[1], what)
            self._masked_update(c, kind, nid, type_id, info, node, mask)
            return
        cols = self._columns(kind, node)
        rows = self._check_props(c, kind, type_id, info, node)
        same = tuple(found[0][1:ncols]) == cols
        if same:
            stored = [tuple(r[ncols:]) for r in found if r[ncols] is not None]
            same = len(stored) == len(rows) and sorted(stored, key=_row_key) == sorted(rows, key=_row_key)
        if same:  # an unchanged node, e.g. knit's datum passed back as an execution's input
            if force_update_time:
                self._guard_type(kind, info[1], what)
                c.execute(f"UPDATE {kind.table} SET update_time_ms = ? WHERE id = ?", (now_ms(), nid))
            return
        self._guard_type(kind, info[1], what)
        try:
            c.execute(kind.update_sql, (*cols, now_ms(), nid))
        except sqlite3.IntegrityError as e:
            raise self._conflict(kind, e, node) from None
        c.execute(f"DELETE FROM {kind.prop_table} WHERE {kind.fk} = ?", (nid,))
        if rows:
            c.executemany(kind.prop_insert_sql, [(nid, *r) for r in rows])

    def _conflict(self, kind: Kind, e: sqlite3.IntegrityError, node) -> errors.StatusError:
        if "external_id" in str(e):
            return errors.AlreadyExistsError(f"an {kind.name} with external_id {node.external_id!r} exists already")
        if "name" in str(e):
            return errors.AlreadyExistsError(f"{_a(kind.name)} named {node.name!r} exists already for this type")
        return errors.InternalError(str(e))

    def _masked_update(self, c, kind: Kind, nid: int, type_id: int, info, node, mask: Sequence[str]) -> None:
        sets: dict[str, object] = {}
        replace_groups = []
        single: list[tuple[str, str]] = []
        for path in mask:
            if path in kind.mask_fields:
                value = node._v.get(path)
                if path in ("name", "external_id") and value == "":
                    value = None
                if kind is CONTEXT and path == "name" and not value:
                    raise errors.InvalidArgumentError("a context needs a non-empty name")
                sets[path] = value
            elif path in ("properties", "custom_properties"):
                replace_groups.append(path)
            elif path.startswith(("properties.", "custom_properties.")):
                group, _, pname = path.partition(".")
                single.append((group, pname))
            else:
                # Fixed or computed fields (id, type_id, create time...) and entries that name no field:
                # ml-metadata skips them, and code written for it passes such masks.
                continue
        if sets:
            try:
                c.execute(f"UPDATE {kind.table} SET {', '.join(k + ' = ?' for k in sets)} WHERE id = ?", (*sets.values(), nid))
            except sqlite3.IntegrityError as e:
                raise self._conflict(kind, e, node) from None
        for group in replace_groups:
            custom = 1 if group == "custom_properties" else 0
            c.execute(f"DELETE FROM {kind.prop_table} WHERE {kind.fk} = ? AND is_custom = ?", (nid, custom))
            rows = self._check_props(c, kind, type_id, info, node, groups=(group,))
            c.executemany(f"INSERT INTO {kind.prop_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(nid, *r) for r in rows])
        for group, pname in single:
            custom = 1 if group == "custom_properties" else 0
            m = node._v.get(group)
            value = m._d.get(pname) if m else None
            c.execute(f"DELETE FROM {kind.prop_table} WHERE {kind.fk} = ? AND name = ? AND is_custom = ?", (nid, pname, custom))
            if value is not None:
                if not custom and pname not in info[2]:
                    info = self._type(c, type_id, refresh=True)
                _, cols = codec.check_value_type(kind, info[2], pname, value, bool(custom))
                c.execute(f"INSERT INTO {kind.prop_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (nid, pname, custom, *cols))
        c.execute(f"UPDATE {kind.table} SET update_time_ms = ? WHERE id = ?", (now_ms(), nid))

    def _put_nodes(self, kind: Kind, nodes, field_mask_paths) -> list[int]:
        mask = list(field_mask_paths or ())
        with self._write() as c:
            return [self._put_node(c, kind, n, mask) for n in nodes]

    @_api
    def put_artifacts(self, artifacts, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        """Insert artifacts (no id) or update them (id set), all in one transaction; returns their ids.

        New artifacts need a type_id (InvalidArgumentError; NotFoundError for an unknown
        type); properties must be declared by the type with the same value type
        (InvalidArgumentError); a name is unique per type and an external_id overall
        (AlreadyExistsError). An update replaces the whole artifact, or only the
        `field_mask_paths` given (`uri`, `state`, `name`, `external_id`, `properties`,
        `properties.<name>`, `custom_properties`, `custom_properties.<name>`); an update
        that changes nothing leaves last_update_time alone. An unknown id is an InvalidArgumentError.
        """
        return self._put_nodes(ARTIFACT, artifacts, field_mask_paths)

    @_api
    def put_executions(self, executions, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        """Like put_artifacts, for executions (mask fields: last_known_state, name, external_id, properties...)."""
        return self._put_nodes(EXECUTION, executions, field_mask_paths)

    @_api
    def put_contexts(self, contexts, field_mask_paths: Sequence[str] | None = None, extra_options=None) -> list[int]:
        """Like put_artifacts, for contexts; a context needs a non-empty name, unique per type."""
        return self._put_nodes(CONTEXT, contexts, field_mask_paths)

    # -- edges -------------------------------------------------------------

    def _insert_event(self, c, ev, artifact_id: int, execution_id: int, known: bool = False) -> None:
        """`known`: both ends were just written or read in this transaction (their check is skipped)."""
        typ = ev._v.get("type")
        if not typ:
            raise errors.InvalidArgumentError(
                f"the event between artifact {artifact_id} and execution {execution_id} has no type (INPUT, OUTPUT, ...)"
            )
        if self._knit:
            self._guard_node(c, EXECUTION, execution_id, "cannot add events to this execution")
        ms = ev._v.get("milliseconds_since_epoch") or now_ms()
        try:
            eid = (execute_known if known else _execute)(
                c, "INSERT INTO event(artifact_id, execution_id, type, milliseconds_since_epoch) VALUES (?, ?, ?, ?)",
                (artifact_id, execution_id, typ, ms),
            ).lastrowid
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise errors.AlreadyExistsError(
                    f"an {pb.Event.Type.Name(typ)} event between artifact {artifact_id} and execution {execution_id} "
                    f"exists already"
                ) from None
            if c.execute("SELECT 1 FROM artifact WHERE id = ?", (artifact_id,)).fetchone() is None:
                raise errors.InvalidArgumentError(f"no artifact with id {artifact_id} (event to execution {execution_id})") from None
            raise errors.InvalidArgumentError(f"no execution with id {execution_id} (event from artifact {artifact_id})") from None
        path = ev._v.get("path")
        if path is not None:
            steps = path._v.get("steps")
            if steps:
                c.executemany(
                    "INSERT INTO event_path(event_id, position, is_index_step, step_index, step_key) VALUES (?, ?, ?, ?, ?)",
                    [(eid, i, 1, s._v["index"], None) if "index" in s._v else (eid, i, 0, None, s._v.get("key", ""))
                     for i, s in enumerate(steps._items)],
                )

    @_api
    def put_events(self, events, extra_options=None) -> None:
        """Insert events, all in one transaction. Both ids and the type are required and the ids must
        exist (InvalidArgumentError); the same (artifact, execution, type) twice is an AlreadyExistsError."""
        with self._write() as c:
            for ev in events:
                if not isinstance(ev, pb.Event):
                    raise errors.InvalidArgumentError(f"put_events takes Events, not {type(ev).__name__}")
                aid, xid = ev._v.get("artifact_id"), ev._v.get("execution_id")
                if not aid:
                    raise errors.InvalidArgumentError("the event has no artifact_id")
                if not xid:
                    raise errors.InvalidArgumentError("the event has no execution_id")
                self._insert_event(c, ev, aid, xid)

    def _link(self, c, table: str, node: str, node_id: int, context_id: int, known: bool = False) -> None:
        if self._knit:
            self._guard_node(c, CONTEXT, context_id, f"cannot add {table}s to this context")
        try:
            (execute_known if known else _execute)(
                c, f"INSERT OR IGNORE INTO {table}(context_id, {node}_id) VALUES (?, ?)", (context_id, node_id))
        except sqlite3.IntegrityError:
            if c.execute("SELECT 1 FROM context WHERE id = ?", (context_id,)).fetchone() is None:
                raise errors.InvalidArgumentError(f"no context with id {context_id} ({table} of {node} {node_id})") from None
            raise errors.InvalidArgumentError(f"no {node} with id {node_id} ({table} to context {context_id})") from None

    @_api
    def put_attributions_and_associations(self, attributions, associations, extra_options=None) -> None:
        """Attribute artifacts and associate executions to contexts; existing links are left as they are.
        Unknown ids are an InvalidArgumentError."""
        with self._write() as c:
            for a in attributions:
                self._link(c, "attribution", "artifact", a.artifact_id, a.context_id)
            for a in associations:
                self._link(c, "association", "execution", a.execution_id, a.context_id)

    @_api
    def put_parent_contexts(self, parent_contexts, extra_options=None) -> None:
        """Make contexts children of others. Unknown ids, a context as its own parent and cycles are
        InvalidArgumentErrors; a link that exists already is an AlreadyExistsError."""
        with self._write() as c:
            for pc in parent_contexts:
                child, parent = pc.child_id, pc.parent_id
                if child == parent:
                    raise errors.InvalidArgumentError(f"context {child} cannot be its own parent")
                for cid in (child, parent):
                    if c.execute("SELECT 1 FROM context WHERE id = ?", (cid,)).fetchone() is None:
                        raise errors.InvalidArgumentError(f"no context with id {cid} (parent context {parent} of {child})")
                    self._guard_node(c, CONTEXT, cid, "cannot change the parents or children of this context")
                cycle = c.execute(
                    "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT pc.parent_context_id FROM parent_context pc"
                    " JOIN up ON pc.context_id = up.id) SELECT 1 FROM up WHERE id = ?",
                    (parent, child),
                ).fetchone()
                if cycle:
                    raise errors.InvalidArgumentError(
                        f"making context {parent} a parent of {child} would close a cycle ({child} is already above {parent})"
                    )
                try:
                    c.execute("INSERT INTO parent_context(context_id, parent_context_id) VALUES (?, ?)", (child, parent))
                except sqlite3.IntegrityError:
                    raise errors.AlreadyExistsError(f"context {parent} is already a parent of {child}") from None

    # -- atomic writes -----------------------------------------------------

    def _put_contexts_for(self, c, contexts, reuse_context: bool, force_reuse: bool = False) -> list[int]:
        ids = []
        for ctx in contexts or ():
            if force_reuse and ctx._v.get("id") is not None:
                if c.execute("SELECT 1 FROM context WHERE id = ?", (ctx.id,)).fetchone() is None:
                    raise errors.InvalidArgumentError(f"no context with id {ctx.id}")
                ids.append(ctx.id)
                continue
            ids.append(self._put_node(c, CONTEXT, ctx, reuse_context=reuse_context))
        return ids

    @_api
    def put_execution(self, execution, artifact_and_events, contexts=None, reuse_context_if_already_exist: bool = False,
                      reuse_artifact_if_already_exist_by_external_id: bool = False, force_reuse_context: bool = False,
                      force_update_time: bool = False, extra_options=None) -> tuple[int, list[int], list[int]]:
        """Insert or update an execution with its artifacts, events and contexts, in one transaction.

        `artifact_and_events` holds (artifact, event or None) pairs: each artifact is inserted
        or updated, each event links it to the execution (an id set on the event must match
        the pair's artifact and the execution: InvalidArgumentError). Every context is
        inserted or updated and gets the execution associated and the artifacts attributed.
        `reuse_context_if_already_exist` reuses a stored context with the same type and
        name; `reuse_artifact_if_already_exist_by_external_id` updates the stored artifact
        with the same external_id; `force_reuse_context` links contexts given by id without
        updating them; `force_update_time` bumps the execution's update time even when it
        did not change. Returns (execution id, artifact ids, context ids).
        """
        with self._write() as c:
            eid = self._put_node(c, EXECUTION, execution, force_update_time=force_update_time)
            given_eid = execution._v.get("id")
            art_ids = []
            for pair in artifact_and_events:
                artifact = pair[0]
                event = pair[1] if len(pair) > 1 else None
                if event is not None:
                    ev_x = event._v.get("execution_id")
                    if ev_x is not None and ev_x != eid:
                        raise errors.InvalidArgumentError(
                            f"the event's execution_id {ev_x} does not match the execution "
                            f"({given_eid if given_eid is not None else 'new, id ' + str(eid)})"
                        )
                    ev_a = event._v.get("artifact_id")
                    a_id = artifact._v.get("id")
                    if ev_a is not None and a_id is not None and ev_a != a_id:
                        raise errors.InvalidArgumentError(
                            f"the event's artifact_id {ev_a} does not match its artifact's id {a_id}"
                        )
                    if ev_a is not None and a_id is None and not reuse_artifact_if_already_exist_by_external_id:
                        raise errors.InvalidArgumentError(
                            f"the event names artifact {ev_a} but its artifact is new (no id)"
                        )
                aid = self._put_node(c, ARTIFACT, artifact,
                                     reuse_external_id=reuse_artifact_if_already_exist_by_external_id)
                art_ids.append(aid)
                if event is not None:
                    self._insert_event(c, event, aid, eid, known=True)  # both put just above
            ctx_ids = self._put_contexts_for(c, contexts, reuse_context_if_already_exist, force_reuse_context)
            for cid in ctx_ids:  # every id here was written or read above, in this transaction
                self._link(c, "association", "execution", eid, cid, known=True)
                for aid in art_ids:
                    self._link(c, "attribution", "artifact", aid, cid, known=True)
            return eid, art_ids, ctx_ids

    @_api
    def put_lineage_subgraph(self, executions, artifacts, contexts, event_edges,
                             reuse_context_if_already_exist: bool = False,
                             reuse_artifact_if_already_exist_by_external_id: bool = False,
                             extra_options=None) -> tuple[list[int], list[int], list[int]]:
        """Insert or update executions, artifacts and contexts and the events among them, in one transaction.

        `event_edges` holds (execution index or None, artifact index or None, event): an index
        points into `executions` / `artifacts` (OutOfRangeError when outside them); without
        one the event's own id is used (InvalidArgumentError when missing or when it
        disagrees with the indexed node). Every context gets all the executions associated
        and all the artifacts attributed. Returns (execution ids, artifact ids, context ids).
        """
        executions, artifacts = list(executions), list(artifacts)
        for n, (xi, ai, _) in enumerate(event_edges):
            if xi is not None and not 0 <= xi < len(executions):
                raise errors.OutOfRangeError(
                    f"event_edges[{n}] has execution_index {xi}, outside the executions given [0, {len(executions)})"
                )
            if ai is not None and not 0 <= ai < len(artifacts):
                raise errors.OutOfRangeError(
                    f"event_edges[{n}] has artifact_index {ai}, outside the artifacts given [0, {len(artifacts)})"
                )
        with self._write() as c:
            exe_ids = [self._put_node(c, EXECUTION, e) for e in executions]
            art_ids = [self._put_node(c, ARTIFACT, a, reuse_external_id=reuse_artifact_if_already_exist_by_external_id)
                       for a in artifacts]
            ctx_ids = self._put_contexts_for(c, contexts, reuse_context_if_already_exist)
            for n, (xi, ai, ev) in enumerate(event_edges):
                xid = _edge_end(n, "execution", xi, exe_ids, ev._v.get("execution_id"))
                aid = _edge_end(n, "artifact", ai, art_ids, ev._v.get("artifact_id"))
                self._insert_event(c, ev, aid, xid)
            for cid in ctx_ids:
                for xid in exe_ids:
                    self._link(c, "association", "execution", xid, cid)
                for aid in art_ids:
                    self._link(c, "attribution", "artifact", aid, cid)
            return exe_ids, art_ids, ctx_ids

    # -- nodes: reads ------------------------------------------------------

    def _by_ids(self, kind: Kind, ids: Iterable[int]) -> list:
        ids = sorted({int(i) for i in ids})
        if not ids:
            return []
        return lineage.load_by_ids(self._conn, kind, ids, self._tnames)

    def _select(self, kind: Kind, where: str, params=(), order: str = "n.id") -> list:
        with self._catalog.read() as c, codec.bulk():
            # plain tuples: no sqlite3.Row per row (listings of 100,000 spend half their fetch time on those)
            rows = plain_rows(c, f"SELECT {kind.select} FROM {kind.table} n WHERE {where} ORDER BY {order}", params)
            return codec.load_nodes(kind, c, rows, self._tnames)

    def _by_type(self, kind: Kind, type_name: str, type_version: str | None) -> list:
        row = self._conn.execute(
            "SELECT id FROM type WHERE kind = ? AND name = ? AND ifnull(version, '') = ?",
            (kind.type_kind, type_name, type_version or ""),
        ).fetchone()
        if row is None:
            return []
        return self._select(kind, "n.type_id = ?", (row[0],))

    def _by_type_and_name(self, kind: Kind, type_name: str, name: str, type_version: str | None):
        row = self._conn.execute(
            "SELECT id FROM type WHERE kind = ? AND name = ? AND ifnull(version, '') = ?",
            (kind.type_kind, type_name, type_version or ""),
        ).fetchone()
        if row is None:
            return None
        found = self._select(kind, "n.type_id = ? AND n.name = ?", (row[0], name))
        return found[0] if found else None

    def _by_external_ids(self, kind: Kind, external_ids: Iterable[str]) -> list:
        ext = list(external_ids)
        if not ext:
            return []
        return self._select(kind, "n.external_id IN (SELECT value FROM json_each(?))", (json.dumps(ext),))

    @_api
    def get_artifacts_by_id(self, artifact_ids: Iterable[int], extra_options=None) -> list:
        """Artifacts with these ids, in id order; missing ids are skipped."""
        return self._by_ids(ARTIFACT, artifact_ids)

    @_api
    def get_executions_by_id(self, execution_ids: Iterable[int], extra_options=None) -> list:
        return self._by_ids(EXECUTION, execution_ids)

    @_api
    def get_contexts_by_id(self, context_ids: Iterable[int], extra_options=None) -> list:
        return self._by_ids(CONTEXT, context_ids)

    @_api
    def get_artifacts_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        """Artifacts of the named type ([] when there is no such type)."""
        return self._by_type(ARTIFACT, type_name, type_version)

    @_api
    def get_executions_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        return self._by_type(EXECUTION, type_name, type_version)

    @_api
    def get_contexts_by_type(self, type_name: str, type_version: str | None = None, extra_options=None) -> list:
        return self._by_type(CONTEXT, type_name, type_version)

    @_api
    def get_artifact_by_type_and_name(self, type_name: str, artifact_name: str, type_version: str | None = None,
                                      extra_options=None):
        """The artifact of this type with this name, or None."""
        return self._by_type_and_name(ARTIFACT, type_name, artifact_name, type_version)

    @_api
    def get_execution_by_type_and_name(self, type_name: str, execution_name: str, type_version: str | None = None,
                                       extra_options=None):
        return self._by_type_and_name(EXECUTION, type_name, execution_name, type_version)

    @_api
    def get_context_by_type_and_name(self, type_name: str, context_name: str, type_version: str | None = None,
                                     extra_options=None):
        return self._by_type_and_name(CONTEXT, type_name, context_name, type_version)

    @_api
    def get_artifacts_by_uri(self, uri: str, extra_options=None) -> list:
        return self._select(ARTIFACT, "n.uri = ?", (uri,))

    @_api
    def get_artifacts_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        """Artifacts with these external ids ([] when none match; ML Metadata raises NotFoundError)."""
        return self._by_external_ids(ARTIFACT, external_ids)

    @_api
    def get_executions_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._by_external_ids(EXECUTION, external_ids)

    @_api
    def get_contexts_by_external_ids(self, external_ids: Iterable[str], extra_options=None) -> list:
        return self._by_external_ids(CONTEXT, external_ids)

    @_api
    def get_artifacts_and_types_by_artifact_ids(self, artifact_ids: Iterable[int], extra_options=None):
        """(artifacts with these ids, their types)."""
        with self._catalog.read():
            arts = self._by_ids(ARTIFACT, artifact_ids)
            tids = sorted({a.type_id for a in arts})
            return arts, self._types_by_ids(ARTIFACT, tids)

    # listings ------------------------------------------------------------------

    def _list(self, kind: Kind, options: ListOptions | None, base: str = "", base_params=(), *, page: bool = False):
        opts = options if options is not None else ListOptions()
        if not isinstance(opts, ListOptions):
            raise errors.InvalidArgumentError(f"list_options must be a ListOptions, not {type(opts).__name__}")
        limit = opts.limit
        if limit is not None and limit < 1:
            raise errors.InvalidArgumentError(f"list_options.limit must be at least 1 (got {limit})")
        if page and limit is None:
            limit = DEFAULT_PAGE_SIZE
        order = opts.order_by or OrderByField.ID
        if not isinstance(order, OrderByField):
            raise errors.InvalidArgumentError(f"list_options.order_by must be an OrderByField, not {order!r}")
        col = _ORDER_COLUMN[order]
        asc = bool(opts.is_asc)
        joins = ""
        params: list[object] = []
        conds: list[str] = []
        if base:
            conds.append(base)
        fq = opts.filter_query or ""
        if not fq.strip():
            fq = ""
        if fq:
            comp = compile_filter(fq, kind.name)
            joins = comp.joins
            params += comp.join_params
            conds.append(comp.where)
        params += base_params
        if fq:
            params += comp.params
        listing = _listing_key(kind, order, asc, fq, base, base_params)
        if opts.next_page_token:
            last = _decode_token(opts.next_page_token, listing)
            cmp = ">" if asc else "<"
            if order is OrderByField.ID:
                conds.append(f"n.id {cmp} ?")
                params.append(last[1])
            else:
                conds.append(f"({col}, n.id) {cmp} (?, ?)")
                params += last
        direction = "ASC" if asc else "DESC"
        order_sql = f"n.id {direction}" if order is OrderByField.ID else f"{col} {direction}, n.id {direction}"
        sql = f"SELECT {kind.select} FROM {kind.table} n {joins}"
        if conds:
            sql += " WHERE " + " AND ".join(f"({x})" for x in conds)
        sql += f" ORDER BY {order_sql}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit + 1 if page else limit)
        with self._catalog.read() as c, codec.bulk():
            rows = plain_rows(c, sql, params)
            more = page and limit is not None and len(rows) > limit  # a page always has a limit
            if more:
                rows = rows[:limit]
            nodes = codec.load_nodes(kind, c, rows, self._tnames)
        if not page:
            return nodes
        token = None
        if more:
            r = rows[-1]
            key = {OrderByField.ID: r[0], OrderByField.CREATE_TIME: r[-2], OrderByField.UPDATE_TIME: r[-1]}[order]
            token = _encode_token(listing, key, r[0])
        return nodes, token

    @_api
    def get_artifacts(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        """Artifacts, all or as `list_options` says (limit, order, filter; InvalidArgumentError for a bad one)."""
        return self._list(ARTIFACT, list_options)

    @_api
    def get_executions(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        return self._list(EXECUTION, list_options)

    @_api
    def get_contexts(self, list_options: ListOptions | None = None, extra_options=None) -> list:
        return self._list(CONTEXT, list_options)

    @_api
    def get_artifacts_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        """knit's addition: one page (`limit`, default 100) and the token for the next (None at the end).

        Paging is by keyset (the last row's order key), so each page costs the same however
        deep it is, and rows written meanwhile neither repeat nor go missing.
        """
        return self._list(ARTIFACT, list_options, page=True)

    @_api
    def get_executions_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        return self._list(EXECUTION, list_options, page=True)

    @_api
    def get_contexts_page(self, list_options: ListOptions | None = None) -> tuple[list, str | None]:
        return self._list(CONTEXT, list_options, page=True)

    @_api
    def get_artifacts_by_context(self, context_id: int, list_options: ListOptions | None = None,
                                 extra_options=None) -> list:
        """The artifacts attributed to a context ([] for an unknown context)."""
        return self._list(ARTIFACT, list_options, "n.id IN (SELECT artifact_id FROM attribution WHERE context_id = ?)",
                          (context_id,))

    @_api
    def get_executions_by_context(self, context_id: int, list_options: ListOptions | None = None,
                                  extra_options=None) -> list:
        """The executions associated with a context ([] for an unknown context)."""
        return self._list(EXECUTION, list_options,
                          "n.id IN (SELECT execution_id FROM association WHERE context_id = ?)", (context_id,))

    def _contexts_of(self, link: str, node: str, node_id: int) -> list:
        if self._conn.execute(f"SELECT 1 FROM {node} WHERE id = ?", (node_id,)).fetchone() is None:
            raise errors.NotFoundError(f"no {node} with id {node_id}")
        return self._select(CONTEXT, f"n.id IN (SELECT context_id FROM {link} WHERE {node}_id = ?)", (node_id,))

    @_api
    def get_contexts_by_artifact(self, artifact_id: int, extra_options=None) -> list:
        """The contexts an artifact is attributed to. NotFoundError for an unknown artifact; [] for an
        artifact in no context (ML Metadata raises NotFoundError then too)."""
        return self._contexts_of("attribution", "artifact", artifact_id)

    @_api
    def get_contexts_by_execution(self, execution_id: int, extra_options=None) -> list:
        """The contexts an execution is associated with (errors as get_contexts_by_artifact)."""
        return self._contexts_of("association", "execution", execution_id)

    @_api
    def get_parent_contexts_by_context(self, context_id: int, extra_options=None) -> list:
        return self._select(CONTEXT, "n.id IN (SELECT parent_context_id FROM parent_context WHERE context_id = ?)",
                            (context_id,))

    @_api
    def get_children_contexts_by_context(self, context_id: int, extra_options=None) -> list:
        return self._select(CONTEXT, "n.id IN (SELECT context_id FROM parent_context WHERE parent_context_id = ?)",
                            (context_id,))

    def _events(self, column: str, ids: Iterable[int]) -> list:
        ids = [int(i) for i in ids]
        if not ids:
            return []
        rows = plain_rows(
            self._conn, f"{codec.EVENT_SELECT} WHERE e.{column} IN (SELECT value FROM json_each(?)) ORDER BY e.id, p.position",
            (codec.json_ids(ids),),
        )
        return codec.events_from_rows(rows)

    @_api
    def get_events_by_artifact_ids(self, artifact_ids: Iterable[int], extra_options=None) -> list:
        return self._events("artifact_id", artifact_ids)

    @_api
    def get_events_by_execution_ids(self, execution_ids: Iterable[int], extra_options=None) -> list:
        return self._events("execution_id", execution_ids)

    @_api
    def get_lineage_subgraph(self, query_options, field_mask_paths: Sequence[str] | None = None,
                             extra_options=None):
        """The lineage graph around the starting nodes (see `knitctl.metadata.lineage`), walked in one query.

        InvalidArgumentError without starting nodes or filter, or for negative max_num_hops
        (unset means 100); NotFoundError when the filter matches no node. `field_mask_paths`
        picks parts of the graph (artifacts, executions, contexts, events, attributions,
        associations, artifact_types, execution_types, context_types); default all.
        """
        if not isinstance(query_options, pb.LineageSubgraphQueryOptions):
            raise errors.InvalidArgumentError(
                f"query_options must be a LineageSubgraphQueryOptions, not {type(query_options).__name__}"
            )
        with self._catalog.read() as c:
            return lineage.subgraph(c, self._tnames, query_options, field_mask_paths)


# -- helpers ----------------------------------------------------------------------


def _execute(c, sql: str, params):
    return c.execute(sql, params)


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _row_key(r):
    return (r[0], r[1])


def _edge_end(n: int, what: str, index, ids: list[int], event_id) -> int:
    if index is not None:
        nid = ids[index]
        if event_id is not None and event_id != nid:
            raise errors.InvalidArgumentError(
                f"event_edges[{n}]: the event's {what}_id {event_id} does not match {what}s[{index}] (id {nid})"
            )
        return nid
    if not event_id:
        raise errors.InvalidArgumentError(f"event_edges[{n}] has neither a {what}_index nor an event.{what}_id")
    return event_id


def _listing_key(kind: Kind, order: OrderByField, asc: bool, fq: str, base: str, base_params) -> str:
    h = hashlib.sha1(json.dumps([kind.name, order.name, asc, fq, base, list(base_params)]).encode()).hexdigest()
    return h[:16]


def _encode_token(listing: str, key, last_id: int) -> str:
    raw = json.dumps([listing, key, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, listing: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        owner, key, last_id = json.loads(raw)
    except Exception:
        raise errors.InvalidArgumentError("next_page_token is not a token this store gave out") from None
    if owner != listing:
        raise errors.InvalidArgumentError(
            "next_page_token belongs to a different listing; keep order_by, is_asc and filter_query the same while paging"
        )
    return [key, last_id]


def knit_catalog(home=None, *, readonly: bool = False) -> MetadataStore:
    """A MetadataStore over the knit catalog in `home` (default: $KNIT_HOME or the standard place)."""
    config = pb.ConnectionConfig()
    config.knit.SetInParent()
    if home is not None:
        config.knit.home = str(home)
    config.knit.readonly = readonly
    return MetadataStore(config)


# -- schema downgrades --------------------------------------------------------------

def downgrade_schema(config, downgrade_to_schema_version: int) -> None:
    """Take the store's schema back to an older version, in one transaction, for an older knit.

    InvalidArgumentError for a negative version or one not older than this knit's. Version 0
    is before knit's first schema: only a store that holds nothing goes there
    (FailedPreconditionError otherwise). The store is migrated forward again when opened with
    enable_upgrade_migration=True (the knit catalog: whenever knit opens it).
    """
    # The two messages begin with ml-metadata's wording, which callers match on.
    if downgrade_to_schema_version is None or downgrade_to_schema_version < 0:
        raise errors.InvalidArgumentError(
            f"downgrade_to_schema_version not specified: give a version between 0 and {LATEST - 1}, "
            f"not {downgrade_to_schema_version}"
        )
    if downgrade_to_schema_version >= LATEST:
        raise errors.InvalidArgumentError(
            f"MLMD cannot be downgraded to schema_version: {downgrade_to_schema_version}; this knit's schema is "
            f"version {LATEST}: give a version between 0 and {LATEST - 1}"
        )
    if isinstance(config, pb.MetadataStoreClientConfig):
        raise errors.InvalidArgumentError("a metadata server's store is downgraded on the server, not over gRPC")
    try:
        catalog, readonly, _, where = _open(config, enable_upgrade_migration=True)
    except sqlite3.Error as e:
        raise errors.FailedPreconditionError(f"cannot open the store: {e}") from None
    try:
        if isinstance(catalog, MlmdFile):
            raise errors.FailedPreconditionError(
                f"{where} is an ml-metadata store: its schema is ml-metadata's, not knit's; "
                "downgrade it with ml-metadata's own downgrade_schema"
            )
        if readonly:
            raise errors.PermissionDeniedError(f"cannot downgrade a read-only store ({where})")
        catalog.downgrade(downgrade_to_schema_version, where)
    except KnitError as e:
        if isinstance(e, errors.StatusError):
            raise
        raise errors.FailedPreconditionError(e.message) from None
    finally:
        catalog.close()
