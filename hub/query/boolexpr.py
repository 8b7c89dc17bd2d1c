"""One parser for the small and/or languages NGSI-LD uses (type expressions, scopeQ).

Both are atoms joined by an *and* operator and *or* operators, with parentheses; *and* binds
tighter. Each language supplies its operators, how to build its nodes, and its error class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from hub.errors import NgsiLdError

__all__ = ["parse_boolean"]

T = TypeVar("T")


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
    ops = "".join(re.escape(o) for o in (and_op, *or_ops))
    tokens = [m.group(1) for m in re.finditer(rf"\s*([(){ops}]|[^(){ops}\s]+)", text)]
    if not tokens or "".join(tokens) != re.sub(r"\s+", "", text):
        raise error(f"invalid {name} {text!r}")
    pos = 0

    def parse_or() -> T:
        nonlocal pos
        items = [parse_and()]
        while pos < len(tokens) and tokens[pos] in or_ops:
            pos += 1
            items.append(parse_and())
        return items[0] if len(items) == 1 else make_or(tuple(items))

    def parse_and() -> T:
        nonlocal pos
        items = [parse_atom()]
        while pos < len(tokens) and tokens[pos] == and_op:
            pos += 1
            items.append(parse_atom())
        return items[0] if len(items) == 1 else make_and(tuple(items))

    def parse_atom() -> T:
        nonlocal pos
        if pos >= len(tokens):
            raise error(f"{name} {text!r} ends early")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            inner = parse_or()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise error(f"unbalanced parentheses in {name} {text!r}")
            pos += 1
            return inner
        if tok == ")" or tok == and_op or tok in or_ops:
            raise error(f"unexpected {tok!r} in {name} {text!r}")
        return atom(tok)

    expr = parse_or()
    if pos != len(tokens):
        raise error(f"unexpected {tokens[pos]!r} in {name} {text!r}")
    return expr
