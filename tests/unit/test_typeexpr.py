from __future__ import annotations

import pytest

from hub.errors import BadRequestData
from hub.query.typeexpr import (
    TypeAnd,
    TypeName,
    TypeOr,
    compile_types,
    evaluate_types,
    parse_types_expr,
)


def expand(t: str) -> str:
    return "https://ex.org/" + t


def test_comma_and_pipe_are_or() -> None:
    assert parse_types_expr("A,B") == TypeOr((TypeName("A"), TypeName("B")))
    assert parse_types_expr("A|B") == TypeOr((TypeName("A"), TypeName("B")))


def test_and_binds_tighter_than_or() -> None:
    assert parse_types_expr("A;B|C") == TypeOr((TypeAnd((TypeName("A"), TypeName("B"))),
                                                TypeName("C")))
    assert parse_types_expr("(A|B);C") == TypeAnd((TypeOr((TypeName("A"), TypeName("B"))),
                                                   TypeName("C")))


@pytest.mark.parametrize("bad", ["", "A,", "(A", "A)", ";A", "A||B", "()"])
def test_invalid_expressions(bad: str) -> None:
    with pytest.raises(BadRequestData):
        parse_types_expr(bad)


def test_compile_uses_array_operators() -> None:
    sql, params = compile_types(parse_types_expr("A,B"), expand, 3)
    assert sql == "e.types && $3::text[]"
    assert params == [["https://ex.org/A", "https://ex.org/B"]]
    sql, params = compile_types(parse_types_expr("A;B"), expand, 1)
    assert sql == "e.types @> $1::text[]"


@pytest.mark.parametrize(
    ("expr", "types", "expected"),
    [("A", ["A"], True), ("A;B", ["A"], False), ("A;B", ["B", "A"], True),
     ("(A|B);C", ["B", "C"], True), ("(A|B);C", ["C"], False)],
)
def test_evaluate(expr: str, types: list[str], expected: bool) -> None:
    assert evaluate_types(parse_types_expr(expr), [expand(t) for t in types], expand) is expected
