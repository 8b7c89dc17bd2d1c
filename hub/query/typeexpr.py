"""Entity type selection (GS CIM 009 4.17): ``A,B`` and ``A|B`` mean or, ``A;B`` means and.

Compiles to GIN-indexable array operators on ``e.types`` (``&&`` for or, ``@>`` for and).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from hub.errors import BadRequestData, InvalidRequest
from hub.query.boolexpr import parse_boolean

__all__ = ["TypeAnd", "TypeExpr", "TypeName", "TypeOr", "compile_types", "evaluate_types",
           "parse_types_expr"]



@dataclass(frozen=True, slots=True)
class TypeName:
    name: str


@dataclass(frozen=True, slots=True)
class TypeOr:
    items: tuple[TypeExpr, ...]


@dataclass(frozen=True, slots=True)
class TypeAnd:
    items: tuple[TypeExpr, ...]


TypeExpr = TypeName | TypeOr | TypeAnd


def parse_types_expr(text: str) -> TypeExpr:
    """The expression's immutable AST. A client asks for the same few types over and over,
    so short texts are parsed once (``_parse_cached``; errors are raised, not cached)."""
    if len(text) <= CACHED_TEXT:
        return _parse_cached(text)
    return _parse(text)


#: longest text whose parse is kept, and how many are kept: bounded in memory
CACHED_TEXT = 256


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> TypeExpr:
    return _parse(text)


def _parse(text: str) -> TypeExpr:
    def atom(name: str) -> TypeExpr:
        return TypeName(name)

    def make_and(items: tuple[TypeExpr, ...]) -> TypeExpr:
        return TypeAnd(items)

    def make_or(items: tuple[TypeExpr, ...]) -> TypeExpr:
        return TypeOr(items)

    return parse_boolean(
        text, name="type expression", and_op=";", or_ops=(",", "|"), atom=atom,
        make_and=make_and, make_or=make_or, error=BadRequestData,
    )


def compile_types(
    expr: TypeExpr, expand: Callable[[str], str], first_param: int
) -> tuple[str, list[object]]:
    """SQL over ``e.types`` and its parameters, numbered from ``first_param``."""
    params: list[object] = []

    def leaves(items: tuple[TypeExpr, ...]) -> list[str] | None:
        if all(isinstance(i, TypeName) for i in items):
            return [expand(i.name) for i in items]  # type: ignore[union-attr]
        return None

    def walk(e: TypeExpr) -> str:
        if isinstance(e, TypeName):
            params.append([expand(e.name)])
            return f"e.types && ${first_param + len(params) - 1}::text[]"
        names = leaves(e.items)
        op = "&&" if isinstance(e, TypeOr) else "@>"
        if names is not None:
            params.append(names)
            return f"e.types {op} ${first_param + len(params) - 1}::text[]"
        joiner = " OR " if isinstance(e, TypeOr) else " AND "
        return "(" + joiner.join(walk(i) for i in e.items) + ")"

    return walk(expr), params


def evaluate_types(expr: TypeExpr, types: list[str], expand: Callable[[str], str]) -> bool:
    if isinstance(expr, TypeName):
        return expand(expr.name) in types
    if isinstance(expr, TypeOr):
        return any(evaluate_types(i, types, expand) for i in expr.items)
    return all(evaluate_types(i, types, expand) for i in expr.items)


def check_not_empty(text: str | None) -> None:
    if text is not None and not text.strip():
        raise InvalidRequest("empty type parameter")
