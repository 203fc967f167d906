"""knitd can serve ML Metadata's gRPC service over its catalog (`knitctl up --metadata-port N`).

knitd binds loopback only (it takes no TLS settings; `knitctl metadata serve` does); the port shows in
`knitctl up`'s answer and in `knitctl status`; `knitctl down` stops the service with knitd. A port that is
taken keeps knitd from starting, with one line.
"""

from __future__ import annotations

import socket

import pytest

from knitctl import health
from knitctl import knitd as knitd_api
from knitctl.home import Home
from knitctl.metadata import errors
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata.metadata_store import MetadataStore

from conftest import make_tree

pytestmark = pytest.mark.docker


def test_knitctl_up_serves_the_catalogs_metadata_over_grpc_until_down(cli, knit_home, knitd, tmp_path):
    pushed = cli("data", "push", make_tree(tmp_path / "src", {"f": "x"}), "-t", "kind:x", "-o", "json")
    assert pushed.code == 0, pushed
    knit_id = pushed.json()[0]["knit_id"]
    up = cli("up", "--metadata-port", "0")
    assert up.code == 0, up
    home = Home.resolve(knit_home)
    port = health.metadata_port(home, knitd_api.running_pid(home))
    assert port and f"127.0.0.1:{port}" in up.out + up.err, up

    with MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port)) as store:
        (datum,) = store.get_artifacts_by_type("knit.Data")
        assert datum.name == knit_id and datum.custom_properties["kind"].string_value == "x"  # tags as properties
        with pytest.raises(errors.PermissionDeniedError):  # knit's own nodes stay read-only over the wire too
            store.put_artifacts([pb.Artifact(type_id=datum.type_id, uri="/elsewhere")])
        tid = store.put_artifact_type(pb.ArtifactType(name="Report"))
        (rid,) = store.put_artifacts([pb.Artifact(type_id=tid, uri="/reports/1")])
    status = cli("status", "-o", "json")
    assert status.code == 0 and status.json()["metadata_server"] == f"127.0.0.1:{port}", status
    assert cli("down").code == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    listed = cli("metadata", "artifacts", "-t", "Report", "-o", "json")  # the write landed in the catalog
    assert listed.code == 0 and [a["id"] for a in listed.json()] == [rid], listed


def test_a_taken_metadata_port_keeps_knitd_from_starting_with_one_line(cli, knit_home, knitd):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        r = cli("up", "--metadata-port", str(port))
        assert r.code != 0 and "Traceback" not in r.err, r
        assert f"127.0.0.1:{port}" in r.err and "port is in use" in r.err, r
        assert knitd_api.running_pid(Home.resolve(knit_home)) is None
    finally:
        taken.close()
    r = cli("up", "--metadata-port", "70000")
    assert r.code == 2 and "not a port number" in r.err, r
