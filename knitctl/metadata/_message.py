"""A small pure-Python stand-in for protocol-buffer messages.

Just what metadata code uses: typed fields with presence (proto2), enum types
with `Name`/`Value`, sub-messages that attach to their parent on first write
(`config.sqlite.filename_uri = ...` makes `config.sqlite` present and clears
the rest of its oneof), repeated fields with `add()`, maps whose message
values spring into existence on `map[key]`, `SetInParent`, `CopyFrom`,
`MergeFrom`, `HasField`, `WhichOneof`, `ClearField`, equality, the text
format for printing, and protobuf's binary format (`SerializeToString`,
`ParseFromString`, `FromString`, `ByteSize`): a field's `number` (the `n=` of
the `f_*` helpers) is its protobuf field number, by which `_wire` encodes and
decodes.

A message class lists its fields in `FIELDS` (built with the `f_*` helpers
below); the metaclass turns them into descriptors.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# -- enums --------------------------------------------------------------------


class EnumType:
    """An enum's names and numbers: `State.LIVE`, `State.Name(2)`, `State.Value("LIVE")`."""

    def __init__(self, full_name: str, values: dict[str, int]):
        self._full_name = full_name
        self._by_name = dict(values)
        self._by_number: dict[int, str] = {}
        for k, v in values.items():
            self._by_number.setdefault(v, k)
            setattr(self, k, v)

    def Name(self, number: int) -> str:
        try:
            return self._by_number[number]
        except (KeyError, TypeError):
            raise ValueError(f"enum {self._full_name} has no value with number {number!r}") from None

    def Value(self, name: str) -> int:
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise ValueError(f"enum {self._full_name} has no value named {name!r}") from None

    def keys(self) -> list[str]:
        return list(self._by_name)

    def values(self) -> list[int]:
        return list(self._by_name.values())

    def items(self) -> list[tuple[str, int]]:
        return list(self._by_name.items())

    def __contains__(self, number: object) -> bool:
        return number in self._by_number

    def __repr__(self) -> str:
        return f"<enum {self._full_name}>"


# -- value checks -------------------------------------------------------------


def _int64(field: str, v: Any) -> int:
    if type(v) is not int:
        if isinstance(v, (float, str, bytes)) or not hasattr(v, "__index__"):
            raise TypeError(f"field {field} takes an integer, not {type(v).__name__} {v!r}")
        v = operator.index(v)
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(f"field {field}: {v} is outside the 64-bit integer range")
    return v


def _int32(field: str, v: Any) -> int:
    v = _int64(field, v)
    if not -(1 << 31) <= v < (1 << 31):
        raise ValueError(f"field {field}: {v} is outside the 32-bit integer range")
    return v


def _double(field: str, v: Any) -> float:
    if type(v) is float:
        return v
    if isinstance(v, (str, bytes)) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise TypeError(f"field {field} takes a number, not {type(v).__name__} {v!r}")
    return float(v)


def _string(field: str, v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"field {field} takes UTF-8 text; {v!r} is not valid UTF-8") from None
    raise TypeError(f"field {field} takes a str, not {type(v).__name__} {v!r}")


def _bytes(field: str, v: Any) -> bytes:
    if isinstance(v, bytes):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    raise TypeError(f"field {field} takes bytes, not {type(v).__name__}")


def _bool(field: str, v: Any) -> bool:
    if type(v) is bool:
        return v
    if isinstance(v, (float, str, bytes)) or not hasattr(v, "__index__"):
        raise TypeError(f"field {field} takes a bool, not {type(v).__name__} {v!r}")
    return bool(operator.index(v))


def _enum_check(enum: EnumType) -> Callable[[str, Any], int]:
    def check(field: str, v: Any) -> int:
        if isinstance(v, str):
            return enum.Value(v)
        v = _int64(field, v)
        if v not in enum._by_number:
            raise ValueError(f"field {field}: {v} is not a value of enum {enum._full_name}")
        return v

    return check


# -- field specs --------------------------------------------------------------

SCALAR, MESSAGE, REPEATED, REPEATED_MESSAGE, MAP, MAP_MESSAGE = range(6)


class FieldSpec:
    __slots__ = ("name", "kind", "default", "check", "_cls", "oneof", "enum", "fmt", "number")

    def __init__(self, name, kind, *, default=None, check=None, cls=None, oneof=None, enum=None, fmt=None,
                 number=None):
        self.name = name
        self.number = number
        self.kind = kind
        self.default = default
        self.check = check
        self._cls = cls
        self.oneof = oneof
        self.enum = enum
        self.fmt = fmt

    @property
    def cls(self):
        c = self._cls
        if not isinstance(c, type):
            c = self._cls = c()
        return c


def f_int64(name, oneof=None, *, n=None, default=0):
    return FieldSpec(name, SCALAR, default=default, check=_int64, oneof=oneof, fmt="int", number=n)


def f_int32(name, default=0, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default=default, check=_int32, oneof=oneof, fmt="int", number=n)


def f_double(name, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default=0.0, check=_double, oneof=oneof, fmt="double", number=n)


def f_string(name, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default="", check=_string, oneof=oneof, fmt="string", number=n)


def f_bytes(name, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default=b"", check=_bytes, oneof=oneof, fmt="bytes", number=n)


def f_bool(name, default=False, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default=default, check=_bool, oneof=oneof, fmt="bool", number=n)


def f_enum(name, enum: EnumType, default=0, oneof=None, *, n=None):
    return FieldSpec(name, SCALAR, default=default, check=_enum_check(enum), oneof=oneof, enum=enum, fmt="enum",
                     number=n)


def f_message(name, cls, oneof=None, *, n=None):
    return FieldSpec(name, MESSAGE, cls=cls, oneof=oneof, number=n)


def f_repeated_message(name, cls, *, n=None):
    return FieldSpec(name, REPEATED_MESSAGE, cls=cls, number=n)


def f_repeated(name, item: FieldSpec, *, n=None):
    return FieldSpec(name, REPEATED, check=item.check, enum=item.enum, fmt=item.fmt, number=n)


def f_map(name, value: FieldSpec, *, n=None):
    """map<string, scalar or enum>"""
    return FieldSpec(name, MAP, default=value.default, check=value.check, enum=value.enum, fmt=value.fmt,
                     number=n)


def f_map_message(name, cls, *, n=None):
    """map<string, message>"""
    return FieldSpec(name, MAP_MESSAGE, cls=cls, number=n)


# -- descriptors --------------------------------------------------------------


class _ScalarField:
    __slots__ = ("name", "default", "check", "oneof")

    def __init__(self, spec: FieldSpec):
        self.name, self.default, self.check, self.oneof = spec.name, spec.default, spec.check, spec.oneof

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return obj._v.get(self.name, self.default)

    def __set__(self, obj, value):
        if value is None:
            raise TypeError(f"field {self.name} cannot be set to None; use ClearField({self.name!r})")
        obj._v[self.name] = self.check(self.name, value)
        if self.oneof is not None:
            obj._clear_oneof(self.oneof, self.name)
        if obj._parent is not None:
            obj._touch()


class _MessageField:
    __slots__ = ("spec",)

    def __init__(self, spec: FieldSpec):
        self.spec = spec

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        name = self.spec.name
        v = obj._v.get(name)
        if v is not None:
            return v
        lazy = obj._lazy
        if lazy is None:
            lazy = obj._lazy = {}
        child = lazy.get(name)
        if child is None:
            child = self.spec.cls()
            child._parent = obj
            child._pname = name
            lazy[name] = child
        return child

    def __set__(self, obj, value):
        # protobuf refuses plain assignment to a message field; accept a message of the right class (copied).
        cls = self.spec.cls
        if value is None:
            obj.ClearField(self.spec.name)
            return
        if isinstance(value, dict):
            value = cls(**value)
        if not isinstance(value, cls):
            raise TypeError(f"field {self.spec.name} takes a {cls.__name__}, not {type(value).__name__}")
        target = self.__get__(obj)
        target.CopyFrom(value)
        target.SetInParent()


class _ContainerField:
    __slots__ = ("spec", "factory")

    def __init__(self, spec: FieldSpec, factory):
        self.spec = spec
        self.factory = factory

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        name = self.spec.name
        c = obj._v.get(name)
        if c is None:
            c = obj._v[name] = self.factory(obj, self.spec)
        return c

    def __set__(self, obj, value):
        raise AttributeError(
            f"assignment is not allowed to field {self.spec.name!r}; change it in place (extend/update/add)"
        )


# -- containers ---------------------------------------------------------------


class RepeatedScalar:
    """A list of scalars; values are checked like single fields."""

    __slots__ = ("_owner", "_spec", "_items")

    def __init__(self, owner, spec: FieldSpec):
        self._owner, self._spec = owner, spec
        self._items: list[object] = []

    def _changed(self):
        o = self._owner  # None for containers the store builds (their message is top-level)
        if o is not None and o._parent is not None:
            o._touch()

    def append(self, v):
        self._items.append(self._spec.check(self._spec.name, v))
        self._changed()

    def extend(self, vs: Iterable):
        self._items.extend(self._spec.check(self._spec.name, v) for v in vs)
        self._changed()

    def insert(self, i, v):
        self._items.insert(i, self._spec.check(self._spec.name, v))
        self._changed()

    def remove(self, v):
        self._items.remove(v)

    def pop(self, i=-1):
        return self._items.pop(i)

    def sort(self, *, key=None, reverse=False):
        self._items.sort(key=key, reverse=reverse)

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            self._items[i] = [self._spec.check(self._spec.name, x) for x in v]
        else:
            self._items[i] = self._spec.check(self._spec.name, v)
        self._changed()

    def __delitem__(self, i):
        del self._items[i]

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __eq__(self, other):
        if isinstance(other, RepeatedScalar):
            return self._items == other._items
        if isinstance(other, (list, tuple)):
            return self._items == list(other)
        return NotImplemented

    def __repr__(self):
        return repr(self._items)


class RepeatedMessage:
    """A list of messages: `add(**fields)`, `append(msg)` (copied), `extend(msgs)`."""

    __slots__ = ("_owner", "_spec", "_items")

    def __init__(self, owner, spec: FieldSpec):
        self._owner, self._spec = owner, spec
        self._items: list[Message] = []

    def _changed(self):
        o = self._owner  # None for containers the store builds (their message is top-level)
        if o is not None and o._parent is not None:
            o._touch()

    def add(self, **fields):
        m = self._spec.cls(**fields)
        self._items.append(m)
        self._changed()
        return m

    def _coerce(self, m):
        cls = self._spec.cls
        if isinstance(m, dict):
            return cls(**m)
        if not isinstance(m, cls):
            raise TypeError(f"field {self._spec.name} holds {cls.__name__} messages, not {type(m).__name__}")
        return m._copy()

    def append(self, m):
        self._items.append(self._coerce(m))
        self._changed()

    def extend(self, ms: Iterable):
        self._items.extend(self._coerce(m) for m in ms)
        self._changed()

    def insert(self, i, m):
        self._items.insert(i, self._coerce(m))
        self._changed()

    def remove(self, m):
        self._items.remove(m)

    def pop(self, i=-1):
        return self._items.pop(i)

    def sort(self, *, key=None, reverse=False):
        self._items.sort(key=key, reverse=reverse)

    def __delitem__(self, i):
        del self._items[i]

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __eq__(self, other):
        if isinstance(other, RepeatedMessage):
            return self._items == other._items
        if isinstance(other, (list, tuple)):
            return self._items == list(other)
        return NotImplemented

    def __repr__(self):
        return repr(self._items)


class _MapBase:
    __slots__ = ("_owner", "_spec", "_d")

    def __init__(self, owner, spec: FieldSpec):
        self._owner, self._spec = owner, spec
        self._d: dict[Any, Any] = {}  # keys and values of the map field's declared types

    def _changed(self):
        o = self._owner  # None for containers the store builds (their message is top-level)
        if o is not None and o._parent is not None:
            o._touch()

    @staticmethod
    def _key(k):
        if not isinstance(k, str):
            raise TypeError(f"map keys are str, not {type(k).__name__} {k!r}")
        return k

    def __contains__(self, k):
        return k in self._d

    def __len__(self):
        return len(self._d)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def keys(self):
        return self._d.keys()

    def values(self):
        return self._d.values()

    def items(self):
        return self._d.items()

    def get(self, k, default=None):
        return self._d.get(k, default)

    def __delitem__(self, k):
        del self._d[k]

    def pop(self, k, *default):
        return self._d.pop(k, *default)

    def clear(self):
        self._d.clear()

    def __eq__(self, other):
        if isinstance(other, _MapBase):
            return self._d == other._d
        if isinstance(other, dict):
            return self._d == other
        return NotImplemented

    def __repr__(self):
        return repr(self._d)


class ScalarMap(_MapBase):
    """map<string, scalar>: `type.properties["day"] = INT`."""

    __slots__ = ()

    def __getitem__(self, k):
        d = self._d
        if k not in d:
            d[self._key(k)] = self._spec.default
            self._changed()
        return d[k]

    def __setitem__(self, k, v):
        self._d[self._key(k)] = self._spec.check(f"{self._spec.name}[{k!r}]", v)
        self._changed()

    def update(self, other=(), **kw):
        for k, v in dict(other, **kw).items():
            self[k] = v


class MessageMap(_MapBase):
    """map<string, message>: `artifact.properties["day"].int_value = 1` creates the entry."""

    __slots__ = ()

    def __getitem__(self, k):
        v = self._d.get(k)
        if v is None:
            v = self._d[self._key(k)] = self._spec.cls()
            self._changed()
        return v

    def get_or_create(self, k):
        return self[k]

    def __setitem__(self, k, v):
        # protobuf forbids this; a copy of a message of the right class is accepted.
        cls = self._spec.cls
        if isinstance(v, dict):
            v = cls(**v)
        if not isinstance(v, cls):
            raise TypeError(f"{self._spec.name}[{k!r}] takes a {cls.__name__}, not {type(v).__name__}")
        self._d[self._key(k)] = v._copy()
        self._changed()

    def update(self, other=(), **kw):
        for k, v in dict(other, **kw).items():
            self[k] = v


def _make_repeated(owner, spec):
    return RepeatedScalar(owner, spec)


def _make_repeated_message(owner, spec):
    return RepeatedMessage(owner, spec)


def _make_map(owner, spec):
    return ScalarMap(owner, spec)


def _make_map_message(owner, spec):
    return MessageMap(owner, spec)


_FACTORY = {REPEATED: _make_repeated, REPEATED_MESSAGE: _make_repeated_message, MAP: _make_map,
            MAP_MESSAGE: _make_map_message}


# -- messages -----------------------------------------------------------------


class _MessageMeta(type):
    def __new__(mcls, name, bases, ns):
        ns.setdefault("__slots__", ())
        cls = super().__new__(mcls, name, bases, ns)
        fields = ns.get("FIELDS")
        if fields is None:
            return cls
        cls._FIELDS = {}
        cls._ONEOFS = {}
        cls._ORDER = tuple(fields)
        for spec in fields:
            cls._FIELDS[spec.name] = spec
            if spec.oneof:
                cls._ONEOFS.setdefault(spec.oneof, []).append(spec.name)
            if spec.kind == SCALAR:
                setattr(cls, spec.name, _ScalarField(spec))
            elif spec.kind == MESSAGE:
                setattr(cls, spec.name, _MessageField(spec))
            else:
                setattr(cls, spec.name, _ContainerField(spec, _FACTORY[spec.kind]))
        for enum in ns.values():
            if isinstance(enum, EnumType):  # enum values are visible on the message too: Artifact.LIVE
                for k, v in enum.items():
                    if not hasattr(cls, k):
                        setattr(cls, k, v)
        return cls


class Message(metaclass=_MessageMeta):
    """Base of every message class."""

    __slots__ = ("_v", "_lazy", "_parent", "_pname")
    _FIELDS: dict[str, FieldSpec] = {}
    _ONEOFS: dict[str, list[str]] = {}
    _ORDER: tuple[FieldSpec, ...] = ()

    def __init__(self, **fields):
        self._v = {}
        self._lazy = None
        self._parent = None
        self._pname = None
        for k, val in fields.items():
            spec = self._FIELDS.get(k)
            if spec is None:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{k}" field.')
            if val is None:
                continue
            if spec.kind == SCALAR:
                setattr(self, k, val)
            elif spec.kind == MESSAGE:
                sub = getattr(self, k)
                if isinstance(val, dict):
                    val = spec.cls(**val)
                if not isinstance(val, spec.cls):
                    raise TypeError(f"field {k} takes a {spec.cls.__name__}, not {type(val).__name__}")
                sub.CopyFrom(val)
                sub.SetInParent()
            elif spec.kind in (MAP, MAP_MESSAGE):
                getattr(self, k).update(val)
            else:
                getattr(self, k).extend(val)

    @classmethod
    def _make(cls, values: dict):
        """Build from already-checked values (the store's fast path)."""
        m = cls.__new__(cls)
        m._v = values
        m._lazy = None
        m._parent = None
        m._pname = None
        return m

    # -- presence ------------------------------------------------------------

    def _touch(self) -> None:
        """This (lazily created) sub-message was written to: attach it to its parent."""
        p = self._parent
        if p is None:
            return
        name = self._pname
        if p._v.get(name) is not self:
            p._v[name] = self
            if p._lazy:
                p._lazy.pop(name, None)
            oneof = p._FIELDS[name].oneof
            if oneof is not None:
                p._clear_oneof(oneof, name)
            p._touch()

    def _clear_oneof(self, oneof: str, keep: str) -> None:
        v = self._v
        for name in self._ONEOFS[oneof]:
            if name != keep and name in v:
                old = v.pop(name)
                if isinstance(old, Message):
                    old._parent = None

    def SetInParent(self) -> None:
        """Mark this sub-message present in its parent even if it stays empty."""
        self._touch()

    def HasField(self, name: str) -> bool:
        spec = self._FIELDS.get(name)
        if spec is None:
            if name in self._ONEOFS:
                return self.WhichOneof(name) is not None
            raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
        if spec.kind not in (SCALAR, MESSAGE):
            raise ValueError(f"Field {type(self).__name__}.{name} does not have presence.")
        return name in self._v

    def WhichOneof(self, oneof: str) -> str | None:
        names = self._ONEOFS.get(oneof)
        if names is None:
            raise ValueError(f'Protocol message {type(self).__name__} has no "{oneof}" oneof.')
        for n in names:
            if n in self._v:
                return n
        return None

    def ClearField(self, name: str) -> None:
        if name in self._ONEOFS and name not in self._FIELDS:
            which = self.WhichOneof(name)
            if which:
                self.ClearField(which)
            return
        if name not in self._FIELDS:
            raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
        old = self._v.pop(name, None)
        if isinstance(old, Message):
            old._parent = None
        if self._lazy:
            child = self._lazy.pop(name, None)
            if child is not None:
                child._parent = None

    def Clear(self) -> None:
        for name in list(self._v):
            self.ClearField(name)
        self._lazy = None

    def ListFields(self) -> list[tuple[FieldSpec, Any]]:
        out = []
        for spec in self._ORDER:
            v = self._v.get(spec.name)
            if v is None or (spec.kind not in (SCALAR, MESSAGE) and not len(v)):
                continue
            out.append((spec, v))
        return out

    def IsInitialized(self) -> bool:
        return True

    # -- protobuf's binary format (see _wire) --------------------------------

    def SerializeToString(self, deterministic: bool = False) -> bytes:
        from . import _wire

        return _wire.encode(self)

    def ParseFromString(self, data: bytes) -> int:
        """Replace the fields with those `data` encodes (ValueError for malformed bytes); its length."""
        from . import _wire

        parsed = _wire.decode(type(self), data)
        self.Clear()
        self.MergeFrom(parsed)
        if self._parent is not None:
            self._touch()
        return len(data)

    @classmethod
    def FromString(cls, data: bytes):
        from . import _wire

        return _wire.decode(cls, data)

    def ByteSize(self) -> int:
        return len(self.SerializeToString())

    # -- copying -------------------------------------------------------------

    def MergeFrom(self, other: Message) -> None:
        if type(other) is not type(self):
            raise TypeError(
                f"Parameter to MergeFrom() must be instance of same class: expected {type(self).__name__} "
                f"got {type(other).__name__}."
            )
        for name, v in list(other._v.items()):
            spec = self._FIELDS[name]
            kind = spec.kind
            if kind == SCALAR:
                setattr(self, name, v)
            elif kind == MESSAGE:
                sub = getattr(self, name)
                sub.MergeFrom(v)
                sub.SetInParent()
            elif kind in (REPEATED, REPEATED_MESSAGE):
                if len(v):
                    getattr(self, name).extend(v._items)
            elif kind == MAP:
                if len(v):
                    getattr(self, name).update(v._d)
            else:
                if len(v):
                    mine = getattr(self, name)
                    for k, m in v._d.items():
                        mine[k].MergeFrom(m)

    def CopyFrom(self, other: Message) -> None:
        if other is self:
            return
        if type(other) is not type(self):
            raise TypeError(
                f"Parameter to CopyFrom() must be instance of same class: expected {type(self).__name__} "
                f"got {type(other).__name__}."
            )
        self.Clear()
        self.MergeFrom(other)
        if self._parent is not None:
            self._touch()

    def _copy(self):
        m = type(self)()
        m.MergeFrom(self)
        return m

    def __copy__(self):
        return self._copy()

    def __deepcopy__(self, memo=None):
        return self._copy()

    def __reduce__(self):
        return (_rebuild, (type(self), self._plain()))

    def _plain(self) -> dict:
        """Fields as plain Python values (for pickling and `to_dict`)."""
        out = {}
        for spec in self._ORDER:
            v = self._v.get(spec.name)
            if v is None:
                continue
            k = spec.kind
            if k == SCALAR:
                out[spec.name] = v
            elif k == MESSAGE:
                out[spec.name] = v._plain()
            elif k == REPEATED:
                if len(v):
                    out[spec.name] = list(v._items)
            elif k == REPEATED_MESSAGE:
                if len(v):
                    out[spec.name] = [m._plain() for m in v._items]
            elif k == MAP:
                if len(v):
                    out[spec.name] = dict(v._d)
            elif len(v):
                out[spec.name] = {key: m._plain() for key, m in v._d.items()}
        return out

    # -- comparing and printing ----------------------------------------------

    def _norm(self) -> dict:
        v = self._v
        out = {}
        for name, val in v.items():
            if isinstance(val, (RepeatedScalar, RepeatedMessage, _MapBase)) and not len(val):
                continue
            out[name] = val
        return out

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._norm() == other._norm()

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        lines: list[str] = []
        self._text(lines, "")
        return "".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _text(self, out: list[str], pad: str) -> None:
        for spec in self._ORDER:
            v = self._v.get(spec.name)
            if v is None:
                continue
            k = spec.kind
            name = spec.name
            if k == SCALAR:
                out.append(f"{pad}{name}: {_fmt(spec, v)}\n")
            elif k == MESSAGE:
                out.append(f"{pad}{name} {{\n")
                v._text(out, pad + "  ")
                out.append(f"{pad}}}\n")
            elif k == REPEATED:
                for item in v._items:
                    out.append(f"{pad}{name}: {_fmt(spec, item)}\n")
            elif k == REPEATED_MESSAGE:
                for item in v._items:
                    out.append(f"{pad}{name} {{\n")
                    item._text(out, pad + "  ")
                    out.append(f"{pad}}}\n")
            elif k == MAP:
                for key, item in v._d.items():
                    out.append(f"{pad}{name} {{\n{pad}  key: {_quote(key)}\n{pad}  value: {_fmt(spec, item)}\n{pad}}}\n")
            else:
                for key, item in v._d.items():
                    out.append(f"{pad}{name} {{\n{pad}  key: {_quote(key)}\n{pad}  value {{\n")
                    item._text(out, pad + "    ")
                    out.append(f"{pad}  }}\n{pad}}}\n")


def _rebuild(cls, plain):
    return cls(**plain)


def _quote(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _fmt(spec: FieldSpec, v) -> str:
    f = spec.fmt
    if f == "string":
        return _quote(v)
    if f == "enum":
        return spec.enum._by_number.get(v, str(v))
    if f == "bool":
        return "true" if v else "false"
    if f == "double":
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if f == "bytes":
        return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:03o}" for b in v) + '"'
    return str(v)
