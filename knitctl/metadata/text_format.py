"""Protocol buffers' text format, read into knit's message classes (for server config files).

    connection_config {
      sqlite { filename_uri: '/var/mlmd.db' connection_mode: READWRITE_OPENCREATE }
    }

Fields `name: value` and `name { ... }` (the colon optional before a brace, `<...>` too), `#`
comments, strings in single or double quotes with C escapes (adjacent strings join), enum values by
name or number, `true`/`false`, numbers, repeated fields by repetition, maps as `{ key: .. value: .. }`
entries. Anything else is a ValueError naming the line.
"""

from __future__ import annotations

import re

from . import _message as m
from ._wire import value_kind

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n,;]+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>[-]?[A-Za-z_][\w.]*)
  | (?P<punct>[{}<>:\[\]])
""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "?": "?"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, i, line = [], 0, 1
    while i < len(text):
        mt = _TOKEN.match(text, i)
        if mt is None:
            raise ValueError(f"line {line}: cannot read {text[i:i + 20]!r}")
        kind = mt.lastgroup or ""
        if kind != "space":
            out.append((kind, mt.group(), line))
        line += mt.group().count("\n")
        i = mt.end()
    return out


def _unquote(tok: str, line: int) -> bytes:
    body, out, i = tok[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt].encode()
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group()  # type: ignore[union-attr]
            out.append(int(digits, 8) & 0xFF)
            i += 1 + len(digits)
        elif nxt in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            if digits is None:
                raise ValueError(f"line {line}: \\x without hex digits")
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        else:
            raise ValueError(f"line {line}: unknown escape \\{nxt}")
    return bytes(out)


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        t = self.peek()
        if t is None:
            last = self.toks[-1][2] if self.toks else 1
            raise ValueError(f"line {last}: the text ends too soon")
        self.i += 1
        return t

    def expect(self, value: str) -> None:
        kind, tok, line = self.take()
        if tok != value:
            raise ValueError(f"line {line}: expected {value!r}, found {tok!r}")

    def message(self, msg: m.Message, close: str | None) -> None:
        while True:
            t = self.peek()
            if t is None:
                if close is not None:
                    raise ValueError(f"line {self.toks[-1][2]}: a {{ is never closed")
                return
            kind, tok, line = t
            if close is not None and tok == close:
                self.i += 1
                return
            if kind != "ident":
                raise ValueError(f"line {line}: expected a field name, found {tok!r}")
            self.i += 1
            spec = type(msg)._FIELDS.get(tok)
            if spec is None:
                raise ValueError(f"line {line}: {type(msg).__name__} has no field {tok!r}")
            self.field(msg, spec, line)

    def _open(self, line: int) -> str:
        t = self.peek()
        if t is not None and t[1] == ":":
            self.i += 1
        kind, tok, line = self.take()
        if tok not in ("{", "<"):
            raise ValueError(f"line {line}: expected {{ after a message field, found {tok!r}")
        return "}" if tok == "{" else ">"

    def field(self, msg: m.Message, spec: m.FieldSpec, line: int) -> None:
        k = spec.kind
        if k == m.MESSAGE:
            sub = getattr(msg, spec.name)
            sub.SetInParent()
            self.message(sub, self._open(line))
        elif k == m.REPEATED_MESSAGE:
            self.message(getattr(msg, spec.name).add(), self._open(line))
        elif k in (m.MAP, m.MAP_MESSAGE):
            close = self._open(line)
            key, seen_value = "", False
            container = getattr(msg, spec.name)
            while True:
                kind, tok, ln = self.take()
                if tok == close:
                    break
                if tok == "key":
                    self.expect(":")
                    key = self.scalar_string(ln)
                elif tok == "value":
                    seen_value = True
                    if k == m.MAP_MESSAGE:
                        self.message(container[key] if key else spec.cls(), self._open(ln))
                    else:
                        self.expect(":")
                        container[key] = self.scalar(spec, ln)
                else:
                    raise ValueError(f"line {ln}: a map entry has key and value, not {tok!r}")
            if not seen_value and k == m.MAP_MESSAGE:
                container[key]
        else:
            self.expect(":")
            t = self.peek()
            if k == m.REPEATED and t is not None and t[1] == "[":
                self.i += 1
                while True:
                    if self.peek() is not None and self.peek()[1] == "]":  # type: ignore[index]
                        self.i += 1
                        break
                    getattr(msg, spec.name).append(self.scalar(spec, line))
            elif k == m.REPEATED:
                getattr(msg, spec.name).append(self.scalar(spec, line))
            else:
                setattr(msg, spec.name, self.scalar(spec, line))

    def scalar_string(self, line: int) -> str:
        kind, tok, ln = self.take()
        if kind != "string":
            raise ValueError(f"line {ln}: expected a quoted string, found {tok!r}")
        data = _unquote(tok, ln)
        while self.peek() is not None and self.peek()[0] == "string":  # type: ignore[index]
            _, more, ln2 = self.take()
            data += _unquote(more, ln2)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"line {ln}: the string is not valid UTF-8") from None

    def scalar(self, spec: m.FieldSpec, line: int):
        vk = value_kind(spec)
        if vk in ("string", "bytes"):
            text = self.scalar_string(line)
            return text if vk == "string" else text.encode("utf-8")
        kind, tok, ln = self.take()
        try:
            if vk == "enum":
                return spec.enum.Value(tok) if kind == "ident" else int(tok, 0)
            if vk == "bool":
                if tok in ("true", "True", "t", "1"):
                    return True
                if tok in ("false", "False", "f", "0"):
                    return False
                raise ValueError(f"{tok!r} is not true or false")
            if vk == "double":
                if kind == "ident" and tok.lower().lstrip("-") in ("inf", "infinity", "nan"):
                    return float(tok)
                return float(tok.rstrip("fF"))
            if kind != "number":
                raise ValueError(f"{tok!r} is not a number")
            return int(tok, 0)
        except ValueError as e:
            raise ValueError(f"line {ln}: field {spec.name}: {e}") from None


def parse(text: str, cls: type):
    """A `cls` message from its text format (ValueError with the line for anything malformed)."""
    msg = cls()
    p = _Parser(text)
    try:
        p.message(msg, None)
    except (TypeError, ValueError) as e:
        msg_text = str(e)
        raise ValueError(msg_text if msg_text.startswith("line ") else f"line {p.toks[max(p.i - 1, 0)][2]}: {msg_text}") from None
    return msg
