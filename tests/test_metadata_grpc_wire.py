"""knit's definitions of ML Metadata's messages match ml-metadata 1.17.1's, byte for byte.

Every message of `metadata_store.proto` and `metadata_store_service.proto` (nested ones too): each
field's name, number, label and type equal the real descriptor's, and nothing is extra but knit's
declared additions. Every message, filled in every field by the real protobuf classes, is decoded by
knit, encoded again, and parsed by protobuf back into an equal message. Malformed bytes are a
ValueError; unknown fields are skipped.
"""

from __future__ import annotations

import json
import struct

import pytest

from knitctl.metadata import _message as m
from knitctl.metadata import _wire
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata import service_pb2 as svc

import mlmd_venv

# Fields knit has that ml-metadata does not (numbers from 1000 up, never sent by ml-metadata).
KNIT_ADDITIONS = {("ml_metadata.ConnectionConfig", "knit"), ("ml_metadata.MetadataStoreClientConfig", "token_file")}

DESCRIBE = r"""
import json
from ml_metadata.proto import metadata_store_pb2 as m, metadata_store_service_pb2 as s
from google.protobuf import descriptor as D
T = {v: k for k, v in vars(D.FieldDescriptor).items() if k.startswith("TYPE_")}
out = {}
def walk(md):
    fields = []
    for f in md.fields:
        f_ = {"name": f.name, "number": f.number, "label": f.label, "type": T[f.type]}
        if f.message_type is not None:
            mt = f.message_type
            f_["message"] = mt.full_name
            if mt.GetOptions().map_entry:
                v = mt.fields_by_name["value"]
                f_["map_key"] = T[mt.fields_by_name["key"].type]
                f_["map_value"] = T[v.type]
                f_["map_value_message"] = v.message_type.full_name if v.message_type else None
                f_["map_value_enum"] = [[x.name, x.number] for x in v.enum_type.values] if v.enum_type else None
        if f.enum_type is not None:
            f_["enum"] = [[x.name, x.number] for x in f.enum_type.values]
        if f.has_default_value:
            f_["default"] = f.default_value
        f_["oneof"] = f.containing_oneof.name if f.containing_oneof else None
        fields.append(f_)
    out[md.full_name] = {"fields": fields, "map_entry": md.GetOptions().map_entry}
    for n in md.nested_types:
        walk(n)
for d in (m.DESCRIPTOR, s.DESCRIPTOR):
    for md in d.message_types_by_name.values():
        walk(md)
print(json.dumps(out))
"""

# Fill every field of every message (3 levels deep), serialize; then parse what knit sent back.
FILL = r"""
import json, sys
from ml_metadata.proto import metadata_store_pb2 as m, metadata_store_service_pb2 as s
from google.protobuf import descriptor as D, symbol_database
F = D.FieldDescriptor
db = symbol_database.Default()

def scalar(f, i):
    t = f.type
    if t == F.TYPE_ENUM: return f.enum_type.values[-1 - i % len(f.enum_type.values)].number
    if t == F.TYPE_INT64: return [123456789012, -5, 0][i % 3]
    if t == F.TYPE_INT32: return [-7, 2**31 - 1, 0][i % 3]
    if t == F.TYPE_DOUBLE: return [1.5, -0.25, 1e300][i % 3]
    if t == F.TYPE_BOOL: return i % 2 == 0
    if t == F.TYPE_STRING: return ["h\u00e9llo \u2603", "", "x" * 200][i % 3]
    if t == F.TYPE_BYTES: return [b"\x00\xff", b""][i % 2]
    raise TypeError(t)

def fill(msg, depth):
    name = msg.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        msg.update({"a": 1, "b": [True, None, "x", {"c": 2.5}], "d": {"e": "f"}})
        return
    if name == "google.protobuf.Any":
        msg.type_url, msg.value = "type.googleapis.com/x.Y", b"\x08\x01"
        return
    if depth > 3:
        return
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            mp = getattr(msg, f.name)
            vf = f.message_type.fields_by_name["value"]
            for i, key in enumerate(["k1", "k\u00e92"] if f.message_type.fields_by_name["key"].type == F.TYPE_STRING else [3, -9]):
                if vf.message_type is not None:
                    fill(mp[key], depth + 1)
                    if not mp[key].ByteSize():
                        mp[key].SetInParent() if hasattr(mp[key], "SetInParent") else None
                else:
                    mp[key] = scalar(vf, i)
        elif f.label == F.LABEL_REPEATED:
            c = getattr(msg, f.name)
            for i in range(2):
                if f.message_type is not None:
                    fill(c.add(), depth + 1)
                else:
                    c.append(scalar(f, i))
        elif f.message_type is not None:
            sub = getattr(msg, f.name)
            sub.SetInParent()
            fill(sub, depth + 1)
        else:
            setattr(msg, f.name, scalar(f, 0))

names = json.loads(sys.argv[1])
if sys.argv[2] == "fill":
    out = {}
    for n in names:
        msg = db.GetSymbol(n)()
        fill(msg, 0)
        out[n] = msg.SerializeToString().hex()
    print(json.dumps(out))
else:
    sent, back = json.loads(open(sys.argv[3]).read())
    bad = []
    for n in names:
        a = db.GetSymbol(n)(); a.ParseFromString(bytes.fromhex(sent[n]))
        b = db.GetSymbol(n)(); b.ParseFromString(bytes.fromhex(back[n]))
        if a != b or a.SerializeToString(deterministic=True) != b.SerializeToString(deterministic=True):
            bad.append(n)
    print(json.dumps(bad))
"""

_TYPE = {"int64": "TYPE_INT64", "int32": "TYPE_INT32", "double": "TYPE_DOUBLE", "string": "TYPE_STRING",
         "bytes": "TYPE_BYTES", "bool": "TYPE_BOOL", "enum": "TYPE_ENUM", "message": "TYPE_MESSAGE"}


@pytest.fixture(scope="module")
def real():
    try:
        mlmd_venv.python()
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))
    return json.loads(mlmd_venv.run(DESCRIBE))


def knit_class(full_name: str) -> type:
    """knit's class for an ml-metadata message name (nested classes are attributes of their parent)."""
    parts = full_name.removeprefix("ml_metadata.").split(".")
    top = getattr(svc, parts[0], None) or getattr(pb, parts[0])
    for p in parts[1:]:
        top = getattr(top, p)
    return top


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def knit_field(spec: m.FieldSpec) -> dict:
    vk = _wire.value_kind(spec)
    out: dict = {"name": spec.name, "number": spec.number}
    if spec.kind in (m.MAP, m.MAP_MESSAGE):
        out.update(label=3, type="TYPE_MESSAGE", map_key="TYPE_STRING", map_value=_TYPE[vk])
        if spec.kind == m.MAP_MESSAGE:
            out["map_value_message"] = spec.cls.__name__
        if spec.enum is not None:
            out["map_value_enum"] = sorted(spec.enum.items(), key=lambda x: x[1])
        return out
    out["label"] = 3 if spec.kind in (m.REPEATED, m.REPEATED_MESSAGE) else 1
    out["type"] = _TYPE[vk]
    if vk == "message":
        out["message"] = spec.cls.__name__
    if spec.enum is not None:
        out["enum"] = sorted(spec.enum.items(), key=lambda x: x[1])
    out["oneof"] = spec.oneof
    return out


def real_field(f: dict, owner: str) -> dict:
    out = {"name": f["name"], "number": f["number"], "label": f["label"], "type": f["type"]}
    if "map_key" in f and f["map_key"] == "TYPE_STRING":
        out.update(map_key=f["map_key"], map_value=f["map_value"])
        if f["map_value_message"]:
            out["map_value_message"] = _short(f["map_value_message"])
        if f["map_value_enum"]:
            out["map_value_enum"] = sorted((tuple(x) for x in f["map_value_enum"]), key=lambda x: x[1])
        return out
    if "message" in f:
        out["message"] = _short(f["message"])
    if "enum" in f:
        out["enum"] = sorted((tuple(x) for x in f["enum"]), key=lambda x: x[1])
    out["oneof"] = f["oneof"]
    return out


def test_every_field_matches_ml_metadata(real):
    problems = []
    for full_name, desc in real.items():
        if desc["map_entry"] and all(f["name"] != "key" or f["type"] == "TYPE_STRING" for f in desc["fields"]):
            continue  # knit's string-keyed maps have no entry class
        try:
            cls = knit_class(full_name)
        except AttributeError:
            problems.append(f"{full_name}: knit has no such message")
            continue
        mine = {s.name: s for s in cls._ORDER}
        for f in desc["fields"]:
            spec = mine.pop(f["name"], None)
            if spec is None:
                problems.append(f"{full_name}.{f['name']}: missing in knit")
                continue
            want, got = real_field(f, full_name), knit_field(spec)
            if want != got:
                problems.append(f"{full_name}.{f['name']}: ml-metadata {want} knit {got}")
            if "default" in f and f["type"] != "TYPE_MESSAGE" and spec.default != f["default"]:
                problems.append(f"{full_name}.{f['name']}: default {spec.default!r}, ml-metadata {f['default']!r}")
        extra = {n for n in mine if (full_name, n) not in KNIT_ADDITIONS}
        if extra:
            problems.append(f"{full_name}: knit has extra fields {sorted(extra)}")
        for n in set(mine) - extra:
            assert mine[n].number >= 1000, f"knit's addition {full_name}.{n} must use a number from 1000 up"
    assert not problems, "\n".join(problems)


def test_the_service_lists_every_rpc(real):
    methods = json.loads(mlmd_venv.run(
        "import json; from ml_metadata.proto import metadata_store_service_pb2 as s; "
        "print(json.dumps([(x.name, x.input_type.full_name, x.output_type.full_name) for x in "
        "s.DESCRIPTOR.services_by_name['MetadataStoreService'].methods]))"))
    assert svc.SERVICE == "ml_metadata.MetadataStoreService"
    assert [(n, "ml_metadata." + svc.request_type(n).__name__, "ml_metadata." + svc.response_type(n).__name__)
            for n in svc.METHODS] == [tuple(x) for x in methods]


def test_every_message_round_trips_through_ml_metadata(real, tmp_path):
    names = sorted(n for n, d in real.items() if not d["map_entry"])
    sent = json.loads(mlmd_venv.run(FILL, json.dumps(names), "fill"))
    back = {}
    for n in names:
        data = bytes.fromhex(sent[n])
        assert data or not real[n]["fields"], f"{n} was sent empty"
        msg = _wire.decode(knit_class(n), data)
        again = _wire.encode(msg)
        assert _wire.decode(knit_class(n), again) == msg, n
        back[n] = again.hex()
    (tmp_path / "pair.json").write_text(json.dumps([sent, back]))
    bad = json.loads(mlmd_venv.run(FILL, json.dumps(names), "check", str(tmp_path / "pair.json")))
    assert bad == []


def test_values_decode_as_ml_metadata_wrote_them():
    code = r"""
from ml_metadata.proto import metadata_store_pb2 as m
a = m.Artifact(id=-3, type_id=7, uri="s3://b/\u00e9", state=m.Artifact.LIVE, create_time_since_epoch=2**62)
a.properties["n"].int_value = -2**63
a.custom_properties["d"].double_value = 0.1
a.custom_properties["s"].struct_value.update({"k": [1, "two", None, False]})
a.custom_properties["b"].bool_value = True
print(a.SerializeToString().hex())
"""
    a = _wire.decode(pb.Artifact, bytes.fromhex(mlmd_venv.run(code).strip()))
    assert (a.id, a.type_id, a.uri, a.state, a.create_time_since_epoch) == (-3, 7, "s3://b/\u00e9", pb.Artifact.LIVE, 2**62)
    assert a.properties["n"].int_value == -2**63
    assert a.custom_properties["d"].double_value == 0.1
    assert dict(a.custom_properties["s"].struct_value.items()) == {"k": [1.0, "two", None, False]}
    assert a.custom_properties["b"].WhichOneof("value") == "bool_value"
    assert not a.HasField("name")


def test_presence_and_defaults_survive():
    r = svc.PutArtifactTypeRequest()
    assert r.all_fields_match is True
    r.all_fields_match = False
    back = _wire.decode(svc.PutArtifactTypeRequest, _wire.encode(r))
    assert back.HasField("all_fields_match") and back.all_fields_match is False
    assert not back.HasField("artifact_type")
    r = svc.PutArtifactTypeRequest()
    r.artifact_type.SetInParent()
    back = _wire.decode(svc.PutArtifactTypeRequest, _wire.encode(r))
    assert back.HasField("artifact_type") and back.artifact_type == pb.ArtifactType()


def test_unknown_fields_and_enum_numbers_are_skipped():
    known = _wire.encode(pb.Artifact(id=5, uri="u"))
    # field 99 as a varint, a length-delimited field 98, a fixed64 field 97, a fixed32 field 96, a group 95
    unknown = b"\x98\x06\x01" + b"\x92\x06\x02ab" + b"\x89\x06" + b"\0" * 8 + b"\x85\x06" + b"\0" * 4 + b"\xfb\x05\x08\x01\xfc\x05"
    a = _wire.decode(pb.Artifact, unknown + known + b"\x30\x63")  # state = 99: not an Artifact.State
    assert (a.id, a.uri, a.HasField("state")) == (5, "u", False)


def test_a_oneof_keeps_the_last_member_seen():
    v = _wire.decode(pb.Value, _wire.encode(pb.Value(int_value=3)) + _wire.encode(pb.Value(string_value="s")))
    assert v.WhichOneof("value") == "string_value"


def test_packed_repeated_numbers_are_read():
    packed = b"\x0a\x03\x01\x02\x03"  # artifact_ids 1, 2, 3 packed
    assert list(_wire.decode(svc.PutArtifactsResponse, packed).artifact_ids) == [1, 2, 3]


@pytest.mark.parametrize(("data", "what"), [
    (b"\x08", "ends inside a varint"),
    (b"\x08" + b"\xff" * 11, "longer than ten bytes"),
    (b"\x3a\x05ab", "says 5 bytes"),
    (b"\x0a\x01a", "wire type 2"),               # id (field 1, an int64) sent length-delimited
    (b"\x3a\x02\xff\xfe", "not valid UTF-8"),    # name
    (b"\x11\x00", "cut short"),
    (b"\x0f", "wire type 7"),
    (b"\x00", "field number 0"),
    (b"\x22\x03\x0a\x01\xff", "not valid UTF-8"),  # a properties key
])
def test_malformed_input_is_a_value_error(data, what):
    with pytest.raises(ValueError, match=what):
        _wire.decode(pb.Artifact, data)


def test_nesting_past_the_limit_is_a_value_error():
    deep = b""  # ArtifactStructType.list (4) -> ListArtifactStructType.element (1) -> ..., two levels a turn
    for _ in range(_wire.MAX_DEPTH):
        deep = b"\x22" + _varint(len(b"\x0a" + _varint(len(deep)) + deep)) + b"\x0a" + _varint(len(deep)) + deep
    with pytest.raises(ValueError, match="nested more than"):
        _wire.decode(pb.ArtifactStructType, deep)


def _varint(n: int) -> bytes:
    out = bytearray()
    _wire._put_varint(out, n)
    return bytes(out)


def test_a_struct_with_a_bad_number_is_a_value_error():
    entry = b"\x0a\x01k" + b"\x12\x02\x10\x05"  # key "k", value: number_value (field 2) as a varint
    with pytest.raises(ValueError, match="wire type 0"):
        _wire.decode(pb.Struct, b"\x0a" + bytes([len(entry)]) + entry)
    assert _wire.decode(pb.Struct, _wire.encode(pb.Struct())) == pb.Struct()
    s = pb.Struct()
    s.update({"x": 1.25})
    assert _wire.encode(s).endswith(b"\x11" + struct.pack("<d", 1.25))
