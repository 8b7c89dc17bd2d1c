"""The write path's fast index-row extraction agrees with the general definition the ``q``
compiler is built on (``qlang_plan.simple_candidates`` and ``to_decimal``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.query.qlang_plan import simple_candidates, to_decimal
from hub.query.values import _candidates, _index_number, index_float

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
