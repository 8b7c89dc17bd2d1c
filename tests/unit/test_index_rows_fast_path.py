"""The write path's fast index-row extraction agrees with the general definition the ``q``
compiler is built on (``qlang_plan.simple_candidates`` and ``to_decimal``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.query.geo import geojson_bbox
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
        items = attrs[iri] if isinstance(attrs[iri], list) else [attrs[iri]]
        if any(isinstance(i, dict) and type(i.get("value")) in (bool, list, dict)
               and not (i.get("type") == "GeoProperty" and geojson_bbox(i["value"]))
               for i in items):
            rows[(iri, None, None)] = None  # the marker: a value jsonb sorts above numbers
        numbers: set[float] = set()
        strings: set[str] = set()
        for instance in targets(attrs, iri, ()):
            for x in simple_candidates(instance):
                d = to_decimal(x)
                if d is not None:
                    rows[(iri, index_float(d), None)] = None
                    numbers.add(index_float(d))
                elif isinstance(x, str):
                    rows[(iri, None, index_text(x))] = None
                    strings.add(index_text(x))
        vocab = any(isinstance(i, dict) and "vocab" in i for i in items)
        if len(numbers) >= 2 or len(strings) >= 2 or (vocab and strings):
            # the marker: several values of a kind (the range driver, the walk's bounds),
            # or a string beside vocab, which q compares expanded (the walk's bounds)
            rows[(iri, None, None)] = None
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
                                 ("a:b", None, None), ("a:s", None, "x"), ("a:s", 7.0, None)]


def test_values_sorting_above_numbers_give_the_marker_row() -> None:
    """A boolean, array or object ``value`` of any instance marks the attribute (the
    descending ``orderBy`` walk's gate); numbers, strings, JSON null, other members,
    ``NOT_INDEXED`` attributes and a located geometry (its geo row marks it) do not."""
    provider = sorted(NOT_INDEXED)[0]
    attrs = {"a:b": [{"type": "Property", "value": False}],
             "a:l": [{"type": "Property", "value": 3}, {"value": [1, "x"], "datasetId": "d"}],
             "a:o": [{"type": "Property", "value": {"@value": 2}}],
             "a:n": [{"type": "Property", "value": None}, {"value": 2}],
             "a:j": [{"type": "JsonProperty", "json": {"x": 1}}],
             "a:r": [{"type": "Relationship", "object": "urn:x:1"}],
             "a:g": [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}],
             "a:e": [{"type": "GeoProperty",
                      "value": {"type": "GeometryCollection", "geometries": []}}],
             provider: [{"type": "Property", "value": True}]}
    rows = index_rows(attrs)
    assert [r[0] for r in rows if r[1] is None and r[2] is None] == ["a:b", "a:l", "a:o",
                                                                     "a:e"]
    assert ("a:l", 3.0, None) in rows and ("a:l", 1.0, None) in rows
    assert ("a:o", 2.0, None) in rows and not [r for r in rows if r[0] == provider]


# as validated on input: positions of finite numbers, possibly none (no bounding box)
points = st.fixed_dictionaries({"type": st.just("Point"), "coordinates": st.lists(
    st.floats(allow_nan=False, allow_infinity=False), max_size=2)})
geometries = st.one_of(points, st.fixed_dictionaries(
    {"type": st.just("GeometryCollection"), "geometries": st.lists(points, max_size=2)}))
geo_instances = st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["GeoProperty", "Property"]),
     "value": st.one_of(geometries, values)}), min_size=1, max_size=2)


@given(st.dictionaries(st.sampled_from(["a:x", "a:y"]), geo_instances, max_size=2))
def test_geometries_agree_with_the_definition(attrs: dict[str, Any]) -> None:
    """Geometries with and without a bounding box, as GeoProperty or Property values."""
    assert index_rows(attrs) == _reference_rows(attrs)


def test_several_distinct_values_give_the_marker_row() -> None:
    """Two or more distinct numbers, or two or more distinct strings, of one attribute mark
    it (the ``q`` range driver: ``a>=X;a<Y`` may hold with no single number in [X, Y]; an
    ordered walk starts at q's bound only when an entity has one value of the kind); one
    of each, however often repeated, does not. Ints equal to floats are one row, and so
    are strings that differ only past the index's cut. A ``vocab`` member with a string
    marks it too: q compares vocab strings expanded, not as written."""
    attrs = {"a:arr": [{"type": "Property", "value": [1, 100]}],
             "a:inst": [{"type": "Property", "value": 5},
                        {"type": "Property", "value": 7.5, "datasetId": "urn:d:1"}],
             "a:list": [{"type": "ListProperty", "valueList": [2, 3]}],
             "a:json": [{"type": "JsonProperty", "json": 1, "value": 2}],
             "a:same": [{"type": "Property", "value": 4},
                        {"type": "Property", "value": 4.0, "datasetId": "urn:d:1"}],
             "a:mixed": [{"type": "Property", "value": 4},
                         {"type": "Property", "value": "4", "datasetId": "urn:d:1"}],
             "a:zero": [{"type": "Property", "value": 0.0},
                        {"type": "Property", "value": -0.0, "datasetId": "urn:d:1"}],
             "a:one": [{"type": "Property", "value": 9.5}],
             "a:int": [{"type": "Property", "value": 9}],
             "a:strs": [{"type": "Property", "value": "b"},
                        {"type": "Property", "value": "a", "datasetId": "urn:d:1"}],
             "a:samestr": [{"type": "Property", "value": "b"},
                           {"type": "Relationship", "object": "b", "datasetId": "urn:d:1"}],
             "a:long": [{"type": "Property", "value": "x" * 300 + "1"},
                        {"type": "Property", "value": "x" * 300 + "2", "datasetId": "urn:d:1"}],
             "a:lang": [{"type": "LanguageProperty", "languageMap": {"ja": "川", "en": "river"}}],
             "a:vocab": [{"type": "VocabProperty", "vocab": "https://x/y"}],
             "a:vocabs": [{"type": "Property", "value": "https://x/y"},
                          {"type": "VocabProperty", "vocab": "https://x/y",
                           "datasetId": "urn:d:1"}],
             "a:novocab": [{"type": "VocabProperty", "vocab": []}]}
    rows = index_rows(attrs)
    assert index_rows(attrs) == _reference_rows(attrs)
    marked = [r[0] for r in rows if r[1] is None and r[2] is None]
    assert marked == ["a:arr", "a:inst", "a:list", "a:json", "a:strs", "a:lang", "a:vocab",
                      "a:vocabs"]
    assert ("a:inst", 5.0, None) in rows and ("a:inst", 7.5, None) in rows
