"""Scopes and the scope query language (GS CIM 009 4.18, 4.19).

A scope is a path such as ``/Nagano/Rain``; ``/Nagano/#`` selects it and every descendant,
``+`` stands for one level, ``/#`` for every scoped entity. ``;`` is and, ``,`` is or.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub.errors import BadRequestData, InvalidRequest
from hub.query.boolexpr import parse_boolean
from hub.query.qlang_sql import SqlFragment

__all__ = ["ScopeAnd", "ScopeOr", "ScopePattern", "compile_scope_q", "evaluate_scope_q",
           "parse_scope_q", "validate_scope"]

_SEGMENT = re.compile(r"^[^/#+;,()\s]+$")


@dataclass(frozen=True, slots=True)
class ScopePattern:
    text: str

    @property
    def exact(self) -> bool:
        return "#" not in self.text and "+" not in self.text

    def regex(self) -> str:
        if self.text == "/#":
            return "^/.*$"
        parts = self.text.strip("/").split("/")
        out = ""
        for part in parts:
            if part == "#":
                return "^" + out + "(/.*)?$"
            out += "/[^/]+" if part == "+" else "/" + re.escape(part)
        return "^" + out + "$"


@dataclass(frozen=True, slots=True)
class ScopeAnd:
    items: tuple[ScopeExpr, ...]


@dataclass(frozen=True, slots=True)
class ScopeOr:
    items: tuple[ScopeExpr, ...]


ScopeExpr = ScopePattern | ScopeAnd | ScopeOr


def validate_scope(scope: str) -> None:
    """A stored scope: absolute path of non-empty segments without wildcards."""
    if not scope.startswith("/") or scope == "/" or scope.endswith("/"):
        raise BadRequestData(f"invalid scope {scope!r}")
    if not all(_SEGMENT.match(s) for s in scope[1:].split("/")):
        raise BadRequestData(f"invalid scope {scope!r}")


def _validate_pattern(text: str) -> ScopePattern:
    if text == "/#":
        return ScopePattern(text)
    if not text.startswith("/") or text.endswith("/"):
        raise InvalidRequest(f"invalid scope pattern {text!r}")
    parts = text[1:].split("/")
    for i, part in enumerate(parts):
        if part == "#" and i == len(parts) - 1:
            continue
        if part == "+" or _SEGMENT.match(part):
            continue
        raise InvalidRequest(f"invalid scope pattern {text!r}")
    return ScopePattern(text)


def parse_scope_q(text: str) -> ScopeExpr:
    def make_and(items: tuple[ScopeExpr, ...]) -> ScopeExpr:
        return ScopeAnd(items)

    def make_or(items: tuple[ScopeExpr, ...]) -> ScopeExpr:
        return ScopeOr(items)

    def atom(text: str) -> ScopeExpr:
        return _validate_pattern(text)

    return parse_boolean(
        text, name="scopeQ", and_op=";", or_ops=(",",), atom=atom,
        make_and=make_and, make_or=make_or, error=InvalidRequest,
    )


def compile_scope_q(expr: ScopeExpr, alias: str = "e", first_param: int = 1) -> SqlFragment:
    params: list[Any] = []

    def walk(e: ScopeExpr) -> str:
        if isinstance(e, ScopePattern):
            if e.exact:
                params.append([e.text])
                return f"{alias}.scopes @> ${first_param + len(params) - 1}::text[]"
            params.append(e.regex())
            return (f"EXISTS (SELECT 1 FROM unnest({alias}.scopes) AS s"
                    f" WHERE s ~ ${first_param + len(params) - 1})")
        joiner = " AND " if isinstance(e, ScopeAnd) else " OR "
        return "(" + joiner.join(walk(i) for i in e.items) + ")"

    return SqlFragment(walk(expr), params)


def evaluate_scope_q(expr: ScopeExpr, scopes: list[str] | None) -> bool:
    if isinstance(expr, ScopePattern):
        rx = re.compile(expr.regex())
        return any(rx.match(s) for s in scopes or [])
    if isinstance(expr, ScopeAnd):
        return all(evaluate_scope_q(i, scopes) for i in expr.items)
    return any(evaluate_scope_q(i, scopes) for i in expr.items)
