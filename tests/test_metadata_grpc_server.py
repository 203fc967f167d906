"""`knitctl metadata serve` as a real process, with real clients: ml-metadata 1.17.1's (in its own
virtualenv) and knit's.

The seed's raw-stub example; eight client processes writing at once; TLS and mutual TLS refused
and served; a non-loopback bind refused in one line; a bearer token; malformed, oversized and
abandoned calls leave the server serving and the store whole; deadlines and message limits on the
client; SIGTERM drains a call in flight; `--config` text protos.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import grpc
import metadata_server
import pytest

from knitctl.metadata import _wire, errors, server
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata import service_pb2 as svc
from knitctl.metadata.metadata_store import ListOptions, MetadataStore, knit_catalog

import mlmd_venv


@pytest.fixture(scope="module")
def mlmd():
    try:
        mlmd_venv.python()
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))


@pytest.fixture
def served(tmp_path):
    s = metadata_server.start("--sqlite", str(tmp_path / "served.db"), home=tmp_path / "home")
    yield s
    s.stop()


def sqlite_store(path: Path, readonly: bool = True) -> MetadataStore:
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(path)
    c.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY if readonly else 3
    return MetadataStore(c)


def knit_client(port: int, **fields) -> MetadataStore:
    return MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port, **fields))


# -- the seed's example ------------------------------------------------------------------------

SEED_STUB = r"""
import json, sys, grpc
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2, metadata_store_service_pb2_grpc
channel = grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}")
stub = metadata_store_service_pb2_grpc.MetadataStoreServiceStub(channel)

data_type = metadata_store_pb2.ArtifactType()
data_type.name = "DataSet"
data_type.properties["day"] = metadata_store_pb2.INT
data_type.properties["split"] = metadata_store_pb2.STRING
request = metadata_store_service_pb2.PutArtifactTypeRequest()
request.all_fields_match = True
request.artifact_type.CopyFrom(data_type)
first = stub.PutArtifactType(request).type_id
again = stub.PutArtifactType(request).type_id

got = stub.GetArtifactType(metadata_store_service_pb2.GetArtifactTypeRequest(type_name="DataSet")).artifact_type
request.all_fields_match = False
try:
    stub.PutArtifactType(request)
    refused = None
except grpc.RpcError as e:
    refused = e.code().name
print(json.dumps([first, again, got.name, dict(got.properties), refused]))
"""


def test_the_seed_raw_stub_example(mlmd, served, tmp_path):
    first, again, name, props, refused = json.loads(mlmd_venv.run(SEED_STUB, str(served.port)))
    assert first == again and first > 0 and name == "DataSet"
    assert props == {"day": pb.INT, "split": pb.STRING} and refused == "UNIMPLEMENTED"
    with sqlite_store(tmp_path / "served.db") as s:  # written to the store the server was given
        assert s.get_artifact_type("DataSet").id == first


# -- many writers at once ----------------------------------------------------------------------

WRITER = r"""
import sys
import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb
port, who, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port))
et = store.put_execution_type(pb.ExecutionType(name="Trainer"))
at = store.put_artifact_type(pb.ArtifactType(name="Model"))
ct = store.put_context_type(pb.ContextType(name="Pipeline"))
for i in range(n):
    e = pb.Execution(type_id=et, name=f"{who}-{i}", last_known_state=pb.Execution.COMPLETE)
    a = pb.Artifact(type_id=at, uri=f"/m/{who}/{i}")
    ev = pb.Event(type=pb.Event.OUTPUT)
    ctx = pb.Context(type_id=ct, name="shared")
    store.put_execution(e, [(a, ev)], [ctx], reuse_context_if_already_exist=True)
print("done", who)
"""


def test_eight_processes_put_500_executions_each_at_once(mlmd, served, tmp_path):
    procs = [subprocess.Popen([str(mlmd_venv.python()), "-c", WRITER, str(served.port), f"w{k}", "500"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(8)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1][-2000:] for o in outs]
    with sqlite_store(tmp_path / "served.db") as s:
        executions = s.get_executions()
        names = [e.name for e in executions]
        assert len(names) == 4000 and set(names) == {f"w{k}-{i}" for k in range(8) for i in range(500)}
        assert len(s.get_artifacts()) == 4000
        [ctx] = s.get_contexts()
        assert len(s.get_executions_by_context(ctx.id)) == 4000
        events = s.get_events_by_execution_ids([e.id for e in executions])
        assert sorted(e.execution_id for e in events) == sorted(e.id for e in executions)  # one each


# -- TLS ---------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def make_pki(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj",
                 f"/CN=knit test {ca}", cwd=d)
    for who, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:client")):
        _openssl("req", *ec, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN={who}", cwd=d)
        (d / f"{who}.ext").write_text(f"subjectAltName={san}\n")
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext", cwd=d)
    return {n: d / n for n in ("ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


TLS_CLIENT = r"""
import json, sys
import ml_metadata as mlmd
from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2 as pb
port, ca, key, cert = sys.argv[1], *[open(p).read() if p != "-" else None for p in sys.argv[2:5]]
c = pb.MetadataStoreClientConfig(host="127.0.0.1", port=int(port), client_timeout_sec=20)
if ca is not None:
    c.ssl_config.custom_ca = ca
if key is not None:
    c.ssl_config.client_key, c.ssl_config.server_cert = key, cert
try:
    print(json.dumps(["ok", len(mlmd.MetadataStore(c).get_artifact_types())]))
except errors.StatusError as e:
    print(json.dumps([type(e).__name__, str(e)[:200]]))
"""


def tls_call(port: int, ca: Path | None, key: Path | None = None, cert: Path | None = None) -> list:
    return json.loads(mlmd_venv.run(TLS_CLIENT, str(port), *(str(p) if p else "-" for p in (ca, key, cert))))


def test_tls_refuses_a_client_without_the_ca_and_serves_one_with_it(mlmd, tmp_path):
    pki = make_pki(tmp_path)
    s = metadata_server.start("--in-memory", "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]))
    try:
        assert tls_call(s.port, pki["ca.pem"]) == ["ok", 0]
        assert tls_call(s.port, pki["other-ca.pem"])[0] == "UnavailableError"  # does not trust the server
        assert tls_call(s.port, None)[0] == "UnavailableError"                  # plain text to a TLS port
        with knit_client(s.port, ssl_config=pb.MetadataStoreClientConfig.SSLConfig(
                custom_ca=pki["ca.pem"].read_text())) as store:  # knit's client too
            assert store.get_artifact_types() == []
    finally:
        log = s.stop()
    assert "(an in-memory store, TLS," in log


def test_mutual_tls_needs_a_client_certificate_from_the_ca(mlmd, tmp_path):
    pki = make_pki(tmp_path)
    s = metadata_server.start("--in-memory", "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]),
                              "--client-ca", str(pki["ca.pem"]))
    try:
        assert tls_call(s.port, pki["ca.pem"])[0] == "UnavailableError"  # no client certificate
        assert tls_call(s.port, pki["ca.pem"], pki["client.key"], pki["client.pem"]) == ["ok", 0]
    finally:
        log = s.stop()
    assert "mutual TLS" in log


def test_a_non_loopback_bind_needs_tls_or_insecure(tmp_path):
    r = metadata_server.run_cli("--in-memory", "--host", "0.0.0.0", "--port", "0")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "refusing to serve the metadata store on 0.0.0.0 without TLS" in r.stderr and "--insecure" in r.stderr
    s = metadata_server.start("--in-memory", "--host", "0.0.0.0", "--insecure")
    try:
        with knit_client(s.port) as store:
            assert store.get_artifact_types() == []
    finally:
        s.stop()


@pytest.mark.parametrize(("args", "says"), [
    (["--in-memory", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "--tls-cert /nonexistent.pem: cannot read"),
    (["--in-memory", "--sqlite", "x.db"], "--sqlite and --in-memory each name a store"),
    (["--in-memory", "--client-ca", "/etc/hostname"], "--client-ca checks client certificates over TLS"),
    (["--config", "bad.pbtxt"], "bad.pbtxt: not a MetadataStoreServerConfig in text format: line 2"),
    (["--config", "empty.pbtxt"], "empty.pbtxt names no database"),
])
def test_bad_options_are_one_line(tmp_path, args, says):
    (tmp_path / "bad.pbtxt").write_text("connection_config {\n  sqlite { filename_uri: 3 }\n}\n")
    (tmp_path / "empty.pbtxt").write_text("# nothing\n")
    r = subprocess.run([*metadata_server.KNITCTL, "metadata", "serve", "--port", "0", *args], capture_output=True,
                       text=True, cwd=tmp_path, env=metadata_server.env_for(tmp_path / "home"), timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and says in r.stderr, r.stderr


def test_a_port_in_use_is_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = metadata_server.run_cli("--in-memory", "--port", str(taken.getsockname()[1]))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot listen on 127.0.0.1:" in r.stderr and "the port is in use" in r.stderr


# -- a bearer token ---------------------------------------------------------------------------------


def test_a_bearer_token_is_required_and_never_shown(tmp_path):
    secret = "s3cr3t-token-value"
    (tmp_path / "token").write_text(secret + "\n")
    (tmp_path / "wrong").write_text("nope\n")
    s = metadata_server.start("--in-memory", "--token-file", str(tmp_path / "token"))
    try:
        with knit_client(s.port) as store, pytest.raises(errors.UnauthenticatedError):
            store.get_artifact_types()
        with knit_client(s.port, token_file=str(tmp_path / "wrong")) as store, pytest.raises(errors.UnauthenticatedError):
            store.get_artifact_types()
        with knit_client(s.port, token_file=str(tmp_path / "token")) as store:
            assert store.put_artifact_type(pb.ArtifactType(name="t")) > 0
    finally:
        log = s.stop()
    assert secret not in log and "bearer token required" in log
    assert secret not in repr(server.Settings(token=secret))


# -- robustness ------------------------------------------------------------------------------------


def raw_call(port: int, method: str, payload: bytes, timeout: float = 30):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return ch.unary_unary(f"/{svc.SERVICE}/{method}")(payload, timeout=timeout)


def test_garbage_and_oversized_requests_leave_the_server_serving(tmp_path):
    s = metadata_server.start("--sqlite", str(tmp_path / "s.db"), "--max-message-mb", "1", home=tmp_path / "home")
    try:
        for garbage in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x08" + b"\x80" * 12):
            with pytest.raises(grpc.RpcError) as e:
                raw_call(s.port, "PutArtifactType", garbage)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "malformed PutArtifactTypeRequest" in e.value.details()
        big = _wire.encode(svc.PutArtifactsRequest(artifacts=[pb.Artifact(type_id=1, uri="u" * (2 << 20))]))
        with pytest.raises(grpc.RpcError) as e:
            raw_call(s.port, "PutArtifacts", big)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as e:
            raw_call(s.port, "GetLineageGraph", b"")
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        ok = raw_call(s.port, "PutArtifactType", _wire.encode(svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="t"))))
        assert _wire.decode(svc.PutArtifactTypeResponse, ok).type_id > 0
    finally:
        log = s.stop()
    assert log.count("failed: INVALID_ARGUMENT: malformed PutArtifactTypeRequest") == 3
    assert "Traceback" not in log


KILLED = r"""
import sys
import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb
store = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=int(sys.argv[1])))
tid = store.put_artifact_type(pb.ArtifactType(name="Chunk"))
print("calling", flush=True)
store.put_artifacts([pb.Artifact(type_id=tid, uri=f"/c/{i}") for i in range(20000)])
print("returned", flush=True)
"""


def test_a_client_killed_mid_call_leaves_the_store_whole(mlmd, served, tmp_path):
    p = subprocess.Popen([str(mlmd_venv.python()), "-c", KILLED, str(served.port)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    assert p.stdout.readline() == "calling\n"
    p.kill()  # while its 20,000-artifact call is on the wire or being written
    p.wait()
    with knit_client(served.port) as store:  # still serving
        store.put_artifact_type(pb.ArtifactType(name="After"))
        chunk = store.get_artifacts_by_type("Chunk")
    with sqlite_store(tmp_path / "served.db") as s:
        assert len(s.get_artifacts_by_type("Chunk")) in (0, 20000)  # the whole write or none of it
        assert len(chunk) in (0, 20000)


def test_client_deadline_and_message_limits(mlmd, served):
    code = r"""
import json, sys
import ml_metadata as mlmd
from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2 as pb
def store(**kw):
    c = pb.MetadataStoreClientConfig(host="127.0.0.1", port=int(sys.argv[1]))
    for k, v in kw.items():
        if k == "timeout":
            c.client_timeout_sec = v
        else:
            setattr(c.channel_arguments, k, v)
    return mlmd.MetadataStore(c)
t = pb.ArtifactType(name="Limits"); t.properties["foo"] = pb.INT
out = []
store(max_receive_message_length=100).put_artifact_type(t)  # a reply under 100 bytes
out.append(len(store(http2_max_ping_strikes=0).get_artifact_types()))
for kw, err, tries in (({"timeout": 0}, errors.DeadlineExceededError, 5),
                       ({"max_receive_message_length": 1}, errors.ResourceExhaustedError, 1)):
    # a zero deadline is past before the call is sent, but gRPC may still let a call on a fresh channel
    # through now and then (seen under load): a few tries, of which one must be refused with its code
    seen = "no error"
    for _ in range(tries):
        try:
            store(**kw).get_artifact_types()
        except err as e:
            seen = type(e).__name__
            break
    out.append(seen)
print(json.dumps(out))
"""
    assert json.loads(mlmd_venv.run(code, str(served.port))) == [1, "DeadlineExceededError", "ResourceExhaustedError"]


class _HeldStore:
    """A real in-memory store whose put_artifact_type waits until the test lets it go."""

    def __init__(self):
        self.store = MetadataStore(pb.ConnectionConfig(fake_database=pb.FakeDatabaseConfig()))
        self.entered, self.release = threading.Event(), threading.Event()

    def put_artifact_type(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(60)
        return self.store.put_artifact_type(*args, **kwargs)

    def close(self):
        self.store.close()


def test_stop_drains_a_call_in_flight():
    held = _HeldStore()
    srv = server.MetadataServer(server.Stores(lambda: held, shared=True), server.Settings(port=0, grace_seconds=60))
    port = srv.start()
    result: dict = {}

    def call():
        with knit_client(port) as store:
            result["id"] = store.put_artifact_type(pb.ArtifactType(name="Drained"))

    t = threading.Thread(target=call)
    t.start()
    assert held.entered.wait(60)
    drained = srv.draining(60)
    # new calls are not served meanwhile: refused (unavailable, or cancelled by the stopping server), or
    # left waiting until their deadline
    with knit_client(port, client_timeout_sec=5) as late, pytest.raises((errors.UnavailableError,
                                                                          errors.CancelledError,
                                                                          errors.DeadlineExceededError)):
        late.get_artifact_types()
    assert not drained.is_set()  # the call in flight is still running
    held.release.set()
    t.join(60)
    assert drained.wait(60)
    srv.stores.close()
    assert result.get("id", 0) > 0


# -- store selection -------------------------------------------------------------------------------


def test_config_file_selects_the_store(tmp_path):
    db = tmp_path / "from-config.db"
    (tmp_path / "server.pbtxt").write_text(
        "connection_config {\n"
        f"  sqlite {{ filename_uri: '{db}' connection_mode: READWRITE_OPENCREATE }}  # as ml-metadata's server reads\n"
        "}\n"
    )
    s = metadata_server.start("--config", str(tmp_path / "server.pbtxt"))
    try:
        with knit_client(s.port) as store:
            tid = store.put_artifact_type(pb.ArtifactType(name="FromConfig"))
    finally:
        log = s.stop()
    assert f"SQLite {db}" in log
    with sqlite_store(db) as local:
        assert local.get_artifact_type("FromConfig").id == tid


def test_the_default_is_the_knit_catalog(tmp_path):
    home = tmp_path / "home"
    s = metadata_server.start(home=home)
    try:
        with knit_client(s.port) as store:
            store.put_artifact_type(pb.ArtifactType(name="Mine"))
            names = {t.name for t in store.get_artifact_types()}
    finally:
        log = s.stop()
    assert "the knit catalog" in log and "Mine" in names
    with knit_catalog(home, readonly=True) as catalog:  # the catalog of $KNIT_HOME, where knit's runs are
        assert catalog.get_artifact_type("Mine").name == "Mine"


# -- knit's client ------------------------------------------------------------------------------


def test_knits_client_pages_and_filters_like_in_process(served, tmp_path):
    with knit_client(served.port) as remote:
        tid = remote.put_artifact_type(pb.ArtifactType(name="Paged"))
        ids = remote.put_artifacts([pb.Artifact(type_id=tid, uri=f"/p/{i}") for i in range(250)])
        cid = remote.put_context_type(pb.ContextType(name="Ctx"))
        [ctx] = remote.put_contexts([pb.Context(type_id=cid, name="c")])
        remote.put_attributions_and_associations([pb.Attribution(artifact_id=i, context_id=ctx) for i in ids[:130]], [])
        with sqlite_store(tmp_path / "served.db") as local:
            for opts in (None, ListOptions(limit=120), ListOptions(limit=7, is_asc=False),
                         ListOptions(filter_query="uri LIKE '/p/1%'")):
                assert remote.get_artifacts(opts) == local.get_artifacts(opts)
            assert remote.get_artifacts_by_context(ctx, ListOptions(limit=101)) == local.get_artifacts_by_context(
                ctx, ListOptions(limit=101))
            page, token = remote.get_artifacts_page(ListOptions(limit=100))
            page2, token2 = remote.get_artifacts_page(ListOptions(limit=100, next_page_token=token))
            assert [a.id for a in page + page2] == ids[:200] and token2
        assert isinstance(remote, MetadataStore) and MetadataStore.get_artifacts_by_id(remote, ids[:2])[1].id == ids[1]
        with pytest.raises(errors.NotFoundError, match="no artifact type named 'missing'.*metadata server at"):
            remote.get_artifact_type("missing")


RAW_EXTRAS = r"""
import json, sys, grpc
from ml_metadata.proto import metadata_store_pb2 as pb, metadata_store_service_pb2 as s
from ml_metadata.proto import metadata_store_service_pb2_grpc as g
stub = g.MetadataStoreServiceStub(grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}"))
types = stub.PutTypes(s.PutTypesRequest(artifact_types=[pb.ArtifactType(name="A")],
                                        context_types=[pb.ContextType(name="C")]))
ids = stub.PutContexts(s.PutContextsRequest(contexts=[pb.Context(type_id=types.context_type_ids[0], name=n)
                                                      for n in ("p", "c1", "c2")])).context_ids
p, c1, c2 = ids
stub.PutParentContexts(s.PutParentContextsRequest(parent_contexts=[pb.ParentContext(child_id=c1, parent_id=p),
                                                                   pb.ParentContext(child_id=c2, parent_id=p)]))
parents = stub.GetParentContextsByContexts(s.GetParentContextsByContextsRequest(context_ids=[c1, c2, p]))
children = stub.GetChildrenContextsByContexts(s.GetChildrenContextsByContextsRequest(context_ids=[p]))
stub.PutArtifacts(s.PutArtifactsRequest(artifacts=[pb.Artifact(type_id=types.artifact_type_ids[0], uri=str(i))
                                                   for i in range(45)]))
pages, token = [], ""
while True:
    r = stub.GetArtifactsByType(s.GetArtifactsByTypeRequest(type_name="A", options=pb.ListOperationOptions(
        max_result_size=20, next_page_token=token)))
    pages.append(len(r.artifacts))
    token = r.next_page_token
    if not token:
        break
print(json.dumps({"parents": {k: [c.name for c in v.parent_contexts] for k, v in parents.contexts.items()},
                  "children": {k: sorted(c.name for c in v.children_contexts) for k, v in children.contexts.items()},
                  "ids": [p, c1, c2], "pages": pages}))
"""


def test_raw_stubs_for_calls_the_client_does_not_make(mlmd, served):
    out = json.loads(mlmd_venv.run(RAW_EXTRAS, str(served.port)))
    p, c1, c2 = out["ids"]
    assert out["parents"] == {str(c1): ["p"], str(c2): ["p"]}
    assert out["children"] == {str(p): ["c1", "c2"]}
    assert out["pages"] == [20, 20, 5]


def test_knits_client_errors_are_status_errors():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with knit_client(port, client_timeout_sec=10) as store, pytest.raises(errors.UnavailableError, match=f"127.0.0.1:{port}"):
        store.get_artifact_types()
    with pytest.raises(errors.InvalidArgumentError, match="the server upgrades its own store"):
        MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port), enable_upgrade_migration=True)
    with pytest.raises(errors.InvalidArgumentError, match="needs host and port"):
        MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1"))
    from knitctl.metadata.metadata_store import downgrade_schema

    with pytest.raises(errors.InvalidArgumentError, match="downgraded on the server"):
        downgrade_schema(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port), 1)


def test_a_config_asking_for_a_downgrade_downgrades_and_exits(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    (tmp_path / "down.pbtxt").write_text(
        f"connection_config {{ sqlite {{ filename_uri: '{db}' }} }}\nmigration_options {{ downgrade_to_schema_version: 1 }}\n")
    r = metadata_server.run_cli("--config", str(tmp_path / "down.pbtxt"), home=tmp_path / "home")
    assert "serving" not in r.stderr and r.stderr.count("\n") == 1, r.stderr  # it downgrades, then exits
    if r.returncode == 0:
        assert r.stderr == f"downgraded SQLite {db} to schema version 1\n"
        with sqlite3.connect(db) as c:
            assert c.execute("PRAGMA user_version").fetchone() == (1,)
    else:  # the catalog's schema has a migration without a downgrade: the store's own refusal, one line
        assert r.returncode == 1 and "has no downgrade" in r.stderr, r.stderr
