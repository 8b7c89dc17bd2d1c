"""One parser for the small and/or languages NGSI-LD uses (type expressions, scopeQ).

Both are atoms joined by an *and* operator and *or* operators, with parentheses; *and* binds
tighter (GS CIM 009 4.17, 4.19, which borrow the logical operators of 4.9). Each language
supplies its operators, how to build its nodes, and its error class. Error messages name the
offending token and its position in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from hub.errors import NgsiLdError

__all__ = ["MAX_EXPR_LENGTH", "MAX_NESTING", "parse_boolean"]

T = TypeVar("T")

#: deepest nesting of parentheses; longest expression (issue #12: deeper nesting used to
#: end in a RecursionError, a 500)
MAX_NESTING = 32
MAX_EXPR_LENGTH = 16_384


def parse_boolean(
    text: str,
    *,
    name: str,
    and_op: str,
    or_ops: Sequence[str],
    atom: Callable[[str], T],
    make_and: Callable[[tuple[T, ...]], T],
    make_or: Callable[[tuple[T, ...]], T],
    error: type[NgsiLdError],
) -> T:
    """Parse ``text``; ``atom`` gets each maximal run of other non-space characters."""
    ops = "".join(re.escape(o) for o in (and_op, *or_ops))
    tokens: list[tuple[str, int]] = [
        (m.group(0), m.start()) for m in re.finditer(rf"[(){ops}]|[^(){ops}\s]+", text)
    ]
    if not tokens:
        raise error(f"{name} must not be empty")
    if len(text) > MAX_EXPR_LENGTH:
        raise error(f"{name} is longer than {MAX_EXPR_LENGTH} characters")
    pos = 0
    depth = 0  # open parentheses: bounded, so no input reaches the recursion limit

    def fail(message: str, at: int) -> NgsiLdError:
        return error(f"{name}: {message} at position {at} in {text!r}")

    def parse_or() -> T:
        nonlocal pos
        items = [parse_and()]
        while pos < len(tokens) and tokens[pos][0] in or_ops:
            pos += 1
            items.append(parse_and())
        return items[0] if len(items) == 1 else make_or(tuple(items))

    def parse_and() -> T:
        nonlocal pos
        items = [parse_atom()]
        while pos < len(tokens) and tokens[pos][0] == and_op:
            pos += 1
            items.append(parse_atom())
        return items[0] if len(items) == 1 else make_and(tuple(items))

    def parse_atom() -> T:
        nonlocal pos, depth
        if pos >= len(tokens):
            raise fail("operand expected", len(text))
        tok, at = tokens[pos]
        pos += 1
        if tok == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise fail(f"parentheses nest deeper than {MAX_NESTING} levels", at)
            inner = parse_or()
            if pos >= len(tokens) or tokens[pos][0] != ")":
                found = repr(tokens[pos][0]) if pos < len(tokens) else "end of input"
                where = tokens[pos][1] if pos < len(tokens) else len(text)
                raise fail(f"')' expected for '(' at {at}, found {found}", where)
            pos += 1
            depth -= 1
            return inner
        if tok == ")" or tok == and_op or tok in or_ops:
            raise fail(f"unexpected {tok!r}", at)
        return atom(tok)

    expr = parse_or()
    if pos != len(tokens):
        tok, at = tokens[pos]
        raise fail(f"unexpected {tok!r}", at)
    return expr
