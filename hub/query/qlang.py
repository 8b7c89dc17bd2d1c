"""The NGSI-LD query language ``q`` (GS CIM 009 4.9): parser into a small immutable AST.

Compilation to SQL and evaluation in Python live in ``qlang_sql`` and ``qlang_eval``; both
take this AST, so the HTTP query path and (later) subscription matching agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub.errors import InvalidRequest

__all__ = ["And", "Comparison", "Exists", "Literal", "Or", "Path", "QExpr", "parse_q"]

META = frozenset({"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"})
_OPS = ("!~=", "~=", "==", "!=", ">=", "<=", ">", "<")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$")
_NAME = re.compile(r"^[^\s=!<>~;|()\[\]\".]+$")


@dataclass(frozen=True, slots=True)
class Path:
    """``attr.sub.meta[compound][path]``: attribute, sub-attribute chain, JSON path."""

    attr: str
    subs: tuple[str, ...] = ()
    compound: tuple[str, ...] = ()

    @property
    def meta(self) -> str | None:
        return self.subs[-1] if self.subs and self.subs[-1] in META else None

    @property
    def simple(self) -> bool:
        return not self.subs and not self.compound


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any  # str, int, float or bool
    kind: str  # "number", "string", "bool", "datetime", "uri"


@dataclass(frozen=True, slots=True)
class Comparison:
    path: Path
    op: str  # one of _OPS
    values: tuple[Literal, ...]  # one value; several for a list
    range: bool = False  # values == (low, high)


@dataclass(frozen=True, slots=True)
class Exists:
    path: Path
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[QExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[QExpr, ...]


QExpr = Comparison | Exists | And | Or


def _parse_path(text: str, where: int) -> Path:
    if not text:
        raise InvalidRequest(f"q: attribute name expected at position {where}")
    head, _, rest = text.partition("[")
    compound: list[str] = []
    if rest:
        brackets = "[" + rest
        for m in re.finditer(r"\[([^\[\]]*)\]", brackets):
            compound.extend(p for p in m.group(1).split("."))
        if re.sub(r"\[[^\[\]]*\]", "", brackets) or any(not c for c in compound):
            raise InvalidRequest(f"q: invalid compound attribute path {text!r}")
    parts = head.split(".")
    if any(not _NAME.match(p) for p in parts):
        raise InvalidRequest(f"q: invalid attribute path {text!r} at position {where}")
    return Path(parts[0], tuple(parts[1:]), tuple(compound))


def _parse_literal(text: str) -> Literal:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        body = text[1:-1]
        if re.search(r'(?<!\\)"', body):
            raise InvalidRequest(f"q: unbalanced quotes in {text!r}")
        return Literal(re.sub(r'\\(.)', r"\1", body), "string")
    if text in ("true", "false"):
        return Literal(text == "true", "bool")
    if _NUMBER.match(text):
        number = float(text)
        return Literal(int(text) if re.match(r"^-?\d+$", text) else number, "number")
    if _DATETIME.match(text) or _TIME.match(text):
        return Literal(text, "datetime")
    if '"' in text or not text or any(c in text for c in "()|;<>=!~"):
        raise InvalidRequest(f"q: invalid value {text!r}")
    return Literal(text, "uri")


def _split_values(text: str) -> list[str]:
    out, buf, quoted = [], "", False
    for ch in text:
        if ch == '"' and not buf.endswith("\\"):
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    out.append(buf)
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, msg: str) -> InvalidRequest:
        return InvalidRequest(f"q: {msg} at position {self.pos} in {self.text!r}")

    def parse(self) -> QExpr:
        if not self.text.strip():
            raise InvalidRequest("q must not be empty")
        expr = self.expr()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return expr

    def expr(self) -> QExpr:
        items = [self.conj()]
        while self.peek() == "|":
            self.pos += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> QExpr:
        items = [self.term()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else And(tuple(items))

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def term(self) -> QExpr:
        if self.peek() == "(":
            self.pos += 1
            inner = self.expr()
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.pos += 1
            return inner
        negated = False
        if self.peek() == "!" and not self.text.startswith("!=", self.pos):
            negated = True
            self.pos += 1
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif depth == 0 and (ch in ";|)(" or ch in "=!<>~"):
                break
            self.pos += 1
        path = _parse_path(self.text[start:self.pos], start)
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            if self.peek() not in ("", ";", "|", ")"):
                raise self.error(f"unknown operator {self.peek()!r}")
            return Exists(path, negated)
        if negated:
            raise self.error("'!' negates existence only")
        self.pos += len(op)
        return self.comparison(path, op)

    def comparison(self, path: Path, op: str) -> Comparison:
        start = self.pos
        quoted = False
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"' and self.text[self.pos - 1] != "\\":
                quoted = not quoted
            elif not quoted and ch in ";|)":
                break
            elif not quoted and ch in "=<>~(" :
                raise self.error(f"unexpected {ch!r} in value")
            self.pos += 1
        raw = self.text[start:self.pos]
        if quoted:
            raise self.error("unterminated string")
        if not raw:
            raise self.error("value expected")
        if op in ("~=", "!~="):
            lit = _parse_literal(raw)
            if lit.kind != "string":
                raise self.error("a pattern must be a quoted string")
            return Comparison(path, op, (lit,))
        if ".." in raw and not raw.startswith('"'):
            low, _, high = raw.partition("..")
            if op not in ("==", "!="):
                raise self.error("ranges need == or !=")
            return Comparison(path, op, (_parse_literal(low), _parse_literal(high)), range=True)
        parts = _split_values(raw)
        if len(parts) > 1 and op not in ("==", "!="):
            raise self.error("value lists need == or !=")
        return Comparison(path, op, tuple(_parse_literal(p) for p in parts))


def parse_q(text: str) -> QExpr:
    """Parse a URL-decoded ``q`` string; InvalidRequest names the position of an error."""
    return _Parser(text).parse()

