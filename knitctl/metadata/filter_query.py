"""ML Metadata's filter language, parsed into parameterised SQL.

    uri LIKE 'gs://%' AND (properties.day.int_value > 3 OR custom_properties.note.string_value IS NULL)
    contexts_run.name = 'exp1' AND events_0.type IN (INPUT, DECLARED_INPUT)
    parent_contexts_p.type = 'Pipeline' AND NOT name = 'scratch'

A tokenizer and a recursive-descent parser build an expression tree; the
compiler resolves names against the node kind (artifact, execution or
context), checks operand types, and emits SQL with `?` parameters, never
text pasted from the query. Errors are `InvalidArgumentError`s that name the
line and column.

Semantics:
- Attributes: `id`, `type_id`, `type` (the type's name), `name`, `external_id`,
  `create_time_since_epoch`, `last_update_time_since_epoch`; artifacts add `uri`
  and `state`, executions `last_known_state` (enum names: `state = LIVE`).
- `properties.<p>.<int|double|string|bool>_value` and the same under
  `custom_properties`; a property name with odd characters is back-quoted.
  Properties are LEFT-joined, so a node without the property yields NULL:
  `properties.a.int_value = 1 OR properties.b.string_value = 'x'` matches
  nodes having either one (ML Metadata's inner joins need both), and
  `properties.a.int_value IS NULL` finds nodes without `a`.
- Related rows through an alias: `contexts_<a>.<attr>` (the contexts an
  artifact is attributed to / an execution is associated with),
  `events_<a>.<type|artifact_id|execution_id|milliseconds_since_epoch>`, and
  for contexts `parent_contexts_<a>.<attr>` / `child_contexts_<a>.<attr>`. One
  alias names one related row: `contexts_a.name = 'x' AND contexts_a.type = 'T'`
  asks for one context that is both, `contexts_a... AND contexts_b...` for two.
  A node matches when some choice of related rows (or none, as NULLs) makes the
  expression true — so `contexts_a.name = 'c' OR uri = 'u'` also finds nodes
  that have no context at all.
- Comparisons `= != <> < <= > >=`, `[NOT] LIKE`, `[NOT] IN (...)`, `IS [NOT] NULL`,
  `AND`, `OR`, `NOT`, parentheses; keywords are case-insensitive; strings in
  single or double quotes; `TRUE`/`FALSE`. `LIKE` is SQLite's (`%`, `_`,
  case-insensitive for ASCII), as ML Metadata on SQLite.
- A node's own unset attribute (no name, no state...) compares as a value of
  its own: `state != LIVE` and `NOT name = 'x'` include nodes without one,
  `name IS NULL` finds them. Properties and related rows follow SQL: a missing
  property makes `=`, `!=`, `<`... unknown (false), and `IS NULL` finds it.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from . import errors
from .metadata_store_pb2 import Artifact, Event, Execution

# -- tokens -------------------------------------------------------------------

KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL", "TRUE", "FALSE"}


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT NUMBER STRING OP ( ) , . KEYWORD EOF
    text: str
    pos: int
    value: object = None


_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_NESTING = 100       # parentheses and NOTs inside one another
MAX_TERMS = 500         # comparisons in one query (SQLite's expression depth is 1000)
MAX_IN_ITEMS = 10_000   # values in one IN list (SQLite binds at most 32,766 parameters)


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:27] + "..."


class FilterQueryError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


def tokenize(q: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(),.":
            out.append(Token(ch, ch, i))
            i += 1
            continue
        if ch in "=<>!":
            two = q[i:i + 2]
            if two in ("<=", ">=", "!=", "<>"):
                out.append(Token("OP", "!=" if two == "<>" else two, i))
                i += 2
                continue
            if ch == "!":
                raise FilterQueryError("unexpected '!' (did you mean '!='?)", i)
            if two == "==":
                raise FilterQueryError("unexpected '==' (comparisons use a single '=')", i)
            out.append(Token("OP", ch, i))
            i += 1
            continue
        if ch in "'\"":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise FilterQueryError("unterminated string", i)
                c = q[j]
                if c == "\\" and j + 1 < n:
                    nxt = q[j + 1]
                    buf.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(nxt, nxt))
                    j += 2
                    continue
                if c == ch:
                    if j + 1 < n and q[j + 1] == ch:  # '' inside '...' is one quote, as in SQL
                        buf.append(ch)
                        j += 2
                        continue
                    break
                buf.append(c)
                j += 1
            out.append(Token("STRING", q[i:j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if ch == "`":
            j = q.find("`", i + 1)
            if j < 0:
                raise FilterQueryError("unterminated back-quoted name", i)
            if j == i + 1:
                raise FilterQueryError("empty back-quoted name", i)
            out.append(Token("IDENT", q[i:j + 1], i, q[i + 1:j]))
            i = j + 1
            continue
        if ch.isdigit() or (ch in "-." and i + 1 < n and (q[i + 1].isdigit() or q[i + 1] == ".")):
            m = _NUMBER.match(q, i)
            if not m:
                raise FilterQueryError(f"malformed number starting with {ch!r}", i)
            text = m.group(0)
            if _IDENT.match(q, m.end()):
                raise FilterQueryError(f"malformed number {q[i:m.end() + 1]!r}", i)
            value: object = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                raise FilterQueryError(f"the number {_short(text)} is outside the 64-bit integer range", i)
            if isinstance(value, float) and not math.isfinite(value):
                raise FilterQueryError(f"the number {_short(text)} is too large for a double", i)
            out.append(Token("NUMBER", text, i, value))
            i = m.end()
            continue
        m = _IDENT.match(q, i)
        if m:
            text = m.group(0)
            up = text.upper()
            if up in KEYWORDS:
                out.append(Token("KEYWORD", up, i))
            else:
                out.append(Token("IDENT", text, i, text))
            i = m.end()
            continue
        raise FilterQueryError(f"unexpected character {ch!r}", i)
    out.append(Token("EOF", "", n))
    return out


# -- syntax tree --------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Literal:
    value: object  # int, float, str, bool
    pos: int


@dataclass(frozen=True)
class EnumName:
    """A bare identifier in value position, e.g. LIVE in `state = LIVE`."""

    name: str
    pos: int


Operand = Path | Literal | EnumName


@dataclass(frozen=True)
class Compare:
    op: str  # = != < <= > >=
    left: Operand
    right: Operand
    pos: int


@dataclass(frozen=True)
class Like:
    left: Operand
    pattern: Operand
    negated: bool
    pos: int


@dataclass(frozen=True)
class In:
    left: Operand
    items: tuple[Operand, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool
    pos: int


@dataclass(frozen=True)
class Not:
    expr: Expr
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Expr, ...]
    pos: int


Expr = Compare | Like | In | IsNull | Not | BoolOp


def _describe(t: Token) -> str:
    if t.kind == "EOF":
        return "the end of the query"
    if t.kind == "STRING":
        return f"string {t.text}"
    if t.kind == "KEYWORD":
        return f"keyword {t.text}"
    if t.kind == "IDENT":
        return f"name {t.text}"
    if t.kind == "NUMBER":
        return f"number {t.text}"
    return f"'{t.text}'"


class Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def enter(self, t: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterQueryError(f"nested more than {MAX_NESTING} deep (parentheses and NOTs); simplify the query", t.pos)

    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def at_keyword(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == "KEYWORD" and t.text in words

    def expect(self, kind: str, what: str) -> Token:
        t = self.peek()
        if t.kind != kind:
            raise FilterQueryError(f"expected {what}, found {_describe(t)}", t.pos)
        return self.next()

    def parse(self) -> Expr:
        if self.peek().kind == "EOF":
            raise FilterQueryError("the query is empty", 0)
        e = self.or_expr()
        t = self.peek()
        if t.kind != "EOF":
            hint = " (a ')' without its '('?)" if t.kind == ")" else " (missing AND or OR?)"
            raise FilterQueryError(f"expected the end of the query, found {_describe(t)}{hint}", t.pos)
        return e

    def or_expr(self) -> Expr:
        first = self.peek().pos
        items = [self.and_expr()]
        while self.at_keyword("OR"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items), first)

    def and_expr(self) -> Expr:
        first = self.peek().pos
        items = [self.not_expr()]
        while self.at_keyword("AND"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items), first)

    def not_expr(self) -> Expr:
        if self.at_keyword("NOT"):
            t = self.next()
            self.enter(t)
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner, t.pos)
        return self.predicate()

    def predicate(self) -> Expr:
        t = self.peek()
        if t.kind == "(":
            self.next()
            self.enter(t)
            e = self.or_expr()
            close = self.peek()
            if close.kind != ")":
                raise FilterQueryError(f"expected ')' to close the '(' at column {t.pos + 1}, found {_describe(close)}", close.pos)
            self.next()
            self.depth -= 1
            return e
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise FilterQueryError(f"more than {MAX_TERMS} comparisons in one query; split it or use IN (...)", t.pos)
        left = self.operand()
        t = self.peek()
        if t.kind == "OP":
            self.next()
            return Compare(t.text, left, self.operand(), t.pos)
        negated = False
        if self.at_keyword("NOT") and self.peek(1).kind == "KEYWORD" and self.peek(1).text in ("LIKE", "IN"):
            self.next()
            negated = True
            t = self.peek()
        if self.at_keyword("LIKE"):
            self.next()
            return Like(left, self.operand(), negated, t.pos)
        if self.at_keyword("IN"):
            self.next()
            self.expect("(", "'(' after IN")
            items = [self.operand()]
            while self.peek().kind == ",":
                self.next()
                items.append(self.operand())
                if len(items) > MAX_IN_ITEMS:
                    raise FilterQueryError(f"more than {MAX_IN_ITEMS} values in one IN list; split the query", t.pos)
            self.expect(")", "',' or ')' in the IN list")
            return In(left, tuple(items), negated, t.pos)
        if self.at_keyword("IS"):
            self.next()
            neg = False
            if self.at_keyword("NOT"):
                self.next()
                neg = True
            if not self.at_keyword("NULL"):
                raise FilterQueryError(f"expected NULL after IS{' NOT' if neg else ''}, found {_describe(self.peek())}", self.peek().pos)
            self.next()
            return IsNull(left, neg, t.pos)
        raise FilterQueryError(
            f"expected a comparison (=, !=, <, <=, >, >=, LIKE, IN, IS NULL) after the operand, found {_describe(t)}",
            t.pos,
        )

    def operand(self) -> Operand:
        t = self.peek()
        if t.kind == "NUMBER":
            self.next()
            return Literal(t.value, t.pos)
        if t.kind == "STRING":
            self.next()
            return Literal(t.value, t.pos)
        if t.kind == "KEYWORD" and t.text in ("TRUE", "FALSE"):
            self.next()
            return Literal(t.text == "TRUE", t.pos)
        if t.kind == "IDENT":
            self.next()
            parts = [t.value]
            while self.peek().kind == ".":
                self.next()
                p = self.peek()
                if p.kind == "IDENT":
                    parts.append(self.next().value)
                elif p.kind == "KEYWORD":  # a property may be called `in` or `name`; keywords are names after a dot
                    parts.append(self.next().text.lower())
                else:
                    raise FilterQueryError(f"expected a name after '.', found {_describe(p)}", p.pos)
            return Path(tuple(parts), t.pos)  # type: ignore[arg-type]
        raise FilterQueryError(f"expected a name or a value, found {_describe(t)}", t.pos)


def parse(text: str) -> Expr:
    return Parser(text).parse()


# -- names --------------------------------------------------------------------

INT, DOUBLE, STRING, BOOL, ENUM = "INT", "DOUBLE", "STRING", "BOOL", "ENUM"

_TYPE_NAME = "(SELECT name FROM type WHERE type.id = {a}.type_id)"

# attribute -> (SQL template over alias {a}, value type, enum)
AttrSpec = tuple[str, str, object]
_COMMON: dict[str, AttrSpec] = {
    "id": ("{a}.id", INT, None),
    "type_id": ("{a}.type_id", INT, None),
    "type": (_TYPE_NAME, STRING, None),
    "name": ("{a}.name", STRING, None),
    "external_id": ("{a}.external_id", STRING, None),
    "create_time_since_epoch": ("{a}.create_time_ms", INT, None),
    "last_update_time_since_epoch": ("{a}.update_time_ms", INT, None),
}
ATTRIBUTES: dict[str, dict[str, AttrSpec]] = {
    "artifact": {**_COMMON, "uri": ("{a}.uri", STRING, None), "state": ("{a}.state", ENUM, Artifact.State)},
    "execution": {**_COMMON, "last_known_state": ("{a}.last_known_state", ENUM, Execution.State)},
    "context": dict(_COMMON),
}
_CONTEXT_ATTRS = dict(_COMMON)
_EVENT_ATTRS: dict[str, AttrSpec] = {
    "type": ("{a}.type", ENUM, Event.Type),
    "artifact_id": ("{a}.artifact_id", INT, None),
    "execution_id": ("{a}.execution_id", INT, None),
    "milliseconds_since_epoch": ("{a}.milliseconds_since_epoch", INT, None),
}
_VALUE_COLUMNS = {"int_value": INT, "double_value": DOUBLE, "string_value": STRING, "bool_value": BOOL}

# alias prefix -> which node kinds may use it
_RELATIONS = {
    "contexts_": ("artifact", "execution"),
    "parent_contexts_": ("context",),
    "child_contexts_": ("context",),
    "events_": ("artifact", "execution"),
}


@dataclass
class _Typed:
    sql: str
    params: list
    type: str | None  # None for a NULL-free literal whose type follows the other side
    enum: object = None
    literal: bool = False
    pos: int = 0
    own: bool = False  # an attribute of the listed node itself (never a property or a related row)


class _Compiler:
    def __init__(self, kind: str, text: str):
        self.kind = kind
        self.text = text
        self.props: dict[tuple[int, str], str] = {}  # (is_custom, name) -> alias
        self.prop_params: list = []
        self.relations: dict[str, tuple[str, str]] = {}  # alias name -> (prefix, sql alias)
        self.n = 0

    # names -----------------------------------------------------------------

    def _attr(self, table: dict[str, AttrSpec], name: str, alias: str, pos: int, where: str):
        spec = table.get(name)
        if spec is None:
            known = ", ".join(sorted(table))
            raise FilterQueryError(f"{where} has no attribute {name!r} (known: {known})", pos)
        tmpl, typ, enum = spec
        return _Typed(tmpl.format(a=alias), [], typ, enum, pos=pos)

    def path(self, p: Path, other: object | None) -> _Typed:
        parts = p.parts
        head = parts[0]
        if len(parts) == 1:
            if head in ATTRIBUTES[self.kind]:
                t = self._attr(ATTRIBUTES[self.kind], head, "n", p.pos, _a(self.kind))
                t.own = True
                return t
            raise FilterQueryError(f"unknown name {head!r}: not an attribute of {_a(self.kind)} "
                                   f"({', '.join(sorted(ATTRIBUTES[self.kind]))})", p.pos)
        if head in ("properties", "custom_properties"):
            if len(parts) != 3:
                raise FilterQueryError(
                    f"{head} take the form {head}.<name>.<int_value|double_value|string_value|bool_value>", p.pos
                )
            _, pname, col = parts
            typ = _VALUE_COLUMNS.get(col)
            if typ is None:
                raise FilterQueryError(
                    f"unknown value field {col!r} of {head}.{pname} (use int_value, double_value, string_value or bool_value)",
                    p.pos,
                )
            key = (1 if head == "custom_properties" else 0, pname)
            alias = self.props.get(key)
            if alias is None:
                alias = self.props[key] = f"p{len(self.props)}"
                self.prop_params += [pname, key[0]]
            return _Typed(f"{alias}.{col}", [], typ, pos=p.pos)
        for prefix, kinds in _RELATIONS.items():
            if head.startswith(prefix) and len(head) > len(prefix):
                if self.kind not in kinds:
                    raise FilterQueryError(f"{head}: {prefix}<alias> cannot be used when listing {self.kind}s", p.pos)
                if len(parts) != 2:
                    raise FilterQueryError(f"{head} takes one attribute, as in {head}.name", p.pos)
                rel = self.relations.get(head)
                if rel is None:
                    self.n += 1
                    rel = self.relations[head] = (prefix, f"r{self.n}")
                table = _EVENT_ATTRS if prefix == "events_" else _CONTEXT_ATTRS
                what = "an event" if prefix == "events_" else "a context"
                return self._attr(table, parts[1], rel[1], p.pos, f"{head} ({what})")
        raise FilterQueryError(
            f"unknown name {'.'.join(parts)!r} (use properties.<p>.<x>_value, custom_properties.<p>.<x>_value, "
            f"contexts_<alias>.<attr>, events_<alias>.<attr>{', parent_contexts_<alias>.<attr>' if self.kind == 'context' else ''})",
            p.pos,
        )

    def operand(self, o: Operand, other: Operand | None = None, other_typed: _Typed | None = None) -> _Typed:
        if isinstance(o, Path):
            if len(o.parts) == 1 and o.parts[0] not in ATTRIBUTES[self.kind] and other_typed is not None and other_typed.type == ENUM:
                return self.enum_value(EnumName(o.parts[0], o.pos), other_typed)
            return self.path(o, other)
        if isinstance(o, Literal):
            v = o.value
            if isinstance(v, bool):
                return _Typed("?", [1 if v else 0], BOOL, literal=True, pos=o.pos)
            if isinstance(v, int):
                return _Typed("?", [v], INT, literal=True, pos=o.pos)
            if isinstance(v, float):
                return _Typed("?", [v], DOUBLE, literal=True, pos=o.pos)
            return _Typed("?", [v], STRING, literal=True, pos=o.pos)
        raise FilterQueryError("unexpected operand", getattr(o, "pos", 0))

    def enum_value(self, e: EnumName, target: _Typed) -> _Typed:
        enum = target.enum
        if e.name not in enum._by_name:
            raise FilterQueryError(
                f"{e.name} is not a value of {enum._full_name} (one of {', '.join(enum.keys())})", e.pos
            )
        return _Typed("?", [enum._by_name[e.name]], ENUM, enum, literal=True, pos=e.pos)

    def pair(self, left: Operand, right: Operand) -> tuple[_Typed, _Typed]:
        # resolve the side that is not a bare enum name first
        if isinstance(left, Path) and len(left.parts) == 1 and left.parts[0] not in ATTRIBUTES[self.kind] and isinstance(right, Path):
            r = self.operand(right)
            return self.operand(left, right, r), r
        lt = self.operand(left)
        rt = self.operand(right, left, lt)
        return lt, rt

    @staticmethod
    def compatible(a: _Typed, b: _Typed) -> bool:
        if a.type == b.type:
            return a.type != ENUM or a.enum is b.enum
        return {a.type, b.type} <= {INT, DOUBLE}

    def check(self, a: _Typed, b: _Typed, pos: int, what: str) -> None:
        if a.type == ENUM and b.literal and b.type != ENUM:
            raise FilterQueryError(
                f"compare {a.enum._full_name} with a value name such as {a.enum.keys()[1]}, not {_show(b)}", b.pos
            )
        if b.type == ENUM and a.literal and a.type != ENUM:
            raise FilterQueryError(
                f"compare {b.enum._full_name} with a value name such as {b.enum.keys()[1]}, not {_show(a)}", a.pos
            )
        if not self.compatible(a, b):
            raise FilterQueryError(f"{what}: cannot compare {_tname(a)} with {_tname(b)}", pos)

    # expressions -------------------------------------------------------------

    def expr(self, e: Expr) -> tuple[str, list]:
        if isinstance(e, BoolOp):
            parts, params = [], []
            for item in e.items:
                s, p = self.expr(item)
                parts.append(s)
                params += p
            return "(" + f" {e.op} ".join(parts) + ")", params
        if isinstance(e, Not):
            s, p = self.expr(e.expr)
            return f"(NOT {s})", p
        if isinstance(e, Compare):
            a, b = self.pair(e.left, e.right)
            self.check(a, b, e.pos, f"'{e.op}'")
            op = e.op
            if op in ("=", "!=") and (a.own or b.own):
                # a node's own unset attribute is a value like any other: `state != LIVE` includes unset states
                op = "IS" if op == "=" else "IS NOT"
            return f"({a.sql} {op} {b.sql})", a.params + b.params
        if isinstance(e, Like):
            a, b = self.pair(e.left, e.pattern)
            for t in (a, b):
                if t.type != STRING:
                    raise FilterQueryError(f"LIKE matches text, but {_show(t)} is {_tname(t)}", t.pos)
            # SQLite's LIKE: '%' and '_' wildcards, ASCII case-insensitive (as ML Metadata on SQLite)
            sql = f"({a.sql} {'NOT ' if e.negated else ''}LIKE {b.sql})"
            if e.negated and a.own:
                sql = f"({a.sql} IS NULL OR {sql})"
            return sql, a.params + b.params
        if isinstance(e, In):
            a = self.operand(e.left)
            items = []
            params = list(a.params)
            for it in e.items:
                t = self.operand(it, e.left, a)
                if not t.literal:
                    raise FilterQueryError("IN lists hold values, not names", t.pos)
                self.check(a, t, t.pos, "IN")
                items.append(t.sql)
                params += t.params
            sql = f"({a.sql} {'NOT ' if e.negated else ''}IN ({', '.join(items)}))"
            if e.negated and a.own:
                sql = f"({a.sql} IS NULL OR {sql})"
            return sql, params
        if isinstance(e, IsNull):
            a = self.operand(e.operand)
            if a.literal:
                raise FilterQueryError("IS NULL applies to a name, not a value", a.pos)
            return f"({a.sql} IS {'NOT ' if e.negated else ''}NULL)", a.params
        raise FilterQueryError("unsupported expression", 0)



def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "ae" else f"a {kind}"


def _show(t: _Typed) -> str:
    if t.literal:
        return repr(t.params[0])
    return "that name"


def _tname(t: _Typed) -> str:
    if t.type == ENUM:
        return f"enum {t.enum._full_name}"
    return {INT: "an integer", DOUBLE: "a number", STRING: "text", BOOL: "a bool"}.get(t.type or "", "a value")


# -- compiled queries -----------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """`SELECT ... FROM <table> n {joins} WHERE {where}` with `join_params + params`."""

    joins: str
    join_params: tuple
    where: str
    params: tuple

    @property
    def all_params(self) -> tuple:
        return self.join_params + self.params


_TABLE = {"artifact": "artifact", "execution": "execution", "context": "context"}


def _relation_sql(kind: str, prefix: str, r: str) -> str:
    if prefix == "events_":
        return f"LEFT JOIN event {r} ON {r}.{kind}_id = n.id"
    if prefix == "contexts_":
        link = "attribution" if kind == "artifact" else "association"
        return f"LEFT JOIN {link} {r}l ON {r}l.{kind}_id = n.id LEFT JOIN context {r} ON {r}.id = {r}l.context_id"
    if prefix == "parent_contexts_":
        return f"LEFT JOIN parent_context {r}l ON {r}l.context_id = n.id LEFT JOIN context {r} ON {r}.id = {r}l.parent_context_id"
    return f"LEFT JOIN parent_context {r}l ON {r}l.parent_context_id = n.id LEFT JOIN context {r} ON {r}.id = {r}l.context_id"


@functools.lru_cache(maxsize=512)
def compile_filter(text: str, kind: str) -> Compiled:
    """The SQL for `text` over node kind `kind` ('artifact', 'execution', 'context')."""
    try:
        tree = parse(text)
        c = _Compiler(kind, text)
        where, params = c.expr(tree)
    except FilterQueryError as e:
        raise invalid(text, e.message, e.pos) from None
    joins = []
    for alias in c.props.values():
        joins.append(
            f"LEFT JOIN {kind}_property {alias} ON {alias}.{kind}_id = n.id AND {alias}.name = ? AND {alias}.is_custom = ?"
        )
    if c.relations:
        rel = " ".join(_relation_sql(kind, prefix, r) for prefix, r in c.relations.values())
        where = f"EXISTS (SELECT 1 FROM (SELECT 1) {rel} WHERE {where})"
    return Compiled(" ".join(joins), tuple(c.prop_params), where, tuple(params))


def invalid(text: str, message: str, pos: int) -> errors.InvalidArgumentError:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    shown = text if len(text) <= 120 else text[:117] + "..."
    err = errors.InvalidArgumentError(f"Invalid filter_query at line {line}, column {col}: {message} (in {shown!r})")
    flat = text.replace("\n", " ")
    err.snippet = f"{flat}\n{' ' * pos}^"  # the query with a caret under the spot
    err.position = pos
    err.line = line
    err.column = col
    return err
