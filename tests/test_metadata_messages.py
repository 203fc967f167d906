"""knitctl.metadata.metadata_store_pb2: the protobuf conveniences MLMD code relies on, in pure Python."""

from __future__ import annotations

import copy
import pickle

import pytest

from knitctl.metadata import metadata_store_pb2 as pb


def test_scalar_fields_have_defaults_presence_and_type_checks():
    a = pb.Artifact()
    assert (a.id, a.uri, a.state) == (0, "", 0)
    assert not a.HasField("uri")
    a.uri = "gs://x"
    a.id = 7
    assert a.HasField("uri") and a.HasField("id") and a.uri == "gs://x"
    a.ClearField("uri")
    assert not a.HasField("uri") and a.uri == ""
    with pytest.raises(TypeError, match="integer"):
        a.id = 1.5
    with pytest.raises(TypeError, match="str"):
        a.uri = 5
    with pytest.raises(ValueError, match="not a value of enum"):
        a.state = 99
    with pytest.raises(AttributeError):
        a.bogus = 1
    with pytest.raises(ValueError, match='has no "bogus" field'):
        pb.Artifact(bogus=1)
    with pytest.raises(ValueError, match="does not have presence"):
        a.HasField("properties")


def test_enums_at_module_message_and_enum_level():
    assert (pb.UNKNOWN, pb.INT, pb.DOUBLE, pb.STRING, pb.STRUCT, pb.PROTO, pb.BOOLEAN) == (0, 1, 2, 3, 4, 5, 6)
    assert pb.Event.DECLARED_INPUT == pb.Event.Type.DECLARED_INPUT == 2
    assert pb.Event.Type.Name(3) == "INPUT" and pb.Event.Type.Value("OUTPUT") == 4
    assert pb.Artifact.LIVE == pb.Artifact.State.Value("LIVE") == 2
    assert pb.Execution.COMPLETE == 3 and pb.Execution.State.Name(6) == "CANCELED"
    assert pb.PropertyType.Name(pb.BOOLEAN) == "BOOLEAN"
    assert pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE == 3
    assert pb.LineageSubgraphQueryOptions.UPSTREAM == 1
    with pytest.raises(ValueError):
        pb.Event.Type.Name(42)
    assert pb.Artifact(state="LIVE").state == pb.Artifact.LIVE  # names work in constructors


def test_maps_of_values_and_of_property_types():
    t = pb.ArtifactType(name="DataSet")
    t.properties["day"] = pb.INT
    t.properties["split"] = pb.STRING
    assert dict(t.properties) == {"day": pb.INT, "split": pb.STRING}
    with pytest.raises(ValueError):
        t.properties["bad"] = 99

    a = pb.Artifact()
    a.properties["day"].int_value = 1  # the entry springs into existence
    a.custom_properties["note"].string_value = "x"
    assert "day" in a.properties and a.properties["day"].int_value == 1
    assert a.properties["day"].WhichOneof("value") == "int_value"
    a.properties["day"].double_value = 2.5  # a oneof: the int goes
    assert a.properties["day"].WhichOneof("value") == "double_value"
    assert not a.properties["day"].HasField("int_value")
    a.properties["copy"] = pb.Value(bool_value=True)  # accepted (copied), unlike protobuf
    assert a.properties["copy"].bool_value is True
    del a.properties["copy"]
    assert sorted(a.properties) == ["day"]


def test_sub_messages_attach_on_write_and_oneofs_switch():
    c = pb.ConnectionConfig()
    assert c.WhichOneof("config") is None and not c.HasField("sqlite")
    _ = c.sqlite.filename_uri  # reading does not attach
    assert not c.HasField("sqlite")
    c.sqlite.filename_uri = "/tmp/x.db"
    c.sqlite.connection_mode = 3
    assert c.WhichOneof("config") == "sqlite"
    c.fake_database.SetInParent()
    assert c.WhichOneof("config") == "fake_database" and not c.HasField("sqlite")
    assert str(c) == "fake_database {\n}\n"


def test_repeated_fields_event_paths_and_text_format():
    e = pb.Event(artifact_id=1, execution_id=2, type=pb.Event.INPUT)
    e.path.steps.add().key = "examples"
    e.path.steps.add(index=0)
    assert e.HasField("path") and len(e.path.steps) == 2
    assert [s.WhichOneof("value") for s in e.path.steps] == ["key", "index"]
    text = str(e)
    assert 'key: "examples"' in text and "index: 0" in text and "type: INPUT" in text
    g = pb.LineageGraph()
    g.artifacts.append(pb.Artifact(id=1))
    g.artifacts.extend([pb.Artifact(id=2)])
    assert [a.id for a in g.artifacts] == [1, 2] and g.events == []
    with pytest.raises(AttributeError):
        g.artifacts = []


def test_copy_merge_equality_pickle():
    a = pb.Artifact(id=1, uri="u", properties={"day": pb.Value(int_value=3)})
    b = pb.Artifact()
    b.CopyFrom(a)
    assert a == b and a is not b
    b.properties["day"].int_value = 4
    assert a.properties["day"].int_value == 3 and a != b
    c = pb.Artifact(name="n")
    c.MergeFrom(a)
    assert (c.name, c.uri, c.properties["day"].int_value) == ("n", "u", 3)
    assert pb.Artifact() != pb.Artifact(id=0)  # set-to-default differs from unset (proto2 presence)
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
    with pytest.raises(TypeError, match="same class"):
        a.CopyFrom(pb.Execution())


def test_struct_and_any_values():
    v = pb.Value()
    v.struct_value.update({"a": 1, "b": [1, "x"], "c": {"d": None}})
    assert v.WhichOneof("value") == "struct_value"
    assert v.struct_value["a"] == 1.0 and v.struct_value["b"] == [1.0, "x"]
    p = pb.Value()
    p.proto_value.type_url = "type.googleapis.com/foo.Bar"
    p.proto_value.value = b"\x08\x01"
    assert pb.Any.from_bytes(p.proto_value.to_bytes()) == p.proto_value
    assert p.proto_value.TypeName() == "foo.Bar"
