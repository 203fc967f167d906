"""Protocol buffers' binary format (proto2) for knit's message classes.

`encode(message)` gives the bytes protobuf would; `decode(cls, data)` reads them back. Fields are
found by their numbers (`FieldSpec.number`); unknown fields, unknown enum values and packed or
unpacked repeated numbers are read as protobuf reads them (the unknown are skipped). Malformed
input (a truncated field, a varint past ten bytes, a wire type that does not fit the field, text
that is not UTF-8, nesting deeper than 100) is a ValueError that says what is wrong and where.

`google.protobuf.Struct` (knit's `Struct`, a dict of JSON values) is written by
`encode_struct` and read by `decode_struct`, as strictly as the rest.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from . import _message as m
from .metadata_store_pb2 import Struct

VARINT, I64, LEN, START_GROUP, END_GROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_DEPTH = 100
_U64 = (1 << 64) - 1
_DOUBLE = struct.Struct("<d")


# -- field kinds ------------------------------------------------------------------


def value_kind(spec: m.FieldSpec) -> str:
    """How one value of the field is written: int64, int32, enum, bool, double, string, bytes or message."""
    if spec.kind in (m.MESSAGE, m.REPEATED_MESSAGE, m.MAP_MESSAGE):
        return "message"
    if spec.enum is not None:
        return "enum"
    return _CHECK_KIND[spec.check]


_CHECK_KIND: dict[Callable[..., Any], str] = {
    m._int64: "int64", m._int32: "int32", m._double: "double", m._string: "string", m._bytes: "bytes",
    m._bool: "bool",
}
_WIRE = {"int64": VARINT, "int32": VARINT, "enum": VARINT, "bool": VARINT, "double": I64, "string": LEN,
         "bytes": LEN, "message": LEN}


class _Field:
    __slots__ = ("spec", "name", "number", "kind", "vkind", "wire", "tag", "cls", "oneof_others")

    def __init__(self, cls: type, spec: m.FieldSpec):
        if spec.number is None:
            raise TypeError(f"field {cls.__name__}.{spec.name} has no field number")
        self.spec = spec
        self.name = spec.name
        self.number = spec.number
        self.kind = spec.kind
        self.vkind = value_kind(spec)
        self.wire = LEN if spec.kind in (m.MAP, m.MAP_MESSAGE) else _WIRE[self.vkind]
        self.tag = _varint_bytes(spec.number << 3 | self.wire)
        self.cls: Any = spec.cls if self.vkind == "message" else None
        self.oneof_others = tuple(n for n in cls._ONEOFS.get(spec.oneof, ()) if n != spec.name) if spec.oneof else ()


_PLANS: dict[type, tuple[tuple[_Field, ...], dict[int, _Field]]] = {}


def _plan(cls: type) -> tuple[tuple[_Field, ...], dict[int, _Field]]:
    plan = _PLANS.get(cls)
    if plan is None:
        fields = tuple(_Field(cls, spec) for spec in cls._ORDER)
        plan = _PLANS[cls] = (fields, {f.number: f for f in fields})
    return plan


# -- encoding -----------------------------------------------------------------------


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    _put_varint(out, n)
    return bytes(out)


def _put_varint(out: bytearray, n: int) -> None:
    if n < 0:
        n &= _U64
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def _put_value(out: bytearray, vkind: str, v: Any) -> None:
    if vkind == "string":
        data = v.encode("utf-8")
        _put_varint(out, len(data))
        out += data
    elif vkind == "double":
        out += _DOUBLE.pack(v)
    elif vkind == "bytes":
        _put_varint(out, len(v))
        out += v
    elif vkind == "message":
        data = encode(v)
        _put_varint(out, len(data))
        out += data
    else:  # int64, int32, enum, bool
        _put_varint(out, int(v))


def encode(msg: m.Message) -> bytes:
    """The message in protobuf's binary format."""
    if isinstance(msg, Struct):
        return encode_struct(msg._fields())
    out = bytearray()
    values = msg._v
    for f in _plan(type(msg))[0]:
        v = values.get(f.name)
        if v is None:
            continue
        kind = f.kind
        if kind == m.SCALAR or kind == m.MESSAGE:
            out += f.tag
            _put_value(out, f.vkind, v)
        elif kind == m.REPEATED or kind == m.REPEATED_MESSAGE:
            for item in v._items:
                out += f.tag
                _put_value(out, f.vkind, item)
        else:  # a map: one entry message (key = 1, value = 2) per key
            for key, item in v._d.items():
                entry = bytearray(b"\x0a")
                _put_value(entry, "string", key)
                entry += b"\x12" if f.vkind in ("string", "bytes", "message") else (b"\x11" if f.vkind == "double" else b"\x10")
                _put_value(entry, f.vkind, item)
                out += f.tag
                _put_varint(out, len(entry))
                out += entry
    return bytes(out)


# -- decoding -----------------------------------------------------------------------


def _read_varint(data: bytes, i: int, where: str) -> tuple[int, int]:
    n = shift = 0
    end = len(data)
    while True:
        if i >= end:
            raise ValueError(f"{where}: the input ends inside a varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift >= 70:
            raise ValueError(f"{where}: a varint longer than ten bytes")


def _fields(data: bytes, where: str):
    """(field number, wire type, value, position) of each field: ints for varints, bytes otherwise."""
    i, end = 0, len(data)
    while i < end:
        key = data[i]  # one-byte varints (the usual keys, lengths and small numbers) read inline
        if key < 0x80:
            i += 1
        else:
            key, i = _read_varint(data, i, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{where}: field number 0 is not valid")
        value: int | bytes
        if wire == VARINT:
            if i < end and data[i] < 0x80:
                value, i = data[i], i + 1
            else:
                value, i = _read_varint(data, i, where)
        elif wire == LEN:
            if i < end and data[i] < 0x80:
                n, i = data[i], i + 1
            else:
                n, i = _read_varint(data, i, where)
            if n > end - i:
                raise ValueError(f"{where}: field {number} says {n} bytes, {end - i} are left")
            value, i = data[i:i + n], i + n
        elif wire in (I64, I32):
            n = 8 if wire == I64 else 4
            if n > end - i:
                raise ValueError(f"{where}: field {number} is cut short")
            value, i = data[i:i + n], i + n
        elif wire == START_GROUP:
            value, i = data[i:i], _skip_group(data, i, number, where)
        else:
            raise ValueError(f"{where}: wire type {wire} of field {number} is not valid here")
        yield number, wire, value


def _skip_group(data: bytes, i: int, number: int, where: str) -> int:
    end = len(data)
    while i < end:
        key, i = _read_varint(data, i, where)
        wire = key & 7
        if wire == END_GROUP:
            if key >> 3 != number:
                raise ValueError(f"{where}: group {number} ends with the end of group {key >> 3}")
            return i
        if wire == VARINT:
            _, i = _read_varint(data, i, where)
        elif wire == LEN:
            n, i = _read_varint(data, i, where)
            i += n
        elif wire == I64:
            i += 8
        elif wire == I32:
            i += 4
        elif wire == START_GROUP:
            i = _skip_group(data, i, key >> 3, where)
        else:
            raise ValueError(f"{where}: wire type {wire} is not valid")
        if i > end:
            break
    raise ValueError(f"{where}: the input ends inside group {number}")


def _int64(n: int) -> int:
    n &= _U64
    return n - (1 << 64) if n >> 63 else n


def _int32(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >> 31 else n


def _scalar(f: _Field, wire: int, raw, where: str):
    """A scalar's value from its wire form; None for an enum number the enum does not have."""
    vk = f.vkind
    if wire != _WIRE[vk]:
        raise ValueError(f"{where}: field {f.name} ({vk}) arrived with wire type {wire}")
    if vk == "int64":
        return _int64(raw)
    if vk == "string":
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{where}: field {f.name} is not valid UTF-8") from None
    if vk == "bool":
        return raw != 0
    if vk == "enum":
        n = _int32(raw)
        return n if n in f.spec.enum else None
    if vk == "int32":
        return _int32(raw)
    if vk == "double":
        return _DOUBLE.unpack(raw)[0]
    return bytes(raw)


def _packed(f: _Field, raw: bytes, where: str) -> list:
    out = []
    if f.vkind == "double":
        if len(raw) % 8:
            raise ValueError(f"{where}: packed field {f.name} is not a whole number of doubles")
        return [_DOUBLE.unpack_from(raw, k)[0] for k in range(0, len(raw), 8)]
    i = 0
    while i < len(raw):
        n, i = _read_varint(raw, i, where)
        v = _scalar(f, VARINT, n, where)
        if v is not None:
            out.append(v)
    return out


def decode(cls: type, data: bytes, _depth: int = 0):
    """A `cls` message read from protobuf's binary format (ValueError for malformed input)."""
    msg = cls._make({})
    _merge(msg, bytes(data), _depth)
    return msg


def _merge(msg: m.Message, data: bytes, depth: int) -> None:
    cls = type(msg)
    where = cls.__name__
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: messages nested more than {MAX_DEPTH} deep")
    if isinstance(msg, Struct):
        msg._fields().update(_struct(data, depth, where))
        return
    by_number = _plan(cls)[1]
    values = msg._v
    for number, wire, raw in _fields(data, where):
        f = by_number.get(number)
        if f is None:
            continue  # an unknown field: skipped, as protobuf skips it
        kind = f.kind
        if kind == m.SCALAR:
            vk = f.vkind
            if vk == "int64" and wire == VARINT:  # the common cases inline
                v = raw - (1 << 64) if raw >> 63 else raw
            elif vk == "string" and wire == LEN:
                try:
                    v = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError(f"{where}: field {f.name} is not valid UTF-8") from None
            else:
                v = _scalar(f, wire, raw, where)
                if v is None:
                    continue
            values[f.name] = v
        elif kind == m.MESSAGE:
            if wire != LEN:
                raise ValueError(f"{where}: field {f.name} (a message) arrived with wire type {wire}")
            child = values.get(f.name)
            if child is None:
                child = decode(f.cls, raw, depth + 1)
                child._parent, child._pname = msg, f.name
                values[f.name] = child
            else:  # a message field seen twice: protobuf merges the two
                _merge(child, raw, depth + 1)
        elif kind == m.REPEATED:
            c = values.get(f.name)
            if c is None:
                c = values[f.name] = m.RepeatedScalar(msg, f.spec)
            if wire == LEN and f.vkind not in ("string", "bytes"):
                c._items.extend(_packed(f, raw, where))
            else:
                v = _scalar(f, wire, raw, where)
                if v is not None:
                    c._items.append(v)
        elif kind == m.REPEATED_MESSAGE:
            if wire != LEN:
                raise ValueError(f"{where}: field {f.name} (messages) arrived with wire type {wire}")
            c = values.get(f.name)
            if c is None:
                c = values[f.name] = m.RepeatedMessage(msg, f.spec)
            c._items.append(decode(f.cls, raw, depth + 1))
        else:
            if wire != LEN:
                raise ValueError(f"{where}: map field {f.name} arrived with wire type {wire}")
            c = values.get(f.name)
            if c is None:
                c = values[f.name] = (m.ScalarMap if kind == m.MAP else m.MessageMap)(msg, f.spec)
            entry = _map_entry(f, raw, depth, where)
            if entry is not None:
                c._d[entry[0]] = entry[1]
        if f.oneof_others:
            for other in f.oneof_others:
                old = values.pop(other, None)
                if isinstance(old, m.Message):
                    old._parent = None


def _map_entry(f: _Field, raw: bytes, depth: int, where: str):
    key = ""
    value: Any = None
    for number, wire, v in _fields(raw, f"{where}.{f.name}"):
        if number == 1:
            if wire != LEN:
                raise ValueError(f"{where}: a key of map {f.name} arrived with wire type {wire}")
            try:
                key = bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: a key of map {f.name} is not valid UTF-8") from None
        elif number == 2:
            if f.vkind == "message":
                if wire != LEN:
                    raise ValueError(f"{where}: a value of map {f.name} arrived with wire type {wire}")
                value = decode(f.cls, v, depth + 1)
            else:
                value = _scalar(f, wire, v, where)
                if value is None:
                    return None  # an enum number the enum does not have: protobuf drops the entry
    if value is None:
        value = f.cls._make({}) if f.vkind == "message" else f.spec.default
    return key, value


# -- google.protobuf.Struct ----------------------------------------------------------


def _len_field(wire: int, v, where: str) -> bytes:
    if wire != LEN:
        raise ValueError(f"{where}: a varint where a length-delimited field belongs")
    return v


def _struct(data: bytes, depth: int, where: str) -> dict[str, object]:
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: values nested more than {MAX_DEPTH} deep")
    out: dict[str, object] = {}
    for number, wire, entry in _fields(data, where):
        if number != 1:
            continue
        key, value = "", None
        for n, w, v in _fields(_len_field(wire, entry, where), where):
            if n == 1:
                try:
                    key = bytes(_len_field(w, v, where)).decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError(f"{where}: a Struct key is not valid UTF-8") from None
            elif n == 2:
                value = _struct_value(_len_field(w, v, where), depth + 1, where)
        out[key] = value
    return out


def _struct_value(data: bytes, depth: int, where: str) -> object:
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: values nested more than {MAX_DEPTH} deep")
    out: object = None
    for n, w, v in _fields(data, where):
        if n == 1:
            out = None
        elif n == 2:
            if w != I64:
                raise ValueError(f"{where}: a Struct number arrived with wire type {w}")
            out = _DOUBLE.unpack(v)[0]
        elif n == 3:
            try:
                out = bytes(_len_field(w, v, where)).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: a Struct string is not valid UTF-8") from None
        elif n == 4:
            if w != VARINT:
                raise ValueError(f"{where}: a Struct bool arrived with wire type {w}")
            out = v != 0
        elif n == 5:
            out = _struct(_len_field(w, v, where), depth + 1, where)
        elif n == 6:
            out = [_struct_value(_len_field(iw, item, where), depth + 1, where)
                   for k, iw, item in _fields(_len_field(w, v, where), where) if k == 1]
    return out


def decode_struct(data: bytes) -> dict[str, object]:
    """A google.protobuf.Struct's wire encoding as the plain dict it holds; ValueError when malformed."""
    return _struct(data, 0, "a Struct")


def _put_len(out: bytearray, number: int, payload: bytes) -> None:
    _put_varint(out, number << 3 | LEN)
    _put_varint(out, len(payload))
    out += payload


def _encode_struct_value(v) -> bytes:
    out = bytearray()
    if v is None:
        out += bytes([1 << 3, 0])
    elif isinstance(v, bool):
        out += bytes([4 << 3, 1 if v else 0])
    elif isinstance(v, (int, float)):
        out.append(2 << 3 | I64)
        out += _DOUBLE.pack(float(v))
    elif isinstance(v, str):
        _put_len(out, 3, v.encode("utf-8"))
    elif isinstance(v, dict):
        _put_len(out, 5, encode_struct(v))
    else:
        items = bytearray()
        for item in v:
            _put_len(items, 1, _encode_struct_value(item))
        _put_len(out, 6, bytes(items))
    return bytes(out)


def encode_struct(d: dict) -> bytes:
    """A plain dict as a google.protobuf.Struct's wire encoding (the inverse of decode_struct)."""
    out = bytearray()
    for key in sorted(d):
        entry = bytearray()
        _put_len(entry, 1, key.encode("utf-8"))
        _put_len(entry, 2, _encode_struct_value(d[key]))
        _put_len(out, 1, bytes(entry))
    return bytes(out)
