"""What a ``q`` path compares, and the SQL/JSON path "lax mode" rules, in one place.

``qlang_sql`` renders these plans as jsonpath text for PostgreSQL; ``qlang_eval`` and
``values`` walk the same plans in Python with the same rules, so a subscription, the value
index and a query can never disagree about what matches.

The stored form (docs/architecture.md) keeps each attribute as an array of instances. The
compiler does not know an attribute's type, so a comparison tries every value member an
instance can have (4.9: Property ``value``, Relationship ``object``, LanguageProperty any
``languageMap`` value, VocabProperty ``vocab``, ListProperty ``valueList``,
ListRelationship ``objectList[*].object``, JsonProperty ``json``); an instance has only
the one its type defines. Typed values ``{"@type": "DateTime", "@value": ...}`` compare by
their ``@value``.

Lax mode, as PostgreSQL implements it (checked against PostgreSQL 15):

* a member accessor ``.k`` (or ``.*``) applied to an array applies to each element, one
  level deep; applied to anything but an object it yields nothing;
* a filter ``? (...)`` applied to an array tests each element (one more level), and a
  comparison operand that is an array is unwrapped once more. So a compared member is
  flattened two levels deep: ``[[5]] == 5`` holds, ``[[[5]]] == 5`` does not;
* a comparison between different JSON types is unknown, never true.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.query.qlang import Literal, Path

__all__ = [
    "SIMPLE_MEMBERS",
    "Member",
    "compare",
    "flatten2",
    "literal_forms",
    "members",
    "select",
    "simple_candidates",
    "step",
    "targets",
    "to_decimal",
]

Step = str | None  # a member name; None is the wildcard ``.*``


@dataclass(frozen=True, slots=True)
class Member:
    """A value member reached from an attribute instance by ``steps``.

    ``relationship``: a Relationship target, compared by ``==``/``!=`` only (4.9: any other
    operator "shall result in not matching"). ``vocab``: stored expanded (4.5.20), so
    string literals are expanded before comparing (4.9, "VocabProperty").
    """

    steps: tuple[Step, ...]
    relationship: bool = False
    vocab: bool = False


SIMPLE_MEMBERS: tuple[Member, ...] = (
    Member(("value",)),
    Member(("value", "@value")),
    Member(("object",), relationship=True),
    Member(("languageMap", None)),
    Member(("vocab",), vocab=True),
    Member(("valueList",)),
    Member(("objectList", "object"), relationship=True),
    Member(("json",)),
)
_ORDERING = tuple(m for m in SIMPLE_MEMBERS if not m.relationship)
_EQUALITY_OPS = ("==", "!=")


def members(path: Path, op: str) -> tuple[Member, ...]:
    """The members a comparison with ``op`` reads on each target of ``path``.

    A trailing compound path (4.9 example 9) enters the ``value`` of a Property, the
    ``json`` of a JsonProperty (example 11) or, as a language tag, the ``languageMap`` of a
    LanguageProperty (``color[en]``; ``color[*]`` is any language).
    """
    if path.meta is not None:
        return (Member((path.meta,)),)
    if path.compound:
        tail: tuple[Step, ...] = tuple(None if c == "*" else c for c in path.compound)
        return (Member(("value", *tail)), Member(("json", *tail)),
                Member(("languageMap", *tail)))
    return SIMPLE_MEMBERS if op in _EQUALITY_OPS else _ORDERING


def step(items: Iterable[Any], key: Step) -> list[Any]:
    """Lax member accessor: arrays unwrap one level, non-objects yield nothing."""
    out: list[Any] = []
    for item in items:
        for obj in item if isinstance(item, list) else (item,):
            if isinstance(obj, dict):
                if key is None:
                    out.extend(obj.values())
                elif key in obj:
                    out.append(obj[key])
    return out


def select(start: Any, steps: Iterable[Step]) -> list[Any]:
    items = [start]
    for key in steps:
        items = step(items, key)
    return items


def targets(
    attrs: Mapping[str, Any], iri: str, subs: Iterable[str], *, unwrap: bool = True
) -> list[Any]:
    """The items ``$."iri"[*]."sub"...`` yields; with ``unwrap`` as a following filter
    ``? (...)`` tests them (arrays unwrapped once more)."""
    if iri not in attrs:
        return []
    value = attrs[iri]
    items = value if isinstance(value, list) else [value]
    for sub in subs:
        items = step(items, sub)
    if not unwrap:
        return items
    return [x for item in items for x in (item if isinstance(item, list) else (item,))]


def flatten2(items: Iterable[Any]) -> list[Any]:
    """The filter's and then the comparison's unwrapping: two array levels."""
    out: list[Any] = []
    for item in items:
        for x in item if isinstance(item, list) else (item,):
            out.extend(x if isinstance(x, list) else (x,))
    return out


def simple_candidates(instance: Any) -> list[Any]:
    """Every value ``attr==...`` may compare for one instance (what the value index holds)."""
    out: list[Any] = []
    for m in SIMPLE_MEMBERS:
        out.extend(flatten2(select(instance, m.steps)))
    return out


def to_decimal(x: Any) -> Decimal | None:
    """A JSON number as PostgreSQL's jsonb holds it; None for anything else (incl. bools).

    Stored floats went through orjson, which writes the shortest round-trip decimal, the
    same digits as ``repr``.
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN or infinity; jsonb cannot hold them
    return Decimal(x) if isinstance(x, int) else Decimal(repr(x))


def compare(x: Any, op: str, lit: Literal, form: Any) -> bool:
    """``x op form`` with jsonpath's typing: True only for same-typed scalars.

    ``form`` is the literal's comparable value (a Decimal, bool or, for strings, possibly
    the expanded form); strings order by code point, as jsonpath does in UTF-8 databases.
    """
    if lit.kind == "number":
        d = to_decimal(x)
        if d is None:
            return False
        return _ordered(d, op, form)
    if lit.kind == "bool":
        return isinstance(x, bool) and op == "==" and x == form
    if not isinstance(x, str):
        return False
    return _ordered(x, op, form)


def _ordered(a: Any, op: str, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def literal_forms(lit: Literal, member: Member, expand: Callable[[str], str]) -> Any:
    """The value a member compares ``lit`` with: expanded for vocab strings/terms."""
    if member.vocab and lit.kind in ("string", "uri"):
        return expand(str(lit.value))
    return lit.value
