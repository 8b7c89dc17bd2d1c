"""Evaluate a ``q`` AST over one stored entity in Python (GS CIM 009 4.9).

Subscriptions (5.8, 5.11) test a changed entity against their ``q`` without a database
round trip. The rules are exactly those ``qlang_sql`` gives PostgreSQL: both walk the plans
of ``qlang_plan``, and an integration test checks the two agree on generated entities.

An attribute matches when any of its instances matches (4.9: "the target value shall be
any Value of such instances"). ``!=`` holds for an instance whose target exists and whose
compared values contain none equal to the query value (4.9 "Unequal": values of another
type count as unequal); ``!~=`` for an instance with at least one string value and none
matching (4.9 "Do not match pattern": non-strings do not match either way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.query.qlang import And, Comparison, Exists, Match, Or, Path, QExpr
from hub.query.qlang_plan import (
    Member,
    compare,
    flatten2,
    literal_forms,
    members,
    select,
    targets,
)

__all__ = ["evaluate_q", "instant"]

_INSTANT = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def instant(text: str) -> datetime:
    """A DateTime or Date literal (4.6.3) as an aware instant; no offset means UTC.

    Fractions beyond microseconds are cut, as PostgreSQL's timestamptz keeps microseconds.
    """
    m = _INSTANT.fullmatch(text)
    if m is None:
        raise ValueError(f"not a DateTime: {text!r}")
    day, clock, seconds, fraction, offset = m.groups()
    value = f"{day}T{clock or '00:00'}:{seconds or '00'}"
    if fraction:
        value += "." + fraction[:6].ljust(6, "0")
    if offset and offset != "Z":
        value += offset if ":" in offset else offset[:3] + ":" + offset[3:]
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _values(target: Any, member: Member) -> list[Any]:
    return flatten2(select(target, member.steps))


def _has_target(target: Any, path: Path, mems: tuple[Member, ...]) -> bool:
    """Whether the compared element exists on one target (4.9: undefined = nonexistent)."""
    if path.meta is None and not path.compound:
        return True
    return any(select(target, m.steps) for m in mems)


def _equal_any(target: Any, e: Comparison, mems: tuple[Member, ...],
               expand: Callable[[str], str]) -> bool:
    for m in mems:
        values = _values(target, m)
        if not values:
            continue
        if e.range:
            low, high = (literal_forms(v, m, expand) for v in e.values)
            if any(compare(x, ">=", e.values[0], low) and compare(x, "<=", e.values[1], high)
                   for x in values):
                return True
            continue
        op = "==" if e.op == "!=" else e.op
        for lit in e.values:
            form = literal_forms(lit, m, expand)
            if any(compare(x, op, lit, form) for x in values):
                return True
    return False


def _comparison(e: Comparison, attrs: Mapping[str, Any], expand: Callable[[str], str]) -> bool:
    mems = members(e.path, e.op)
    for target in targets(attrs, expand(e.path.attr), map(expand, e.path.subs)):
        if e.op == "!=":
            if _has_target(target, e.path, mems) and not _equal_any(target, e, mems, expand):
                return True
        elif _equal_any(target, e, mems, expand):
            return True
    return False


def _match(e: Match, attrs: Mapping[str, Any], expand: Callable[[str], str]) -> bool:
    mems = members(e.path, "~=")
    for target in targets(attrs, expand(e.path.attr), map(expand, e.path.subs)):
        strings = [x for m in mems for x in _values(target, m) if isinstance(x, str)]
        hit = any(e.regex.search(s) for s in strings)
        if (strings and not hit) if e.negated else hit:
            return True
    return False


def _exists(path: Path, attrs: Mapping[str, Any], expand: Callable[[str], str]) -> bool:
    iri = expand(path.attr)
    if path.simple:
        return iri in attrs
    subs = [expand(s) for s in path.subs]
    if path.meta is None and not path.compound:
        return bool(targets(attrs, iri, subs, unwrap=False))
    mems = members(path, "==")
    return any(_has_target(t, path, mems) for t in targets(attrs, iri, subs))


def _system(e: Comparison, entity: Mapping[str, Any]) -> bool:
    raw = entity.get(e.path.attr)
    if not isinstance(raw, str):
        return False
    at = instant(raw)
    bounds = [instant(str(v.value)) for v in e.values]
    if e.range:
        inside = bounds[0] <= at <= bounds[1]
        return inside if e.op == "==" else not inside
    if e.op == "==":
        return at in bounds
    if e.op == "!=":
        return at not in bounds
    b = bounds[0]
    return {">": at > b, ">=": at >= b, "<": at < b, "<=": at <= b}[e.op]


def evaluate_q(expr: QExpr, entity: Mapping[str, Any], expand: Callable[[str], str]) -> bool:
    """Whether a stored entity (``{"id", "types", "attrs", "createdAt", "modifiedAt"}``)
    matches ``expr``; ``expand`` maps names as written in ``q`` to attribute IRIs."""
    if isinstance(expr, And):
        return all(evaluate_q(i, entity, expand) for i in expr.items)
    if isinstance(expr, Or):
        return any(evaluate_q(i, entity, expand) for i in expr.items)
    attrs: Mapping[str, Any] = entity.get("attrs") or {}
    if isinstance(expr, Exists):
        if expr.path.system:
            found = isinstance(entity.get(expr.path.attr), str)
        else:
            found = _exists(expr.path, attrs, expand)
        return not found if expr.negated else found
    if isinstance(expr, Match):
        return _match(expr, attrs, expand)
    if expr.path.system:
        return _system(expr, entity)
    return _comparison(expr, attrs, expand)
