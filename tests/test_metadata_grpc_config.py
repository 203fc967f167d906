"""The rules behind `knitctl metadata serve`'s options (pure functions): which store, which TLS, which
binds are refused; and the text format its `--config` is written in."""

from __future__ import annotations

from pathlib import Path

import pytest

from knitctl.errors import UsageError
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata import rpc, server, text_format
from knitctl.metadata import serve_config as sc
from knitctl.metadata.metadata_store import OrderByField

# -- text format ------------------------------------------------------------------------------------


def test_a_server_config_in_text_format():
    cfg = text_format.parse(r"""
        # as ml-metadata's server reads it
        connection_config {
          sqlite { filename_uri: '/var/mlmd/a.db' connection_mode: READWRITE_OPENCREATE }
          retry_options: < max_num_retries: 3 >
        }
        migration_options { enable_upgrade_migration: true downgrade_to_schema_version: -1 }
        ssl_config {
          server_key: "-----BEGIN KEY-----\n" "abc\n"
          client_verify: false
        }
    """, pb.MetadataStoreServerConfig)
    assert cfg.connection_config.sqlite.filename_uri == "/var/mlmd/a.db"
    assert cfg.connection_config.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    assert cfg.connection_config.retry_options.max_num_retries == 3
    assert cfg.migration_options.enable_upgrade_migration is True
    assert cfg.ssl_config.server_key == "-----BEGIN KEY-----\nabc\n"
    assert cfg.ssl_config.HasField("client_verify") and not cfg.ssl_config.client_verify


def test_maps_repeated_fields_and_escapes():
    t = text_format.parse('name: "x\\t\\101\\x42" properties { key: "day" value: INT } properties { key: "s" value: 3 }',
                          pb.ArtifactType)
    assert t.name == "x\tAB" and dict(t.properties) == {"day": pb.INT, "s": pb.STRING}
    a = text_format.parse('custom_properties { key: "k" value { double_value: -1.5e3 } }', pb.Artifact)
    assert a.custom_properties["k"].double_value == -1500.0
    from knitctl.metadata import service_pb2 as svc
    r = text_format.parse("artifact_ids: [1, 2, 0x10] artifact_ids: 4", svc.GetArtifactsByIDRequest)
    assert list(r.artifact_ids) == [1, 2, 16, 4]


@pytest.mark.parametrize(("text", "says"), [
    ("connection_config {", "line 1: a { is never closed"),
    ("nope: 1", "has no field 'nope'"),
    ("connection_config {\n sqlite { filename_uri: 3 } }", "line 2: expected a quoted string"),
    ("connection_config { sqlite { connection_mode: SOMETIMES } }", "no value named 'SOMETIMES'"),
    ("migration_options { enable_upgrade_migration: maybe }", "is not true or false"),
    ("connection_config { sqlite { filename_uri: 'a' } } }", "expected a field name"),
    ("connection_config { sqlite { filename_uri: 'a\\q' } }", "unknown escape"),
    ("connection_config: 3", "expected { after a message field"),
    ("ssl_config { server_key: @ }", "cannot read"),
])
def test_malformed_text_is_a_value_error_with_the_line(text, says):
    with pytest.raises(ValueError, match=says):
        text_format.parse(text, pb.MetadataStoreServerConfig)


# -- store selection ------------------------------------------------------------------------------------


def test_the_store_each_option_names(tmp_path):
    p = sc.plan(None, None, None, False, home=str(tmp_path))
    assert p.connection.WhichOneof("config") == "knit" and p.connection.knit.home == str(tmp_path) and not p.shared
    p = sc.plan(None, None, tmp_path / "a.db", False)
    assert p.connection.sqlite.filename_uri == str(tmp_path / "a.db") and not p.shared
    assert not p.enable_upgrade_migration  # as ml-metadata: an older SQLite store is upgraded only when asked
    p = sc.plan(None, None, None, True)
    assert p.connection.WhichOneof("config") == "fake_database" and p.shared
    p = sc.plan("connection_config { sqlite { } } migration_options { enable_upgrade_migration: true }", "c", None, False)
    assert p.shared and p.enable_upgrade_migration  # no file name: a fresh in-memory store, shared by all calls
    p = sc.plan("connection_config { fake_database {} } migration_options { downgrade_to_schema_version: 2 }", "c",
                None, False)
    assert p.downgrade_to == 2


def test_ssl_config_in_the_server_config():
    p = sc.plan('connection_config { fake_database {} } ssl_config { server_cert: "C" server_key: "K" custom_ca: "A" '
                "client_verify: true }", "f", None, False)
    assert (p.tls_cert, p.tls_key, p.client_ca) == (b"C", b"K", b"A")
    p = sc.plan('connection_config { fake_database {} } ssl_config { server_cert: "C" server_key: "K" custom_ca: "A" }',
                "f", None, False)
    assert p.client_ca is None  # custom_ca only checks clients with client_verify
    with pytest.raises(UsageError, match="ssl_config needs server_cert and server_key"):
        sc.plan('connection_config { fake_database {} } ssl_config { server_cert: "C" }', "f", None, False)
    with pytest.raises(UsageError, match="client_verify needs custom_ca"):
        sc.plan('connection_config { fake_database {} } ssl_config { server_cert: "C" server_key: "K" '
                "client_verify: true }", "f", None, False)


def test_conflicting_store_options_are_refused():
    with pytest.raises(UsageError, match="--config and --sqlite and --in-memory each name a store"):
        sc.plan("", "c", Path("x"), True)
    with pytest.raises(UsageError, match="names no database"):
        sc.plan("migration_options {}", "c.pbtxt", None, False)


# -- binds -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True),
                                                 ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                 ("10.0.0.2", False), ("::", False), ("example.com", False)])
def test_loopback(host, loopback):
    assert server.is_loopback(host) is loopback


def test_a_non_loopback_bind_needs_tls_or_insecure():
    with pytest.raises(UsageError, match="refusing to serve the metadata store on 0.0.0.0 without TLS"):
        server.check_settings(server.Settings(host="0.0.0.0"))
    server.check_settings(server.Settings(host="0.0.0.0", insecure=True))
    server.check_settings(server.Settings(host="0.0.0.0", tls_cert=b"c", tls_key=b"k"))
    with pytest.raises(UsageError, match="both a certificate and its key"):
        server.check_settings(server.Settings(tls_cert=b"c"))
    with pytest.raises(UsageError, match="--client-ca checks client certificates over TLS"):
        server.check_settings(server.Settings(client_ca=b"a"))
    with pytest.raises(UsageError, match="not a port number"):
        server.check_settings(server.Settings(port=70000))


# -- listing options ---------------------------------------------------------------------------------


def test_list_operation_options_become_a_page_request():
    o = pb.ListOperationOptions(max_result_size=500, filter_query="uri = 'a'", next_page_token="t")
    o.order_by_field.field = pb.ListOperationOptions.OrderByField.LAST_UPDATE_TIME
    o.order_by_field.is_asc = False
    lo = rpc.list_options(o, "type_id = 3")
    assert (lo.limit, lo.order_by, lo.is_asc, lo.next_page_token) == (100, OrderByField.UPDATE_TIME, False, "t")
    assert lo.filter_query == "type_id = 3 AND (uri = 'a')"
    default = rpc.list_options(pb.ListOperationOptions())
    assert (default.limit, default.order_by, default.is_asc, default.filter_query) == (20, OrderByField.ID, True, None)
    with pytest.raises(rpc.errors.InvalidArgumentError, match="max_result_size must be at least 1"):
        rpc.list_options(pb.ListOperationOptions(max_result_size=0))


# -- paging from a snapshot of the listing's ids --------------------------------------------------


def _walk(store, request_options: dict, evict: bool = False) -> list[int]:
    from knitctl.metadata import service_pb2 as svc

    ids, token, pages = [], "", 0
    while True:
        req = svc.GetArtifactsRequest(options=pb.ListOperationOptions(next_page_token=token, **request_options))
        resp = rpc.handle(store, "GetArtifacts", req)
        ids += [a.id for a in resp.artifacts]
        pages += 1
        token = resp.next_page_token
        if not token:
            return ids
        if evict:
            rpc.LISTINGS._ids.clear()  # as if other listings had pushed it out: the snapshot is taken again


def test_pages_walk_the_whole_listing_once(tmp_path):
    from knitctl.metadata.metadata_store import ListOptions, MetadataStore

    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(tmp_path / "s.db")
    with MetadataStore(c) as store:
        t = pb.ArtifactType(name="T")
        t.properties["day"] = pb.INT
        tid = store.put_artifact_type(t)
        store.put_artifacts([pb.Artifact(type_id=tid, uri=str(i), properties={"day": pb.Value(int_value=i % 7)})
                             for i in range(350)])
        want = [a.id for a in store.get_artifacts(ListOptions(filter_query="properties.day.int_value >= 2"))]
        assert len(want) == 250
        for evict in (False, True):
            assert _walk(store, {"max_result_size": 100, "filter_query": "properties.day.int_value >= 2"}, evict) == want
        order = pb.ListOperationOptions.OrderByField(field=pb.ListOperationOptions.OrderByField.CREATE_TIME, is_asc=False)
        by_time = [a.id for a in store.get_artifacts(ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False))]
        assert _walk(store, {"max_result_size": 30, "order_by_field": order}) == by_time
        assert not rpc.LISTINGS._ids  # a finished listing leaves nothing behind
        from knitctl.metadata import errors
        from knitctl.metadata import service_pb2 as svc

        with pytest.raises(errors.InvalidArgumentError, match="not a token this server gave out"):
            rpc.handle(store, "GetArtifacts", svc.GetArtifactsRequest(options=pb.ListOperationOptions(next_page_token="~x")))
