"""The write path's fast parse of plain Properties and Relationships
(``attributes._plain_instance``) makes exactly what the general parse makes — the same
members in the same order — and leaves every input it does not fully accept, valid or not,
to the general parse, so the stored form and every error message stay one definition."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import BadRequestData
from hub.ngsild import attributes
from hub.ngsild.attributes import parse_instance

NOW = "2026-12-04T00:00:00.000000Z"


class Ctx:
    def expand(self, term: str) -> str:
        return term if ":" in term else "https://ex.org/" + term


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=4), st.sampled_from(["urn:x:1", "urn:ngsi-ld:null",
                                                          "not a uri", "x:y"]))
geometries = st.sampled_from([
    {"type": "Point", "coordinates": [138.2, 36.6]}, {"type": "Point", "coordinates": [200, 0]},
    {"type": "Point"}, {"type": "Point", "coordinates": [1, True]},
    {"type": "LineString", "coordinates": [[1, 2]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, {"type": "Nope"}])
values = st.one_of(scalars, st.lists(scalars, max_size=2), geometries)
types = st.sampled_from(["Property", "Relationship", "Property", "Relationship",
                         "GeoProperty", "VocabProperty", "Bogus", 5])
optional = {
    "observedAt": st.sampled_from(["2026-12-04T09:00:00Z", "2026-12-04T09:00:00+09:00",
                                   "yesterday", 17]),
    "unitCode": st.one_of(st.sampled_from(["MMT", "CEL"]), st.integers()),
    "datasetId": st.sampled_from(["urn:ds:1", "no"]),
    "sub": values,
    "value": values,
    "object": values,
}


@st.composite
def raw_instances(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly the fast path's shapes and their near misses, members in any order."""
    raw: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        raw["type"] = draw(types)
    member = draw(st.sampled_from(["value", "object"]))
    raw[member] = draw(st.one_of(scalars, values))
    common = st.sampled_from(["observedAt", "unitCode"])
    extra = draw(st.lists(st.one_of(common, common, common, st.sampled_from(sorted(optional))),
                          unique=True, max_size=3))
    for key in extra:
        raw[key] = draw(optional[key])
    keys = draw(st.permutations(list(raw)))
    return {k: raw[k] for k in keys}


def _outcome(raw: dict[str, Any], iri: str) -> tuple[str, Any]:
    try:
        inst = parse_instance(iri, raw, Ctx(), NOW)
    except BadRequestData as exc:
        return "error", str(exc)
    return "ok", [(k, v.__class__, v) for k, v in inst.items()]  # member order counts


@settings(max_examples=1000)
@given(raw_instances(), st.sampled_from(["https://ex.org/a",
                                       "https://uri.etsi.org/ngsi-ld/location"]))
def test_fast_parse_agrees_with_the_general_parse(raw: dict[str, Any], iri: str) -> None:
    fast = _outcome(raw, iri)
    with mock.patch.object(attributes, "_plain_instance", lambda raw, now: None):
        general = _outcome(raw, iri)
    assert fast == general


def test_the_common_shapes_take_the_fast_path() -> None:
    prop = {"unitCode": "MMT", "type": "Property", "value": 1.5,
            "observedAt": "2026-12-04T09:00:00Z"}
    assert attributes._plain_instance(prop, NOW) == {
        "type": "Property", "value": 1.5, "unitCode": "MMT",
        "observedAt": "2026-12-04T09:00:00Z", "createdAt": NOW, "modifiedAt": NOW}
    rel = {"type": "Relationship", "object": "urn:ngsi-ld:Device:1"}
    assert attributes._plain_instance(rel, NOW) is not None
    assert attributes._plain_instance({**rel, "object": "no uri"}, NOW) is None
    assert attributes._plain_instance({**prop, "value": None}, NOW) is None
