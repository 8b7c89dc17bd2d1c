"""The write path's fast index-row extraction agrees with the general definition the ``q``
compiler is built on (``qlang_plan.simple_candidates`` and ``to_decimal``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.query.qlang_plan import simple_candidates, targets, to_decimal
from hub.query.values import (
    NOT_INDEXED,
    _candidates,
    _index_number,
    index_float,
    index_rows,
    index_text,
)

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**400),
                                                          max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["@value", "object", "x"]), inner, max_size=2)),
    max_leaves=8)
keys = st.sampled_from(["type", "value", "object", "languageMap", "vocab", "valueList",
                        "objectList", "json", "observedAt", "unitCode"])
instances = st.one_of(st.dictionaries(keys, values, max_size=4), values)


@given(instances)
def test_candidates_agree(instance: Any) -> None:
    assert _candidates(instance) == simple_candidates(instance)


@given(scalars)
def test_numbers_agree(x: Any) -> None:
    d = to_decimal(x)
    assert _index_number(x) == (index_float(d) if d is not None else None)


def _reference_rows(attrs: dict[str, Any]) -> list[Any]:
    """``index_rows`` as the module docstring defines it, through the general helpers."""
    rows: dict[Any, None] = {}
    for iri in attrs:
        if iri in NOT_INDEXED:
            continue
        for instance in targets(attrs, iri, ()):
            for x in simple_candidates(instance):
                d = to_decimal(x)
                if d is not None:
                    rows[(iri, index_float(d), None)] = None
                elif isinstance(x, str):
                    rows[(iri, None, index_text(x))] = None
    return list(rows)


attribute_values = st.one_of(st.lists(instances, max_size=3), instances)


@given(st.dictionaries(st.sampled_from(["a:x", "a:y", *sorted(NOT_INDEXED)]),
                       attribute_values, max_size=3))
def test_index_rows_agree_with_the_definition(attrs: dict[str, Any]) -> None:
    assert index_rows(attrs) == _reference_rows(attrs)


plain_values = st.one_of(st.text(max_size=300), st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(), st.booleans(), st.none())
single_instances = st.builds(lambda v, extra: [{"type": "Property", "value": v, **extra}],
                             plain_values, st.dictionaries(keys, values, max_size=1))


@given(st.dictionaries(st.sampled_from(["a:x", "a:y", *sorted(NOT_INDEXED)]),
                       single_instances, max_size=3))
def test_single_instance_attributes_agree_with_the_definition(attrs: dict[str, Any]) -> None:
    """The usual attribute — one instance, a scalar value, perhaps one more member."""
    assert index_rows(attrs) == _reference_rows(attrs)


def test_the_common_shapes_give_their_one_row() -> None:
    attrs = {"a:p": [{"type": "Property", "value": 4, "observedAt": "2026-01-01T00:00:00Z"}],
             "a:r": [{"type": "Relationship", "object": "urn:x:1"}],
             "a:b": [{"type": "Property", "value": True}],
             "a:s": [{"type": "Property", "value": "x", "json": 7}]}
    assert index_rows(attrs) == [("a:p", 4.0, None), ("a:r", None, "urn:x:1"),
                                 ("a:s", None, "x"), ("a:s", 7.0, None)]
