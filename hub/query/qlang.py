"""The NGSI-LD Query Language ``q`` (GS CIM 009 4.9): parser into a small immutable AST.

The grammar is the ABNF of 4.9, read leniently where the clause's own examples go beyond
it: parentheses nest (example 6), bare terms are accepted as values (example 12,
``gender==Male``) and lists may hold URIs. ``!attr`` (non-existence) is accepted as well;
4.9 of V1.9.1 has no such production, later versions do.

Every syntax error is an ``InvalidRequest`` naming the position; a well-formed term whose
content is wrong (``month 13``, ``createdAt>5``) is a ``BadRequestData``. Everything that
can be checked is checked here, so ``qlang_sql.compile_q`` and ``qlang_eval.evaluate_q``
never fail on a parsed expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Literal as TypingLiteral

from hub.errors import BadRequestData, InvalidRequest
from hub.query.qregex import Regex, parse_regex

__all__ = [
    "META",
    "SYSTEM",
    "And",
    "Comparison",
    "Exists",
    "Literal",
    "LiteralKind",
    "Match",
    "Or",
    "Path",
    "QExpr",
    "parse_q",
]

# Members of an attribute instance a path may end with (4.5.2, 4.8); never expanded.
META = frozenset({"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"})
# Entity-level system attributes a top-level path may name (4.8); compared as instants.
SYSTEM = frozenset({"createdAt", "modifiedAt"})

LiteralKind = TypingLiteral["number", "string", "bool", "datetime", "date", "time", "uri"]

_OPS = ("!~=", "~=", "==", "!=", ">=", "<=", ">", "<")  # longest first
#: deepest nesting of parentheses in ``q`` (and scopeQ, type expressions: boolexpr.py)
MAX_NESTING = 32
#: longest ``q`` accepted (a GET's query string is bounded by the HTTP line limit anyway;
#: a POST Query body is not)
MAX_Q_LENGTH = 16_384
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{}|]+")
_TERM = re.compile(r"[^\W\d]\w*")
# Characters that end a name: the language's own punctuation (4.9 AttrName is narrower:
# a letter then letters, digits and "_"; compact IRIs ``ex:temp`` are accepted too).
_STOP = set(".[]{}();|,=!<>~\"'\\") | {" ", "\t", "\n", "\r"}
_VALUE_STOP = set(";|),") | {" ", "\t", "\n", "\r"}


@dataclass(frozen=True, slots=True)
class Path:
    """``attr.sub.sub2.meta[compound.path]`` (4.9 Attribute).

    ``attr`` and ``subs`` are names as written (expanded by the compiler); ``meta`` is a
    trailing instance member (``observedAt`` …, never expanded); ``compound`` is the
    trailing JSON member path inside the value, ``"*"`` standing for any member.
    """

    attr: str
    subs: tuple[str, ...] = ()
    meta: str | None = None
    compound: tuple[str, ...] = ()

    @property
    def simple(self) -> bool:
        """A top-level attribute alone: the value index covers exactly these."""
        return not self.subs and self.meta is None and not self.compound

    @property
    def system(self) -> bool:
        """The entity's own ``createdAt`` / ``modifiedAt`` (4.8), not an attribute."""
        return self.simple and self.attr in SYSTEM


@dataclass(frozen=True, slots=True)
class Literal:
    """A query value: ``number`` values are exact ``Decimal``s, ``bool`` values are bools,
    every other kind is a string (``uri`` covers unquoted URIs and bare terms)."""

    kind: LiteralKind
    value: Decimal | bool | str
    text: str = ""  # the source token of a number, emitted verbatim into jsonpath

    @property
    def is_string(self) -> bool:
        return self.kind not in ("number", "bool")


@dataclass(frozen=True, slots=True)
class Comparison:
    """``path op values``: one value, a list (``==``/``!=`` only) or a range ``low..high``."""

    path: Path
    op: str  # "==", "!=", ">", ">=", "<", "<="
    values: tuple[Literal, ...]
    range: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """``path~=regex`` / ``path!~=regex`` (4.9 patternOp, notPatternOp)."""

    path: Path
    regex: Regex
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Exists:
    """``path`` alone (4.9 example 0), or ``!path`` for non-existence."""

    path: Path
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[QExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[QExpr, ...]


QExpr = Comparison | Match | Exists | And | Or


def _check_text(value: str, where: str) -> None:
    """Strings travel to PostgreSQL: no NUL (jsonb cannot hold it), no lone surrogates."""
    if "\x00" in value:
        raise BadRequestData(f"q: {where} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestData(f"q: {where} is not valid Unicode") from None


def _temporal(kind: str, token: str) -> None:
    """4.6.3 DateTime / Date / Time: the shape matched, now check the field ranges."""
    text = token.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Python reads at most microseconds
    try:
        if kind == "datetime":
            datetime.fromisoformat(text)
        elif kind == "date":
            date.fromisoformat(text)
        else:
            time.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"q: {token!r} is not a valid {kind}") from None


class _Parser:
    """Recursive descent over the text; ``pos`` always points at the next character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # open parentheses: bounded, so no input reaches the recursion limit

    # -- helpers -------------------------------------------------------------------------

    def error(self, message: str, pos: int | None = None) -> InvalidRequest:
        at = self.pos if pos is None else pos
        return InvalidRequest(f"q: {message} at position {at} in {self.text!r}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def describe(self) -> str:
        ch = self.peek()
        return repr(ch) if ch else "end of input"

    # -- expressions ---------------------------------------------------------------------

    def parse(self) -> QExpr:
        if not self.text.strip():
            raise InvalidRequest("q: the query is empty")
        expr = self.disjunction()
        if self.peek():
            raise self.error(f"unexpected {self.describe()}")
        return expr

    def disjunction(self) -> QExpr:
        items = [self.conjunction()]
        while self.peek() == "|":
            self.pos += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> QExpr:
        items = [self.term()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else And(tuple(items))

    def term(self) -> QExpr:
        ch = self.peek()
        if ch == "(":
            opened = self.pos
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"parentheses nest deeper than {MAX_NESTING} levels")
            self.pos += 1
            inner = self.disjunction()
            if self.peek() != ")":
                raise self.error(f"')' expected for '(' at {opened}, found {self.describe()}")
            self.pos += 1
            self.depth -= 1
            return inner
        if ch == "!":
            self.pos += 1
            return Exists(self.path(), negated=True)
        path = self.path()
        op_at = self.pos
        op = self.operator()
        if op is None:
            return Exists(path)
        if path.system and op in ("~=", "!~="):
            raise BadRequestData(f"q: {path.attr} cannot be matched against a pattern")
        if op in ("~=", "!~="):
            return Match(path, self.pattern(), negated=op == "!~=")
        comparison = self.comparison(path, op, op_at)
        if path.system:
            for lit in comparison.values:
                _system_literal(path.attr, lit)
        return comparison

    def operator(self) -> str | None:
        ch = self.peek()
        if ch in ("", ";", "|", ")"):
            return None
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.error(f"operator expected, found {self.describe()}")
        self.pos += len(op)
        return op

    # -- paths ---------------------------------------------------------------------------

    def name(self, what: str) -> str:
        self.skip_ws()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _STOP:
            if ord(self.text[self.pos]) < 0x20:
                raise self.error("control character in a name")
            self.pos += 1
        if self.pos == start:
            raise self.error(f"{what} expected, found {self.describe()}")
        return self.text[start : self.pos]

    def path(self) -> Path:
        start = self.pos
        names = [self.name("attribute name")]
        while self.pos < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            names.append(self.name("attribute name after '.'"))
        compound: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] == "[":
            self.pos += 1
            compound.append(self.member())
            while self.pos < len(self.text) and self.text[self.pos] == ".":
                self.pos += 1
                compound.append(self.member())
            if self.pos >= len(self.text) or self.text[self.pos] != "]":
                raise self.error("']' expected")
            self.pos += 1
        if self.pos < len(self.text) and self.text[self.pos] == "{":
            raise self.error("linked-entity paths (attr{...}) are not supported")
        return _make_path(names, tuple(compound), start)

    def member(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] == "*":
            self.pos += 1
            return "*"
        return self.name("member name")

    # -- values --------------------------------------------------------------------------

    def comparison(self, path: Path, op: str, op_at: int) -> Comparison:
        first = self.value()
        if self.text.startswith("..", self.pos):
            self.pos += 2
            second = self.value()
            if op not in ("==", "!="):
                raise self.error(f"a range needs == or !=, not {op}", op_at)
            for lit in (first, second):
                if lit.kind in ("bool", "uri"):
                    raise self.error(f"a range bound must be a number, string or date, "
                                     f"not {lit.kind}", op_at)
            if (first.kind == "number") != (second.kind == "number"):
                raise BadRequestData("q: the bounds of a range must have the same type")
            return Comparison(path, op, (first, second), range=True)
        values = [first]
        while self.peek() == ",":
            self.pos += 1
            values.append(self.value())
        if len(values) > 1 and op not in ("==", "!="):
            raise self.error(f"a value list needs == or !=, not {op}", op_at)
        if op not in ("==", "!=") and first.kind in ("bool", "uri"):
            raise self.error(f"{op} compares numbers, strings and dates only", op_at)
        return Comparison(path, op, tuple(values))

    def quoted(self) -> tuple[str, int]:
        """A JSON string (RFC 8259 section 7) starting at ``pos``; returns (value, start)."""
        start = self.pos
        i = start + 1
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                try:
                    value = json.loads(self.text[start : i + 1])
                except ValueError:
                    raise self.error("invalid string literal", start) from None
                self.pos = i + 1
                _check_text(value, f"the string at position {start}")
                return value, start
            i += 1
        raise self.error("unterminated string", start)

    def value(self) -> Literal:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            value, _ = self.quoted()
            return Literal("string", value)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_STOP:
            if self.text.startswith("..", self.pos):
                break
            self.pos += 1
        token = self.text[start : self.pos]
        if not token:
            raise self.error(f"value expected, found {self.describe()}")
        return _unquoted(token, lambda msg: self.error(msg, start))

    def pattern(self) -> Regex:
        """A regular expression: a JSON string, or raw text up to ``;``, ``|`` or a ``)``
        that closes a parenthesis opened before it (4.9 RegExp is unquoted IEEE 1003.2)."""
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            value, start = self.quoted()
            return parse_regex(value, start)
        start = self.pos
        depth, in_class = 0, False
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch in ";|" and depth == 0:
                break
            self.pos += 1
        raw = self.text[start : self.pos]
        if not raw:
            raise self.error(f"pattern expected, found {self.describe()}")
        _check_text(raw, f"the pattern at position {start}")
        return parse_regex(raw, start)


def _make_path(names: list[str], compound: tuple[str, ...], start: int) -> Path:
    attr, rest = names[0], names[1:]
    for i, name in enumerate(rest):
        if name in META and i != len(rest) - 1:
            raise InvalidRequest(f"q: {name} must end the path at position {start}")
    meta = rest[-1] if rest and rest[-1] in META else None
    subs = tuple(rest[:-1] if meta else rest)
    if meta and compound:
        raise InvalidRequest(f"q: {meta} has no members to address at position {start}")
    if attr in SYSTEM and (rest or compound):
        raise InvalidRequest(f"q: {attr} has no sub-attributes at position {start}")
    return Path(attr, subs, meta, compound)


def _unquoted(token: str, fail: Callable[[str], InvalidRequest]) -> Literal:
    """Classify an unquoted value: boolean, number, date/time, URI or bare term."""
    if token in ("true", "false"):
        return Literal("bool", token == "true")
    if token == "null":
        raise fail("null is not a q value (4.9)")
    if _NUMBER.fullmatch(token):
        return Literal("number", Decimal(token), token)
    for kind, rx in (("datetime", _DATETIME), ("date", _DATE), ("time", _TIME)):
        if rx.fullmatch(token):
            _temporal(kind, token)
            return Literal(kind, token)  # type: ignore[arg-type]
    if _URI.fullmatch(token) or _TERM.fullmatch(token):
        _check_text(token, f"the value {token!r}")
        return Literal("uri", token)
    raise fail(f"invalid value {token!r}")


def _system_literal(name: str, lit: Literal) -> None:
    """createdAt / modifiedAt compare with instants: a DateTime, a Date or such a string."""
    if lit.kind in ("datetime", "date"):
        return
    if lit.kind == "string" and isinstance(lit.value, str):
        if _DATETIME.fullmatch(lit.value):
            _temporal("datetime", lit.value)
            return
        if _DATE.fullmatch(lit.value):
            _temporal("date", lit.value)
            return
    raise BadRequestData(f"q: {name} compares with a DateTime, not {lit.kind} {lit.value!r}")


def parse_q(text: str) -> QExpr:
    """Parse a URL-decoded ``q`` string (4.9); errors name the position of the problem.

    Bounded (issue #12): at most ``MAX_Q_LENGTH`` characters and ``MAX_NESTING`` levels of
    parentheses; deeper nesting used to end in a RecursionError (500)."""
    if len(text) > MAX_Q_LENGTH:
        raise InvalidRequest(f"q is longer than {MAX_Q_LENGTH} characters")
    if len(text) <= CACHED_Q_LENGTH:
        return _parse_cached(text)
    return _Parser(text).parse()


#: ``q`` texts up to this length keep their parse (the AST is immutable, the parse pure):
#: a dashboard or an adapter sends the same query again and again. Bounded: 1,024 texts
#: of at most 512 characters; an error is raised each time, never cached.
CACHED_Q_LENGTH = 512


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> QExpr:
    return _Parser(text).parse()
