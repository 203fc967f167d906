"""The protobuf wire reader behind ml-metadata files' struct values: a malformed encoding is a
ValueError naming what is wrong, whatever field holds the wrong wire type."""

from __future__ import annotations

import pytest

from knitctl.metadata._wire import decode_struct, encode_struct


def test_a_struct_round_trips():
    value = {"a": 1.0, "b": "text", "c": True, "d": None, "e": {"f": [1.0, "g"]}}
    assert decode_struct(encode_struct(value)) == value


@pytest.mark.parametrize("data, says", [
    (b"\x08\x01", "varint where a length-delimited"),          # the map entry (field 1) as a varint
    (b"\x0a\x02\x08\x01", "varint where a length-delimited"),  # an entry whose key (field 1) is a varint
    (b"\x0a\x04\x12\x02\x10\x05", "number arrived with wire type 0"),  # a number (field 2) sent as a varint
])
def test_a_field_of_the_wrong_wire_type_is_a_value_error_naming_it(data, says):
    with pytest.raises(ValueError, match=says):
        decode_struct(data)
