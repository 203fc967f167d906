"""What `knitctl metadata serve` serves: the store and TLS from its options, as ml-metadata's server
takes them (`--config` names a `MetadataStoreServerConfig` in text format).

`plan(...)` turns the command's options into a `Plan` (pure: files are read by the caller and
passed in); every mistake is one UsageError line saying what and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from . import metadata_store_pb2 as pb
from . import text_format


@dataclass
class Plan:
    connection: pb.ConnectionConfig
    enable_upgrade_migration: bool
    shared: bool  # one store for every call (an in-memory store), else one per server thread
    where: str  # for the start line
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    client_ca: bytes | None = None
    downgrade_to: int | None = None  # --config's migration_options.downgrade_to_schema_version


def _in_memory(c: pb.ConnectionConfig) -> bool:
    which = c.WhichOneof("config")
    if which == "fake_database":
        return True
    if which == "sqlite":
        uri = c.sqlite.filename_uri
        return not uri or uri in (":memory:", "file::memory:") or uri.startswith("file::memory:")
    return False


def from_server_config(text: str, source: str) -> Plan:
    try:
        cfg = text_format.parse(text, pb.MetadataStoreServerConfig)
    except ValueError as e:
        raise UsageError(f"{source}: not a MetadataStoreServerConfig in text format: {e}") from None
    if not cfg.HasField("connection_config") or cfg.connection_config.WhichOneof("config") is None:
        raise UsageError(f"{source} names no database: set connection_config {{ sqlite {{ filename_uri: '...' }} }}, "
                         "{ fake_database {} } or { knit {} }")
    conn = cfg.connection_config
    plan = Plan(conn, cfg.migration_options.enable_upgrade_migration, _in_memory(conn), _describe(conn))
    if cfg.migration_options.HasField("downgrade_to_schema_version") and cfg.migration_options.downgrade_to_schema_version >= 0:
        plan.downgrade_to = cfg.migration_options.downgrade_to_schema_version
    if cfg.HasField("ssl_config"):
        ssl = cfg.ssl_config
        if not ssl.server_cert or not ssl.server_key:
            raise UsageError(f"{source}: ssl_config needs server_cert and server_key (PEM text)")
        plan.tls_cert, plan.tls_key = ssl.server_cert.encode(), ssl.server_key.encode()
        if ssl.client_verify:
            if not ssl.custom_ca:
                raise UsageError(f"{source}: ssl_config.client_verify needs custom_ca (the PEM of the clients' CA)")
            plan.client_ca = ssl.custom_ca.encode()
    return plan


def _describe(c: pb.ConnectionConfig) -> str:
    which = c.WhichOneof("config")
    if _in_memory(c):
        return "an in-memory store"
    if which == "sqlite":
        return f"SQLite {c.sqlite.filename_uri}"
    if which == "knit":
        return f"the knit catalog{' in ' + c.knit.home if c.knit.home else ''}"
    return f"a {which} store"


def plan(config_text: str | None, config_source: str | None, sqlite: Path | None, in_memory: bool,
         home: str | None = None) -> Plan:
    """The store to serve: exactly one of --config, --sqlite, --in-memory, else the knit catalog."""
    chosen = [name for name, on in (("--config", config_text is not None), ("--sqlite", sqlite is not None),
                                    ("--in-memory", in_memory)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} each name a store: give one (or none, for the knit catalog)")
    if config_text is not None:
        return from_server_config(config_text, config_source or "--config")
    conn = pb.ConnectionConfig()
    if sqlite is not None:
        conn.sqlite.filename_uri = str(sqlite)
        conn.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return Plan(conn, False, False, f"SQLite {sqlite}")
    if in_memory:
        conn.fake_database.SetInParent()
        return Plan(conn, False, True, "an in-memory store")
    conn.knit.SetInParent()
    if home:
        conn.knit.home = home
    return Plan(conn, True, False, _describe(conn))
