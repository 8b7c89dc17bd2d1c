"""The rows the ``entity_values`` index holds for one entity (docs/architecture.md).

The store writes exactly ``index_rows(attrs)`` and the ``q`` compiler relies on them as a
necessary condition, so both import this one definition. A row is ``(attribute IRI, num,
txt)`` for each scalar a top-level comparison may read (``qlang_plan.simple_candidates``:
``value`` / ``@value``, ``object``, ``languageMap`` values, ``vocab``, ``valueList`` and
``objectList`` elements, ``json``; arrays flattened two levels as jsonpath's lax mode
does), duplicates removed:

* numbers go to ``num`` as float8, rounded to nearest and clamped to the finite range.
  Rounding is monotonic, so ``x > y`` implies ``f(x) >= f(y)``: the compiler's index
  conditions stay necessary for every stored number (they are non-strict unless exact);
* strings go to ``txt``, cut to ``TXT_PREFIX`` characters so every one fits a btree entry;
  cutting is monotonic in code-point order too;
* booleans and JSON null go nowhere: ``a==true`` has no index condition;
* one *marker* row ``(attribute IRI, None, None)`` when some instance's ``value`` is a JSON
  boolean, array or object (``sorts_above_numbers``; a located geometry excepted, which
  its ``entity_geo`` row marks): the kinds jsonb sorts above every number, so a
  descending ``orderBy`` walk along ``num`` (``store.entities._walk_sql``) runs only for
  an attribute without either. Comparisons never read it (both columns NULL); migration
  0092 wrote it for entities stored before;
* the same marker when the attribute yields two or more distinct rows of one kind, numbers
  or strings (an array value, several instances, a ``valueList``, a language map...). An
  entity without it holds at most one number and one string for the attribute, so:
  ``a>=X;a<Y``, which holds when *some* number is at least X and *some*, possibly
  another, is below Y, needs that one number in [X, Y] (the compiler's range driver,
  ``qlang_sql``, ``num BETWEEN X AND Y``, adds the marked entities to stay a superset);
  and an ordered walk of one kind may start at ``q``'s bound on the walked attribute's
  values of that kind, since a match the walk keeps has that one value of the kind as
  its sort key (``store.entities._walk_sql``). The descending walk's gate closes for
  such attributes too: conservative (it sorts instead), never wrong. The same marker,
  too, for an attribute with a ``vocab`` member and a string row:
  vocab compares q's strings expanded, so a walk's string bound (the literal as written)
  holds only for attributes without one. Migrations 0094 (several numbers) and 0096
  (several strings, vocab) wrote these markers for entities stored before;
* attributes in ``NOT_INDEXED`` get no rows, and the compiler puts no index condition on
  them (their comparisons run on ``attrs`` alone).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hub.query.geo import geojson_bbox
from hub.query.qlang_plan import SIMPLE_MEMBERS, flatten2, select, simple_candidates, targets

__all__ = ["NOT_INDEXED", "TXT_PREFIX", "IndexRow", "index_float", "index_rows", "index_text",
           "sorts_above_numbers"]

TXT_PREFIX = 256  # characters: at most 1 KiB of UTF-8, well under a btree entry's limit
_MAX = sys.float_info.max

IndexRow = tuple[str, float | None, str | None]

#: The provenance attributes ``dataProvider`` and ``source`` the registry stamps on every
#: owned entity (hub/service/ownership.py): both follow from ``refDataset``, which is
#: indexed, and their rows would cost every write (measured: +33 % on a 1,000-entity
#: replace-upsert with all three indexed, instead of ~+15 % with one).
NOT_INDEXED = frozenset({"https://uri.etsi.org/ngsi-ld/default-context/dataProvider",
                         "https://uri.etsi.org/ngsi-ld/default-context/source"})


def index_float(d: Decimal) -> float:
    """A number as the index holds it: nearest float8, clamped to the finite range."""
    try:
        f = float(d)
    except OverflowError:  # pragma: no cover - float(Decimal) saturates instead
        f = _MAX if d > 0 else -_MAX
    if f == float("inf"):
        return _MAX
    if f == float("-inf"):
        return -_MAX
    return f


def index_text(s: str) -> str:
    return s[:TXT_PREFIX]


def _candidates(instance: Any) -> list[Any]:
    """``simple_candidates`` without walking the members an instance does not have: the
    write path's hot loop (measured: 25 -> 8 ms per 1,000 four-attribute entities)."""
    if not isinstance(instance, dict):
        return simple_candidates(instance)
    out: list[Any] = []
    for m in SIMPLE_MEMBERS:  # a member whose first step is absent selects nothing
        if m.steps[0] in instance:
            out.extend(flatten2(select(instance, m.steps)))
    return out


def _index_number(x: Any) -> float | None:
    """``index_float(to_decimal(x))`` without the Decimal: a finite float is its own
    nearest float8, an int converts with the same rounding and is clamped alike."""
    if isinstance(x, bool):
        return None
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, int):
        try:
            return float(x)
        except OverflowError:
            return _MAX if x > 0 else -_MAX
    return None


_MEMBER_KEYS = frozenset(m.steps[0] for m in SIMPLE_MEMBERS)
_BUT_VALUE = _MEMBER_KEYS - {"value"}
_BUT_OBJECT = _MEMBER_KEYS - {"object"}
_SCALARS = (str, int, float)  # exact classes: bool is not among them
_ABSENT = object()


def _instance_values(instance: Any) -> Iterable[Any]:
    """``_candidates`` for the shapes nearly every stored instance has — a Property with a
    scalar ``value`` or a Relationship with one ``object`` and no other value member —
    answered without walking the members (measured: 49 -> ~10 ms of a 1,000-entity batch
    of traffic observations); anything else takes the general path."""
    if instance.__class__ is dict:
        v = instance.get("value", _ABSENT)
        if v.__class__ in _SCALARS and _BUT_VALUE.isdisjoint(instance):
            return (v,)
        if v is _ABSENT:
            o = instance.get("object")
            if o.__class__ is str and _BUT_OBJECT.isdisjoint(instance):
                return (o,)
    return _candidates(instance)


_ABOVE_NUMBERS = (bool, list, dict)


def sorts_above_numbers(value: Any) -> bool:
    """Whether some instance of a stored attribute (``attrs[iri]``: its instances, or one
    bare item) has a ``value`` that jsonb sorts above every number — a boolean, an array
    or an object — and no geo row says so already. Any instance rather than the first,
    which is what ``orderBy`` sorts on: a superset, needing no notion of which comes first.

    A GeoProperty's geometry with a bounding box has its ``entity_geo`` row
    (``store.entities._geo_rows``), which the walk's gate probes too: marking it as well
    would give nearly every entity a row that each write changing a reading rewrites
    (the benchmark's shape, one located attribute: +20 % value rows, +11 % table size,
    replace batches ~15-30 % slower on a busy machine). Migration 0092 states the same in
    SQL."""
    items = value if value.__class__ is list else (value,)
    return any(isinstance(i, dict) and isinstance(v := i.get("value"), _ABOVE_NUMBERS)
               and not (i.get("type") == "GeoProperty" and geojson_bbox(v) is not None)
               for i in items)


def index_rows(attrs: dict[str, Any]) -> list[IndexRow]:
    """All index rows of an entity's stored ``attrs`` (``{iri: [instance, ...]}``)."""
    rows: dict[IndexRow, None] = {}
    for iri, value in attrs.items():
        if iri in NOT_INDEXED:
            continue
        if value.__class__ is list and len(value) == 1:
            # one instance with a string or finite float value, the usual attribute: its
            # row without the calls below (a third of the write path's index-row time)
            v = value[0].get("value") if value[0].__class__ is dict else None
            if v.__class__ is str and _BUT_VALUE.isdisjoint(value[0]):
                rows[(iri, None, v[:TXT_PREFIX])] = None
                continue
            if v.__class__ is float and math.isfinite(v) and _BUT_VALUE.isdisjoint(value[0]):
                rows[(iri, v, None)] = None
                continue
        if sorts_above_numbers(value):
            rows[(iri, None, None)] = None
        plain = value.__class__ is list and all(i.__class__ is dict for i in value)
        # the first number and string seen; two distinct of one kind: the marker too. A
        # ``vocab`` member compares q's strings expanded, not as written: its attribute
        # is marked whenever it has a string row, so that an unmarked one holds only
        # strings q compares as written (the walk's string bound, ``qlang_sql``)
        first: list[float | str | None] = [None, None]
        several = False
        vocab = any(i.__class__ is dict and "vocab" in i
                    for i in (value if value.__class__ is list else (value,)))
        for instance in value if plain else targets(attrs, iri, ()):
            for x in _instance_values(instance):
                f = _index_number(x)
                held: float | str
                if f is not None:
                    kind, held = 0, f
                    rows[(iri, f, None)] = None
                elif isinstance(x, str):
                    kind, held = 1, index_text(x)
                    rows[(iri, None, held)] = None
                else:
                    continue
                several = several or (first[kind] is not None and held != first[kind])
                first[kind] = held if first[kind] is None else first[kind]
        if several or (vocab and first[1] is not None):
            rows[(iri, None, None)] = None
    return list(rows)
