"""The q, scopeQ and geo-query parsers: accepted forms, every rejection, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import BadRequestData, InvalidRequest
from hub.query.geo import geojson_bbox, parse_geo_query, validate_geojson
from hub.query.qlang import And, Comparison, Exists, Or, parse_q
from hub.query.qlang_sql import compile_q
from hub.query.scopeq import evaluate_scope_q, parse_scope_q, validate_scope


def expand(t: str) -> str:
    return "https://ex.org/" + t


@pytest.mark.parametrize("q", [
    "temperature>30", 'a==1;b!="x"', "(a==1|b==2);c", "!a", "a.b.observedAt>=2020-01-01T00:00:00Z",
    'address[city]=="Nagano"', "a==1..5", "a==1,2,3", "rel==urn:ngsi-ld:X:1",
    'name~="(?i)nag.*"', "a<=-3.5e2",
])
def test_q_accepts(q: str) -> None:
    expr = parse_q(q)
    frag = compile_q(expr, expand, first_param=3)
    assert "$3" in frag.sql and len(frag.params) >= 1


@pytest.mark.parametrize("q", ["", "a>>3", "(a==1", "a==", "a;", "a==(1)", 'a=="x',
                               "a>1,2", "!a==1", "a[b==1"])
def test_q_rejects(q: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_q(q)


def test_q_structure_and_precedence() -> None:
    expr = parse_q("a==1;b==2|c")
    assert isinstance(expr, Or) and isinstance(expr.items[0], And)
    assert isinstance(expr.items[1], Exists)
    cmp_ = parse_q("a.b[c.d]>2")
    assert isinstance(cmp_, Comparison)
    assert cmp_.path.subs == ("b",) and cmp_.path.compound == ("c", "d")


def test_q_range_uses_the_value_index() -> None:
    frag = compile_q(parse_q("precipitation>30"), expand)
    assert "entity_values" in frag.sql and 30.0 in frag.params
    frag = compile_q(parse_q("a.sub>30"), expand)  # sub-attributes are not in the index
    assert "entity_values" not in frag.sql


_names = st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True)


@given(st.lists(st.tuples(_names, st.sampled_from(["==", "!=", ">", "<", ">=", "<="]),
                          st.integers(-1000, 1000)), min_size=1, max_size=5),
       st.sampled_from([";", "|"]))
def test_q_generated_expressions_parse_and_compile(terms: list, joiner: str) -> None:
    text = joiner.join(f"{n}{op}{v}" for n, op, v in terms)
    frag = compile_q(parse_q(text), expand)
    assert frag.sql.count("$") >= len(terms)


def test_scope_q() -> None:
    assert evaluate_scope_q(parse_scope_q("/Nagano/#"), ["/Nagano/Rain"])
    assert evaluate_scope_q(parse_scope_q("/Nagano/#"), ["/Nagano"])
    assert not evaluate_scope_q(parse_scope_q("/Nagano/#"), ["/Naganoken"])
    assert evaluate_scope_q(parse_scope_q("/+/Rain"), ["/Ueda/Rain"])
    assert evaluate_scope_q(parse_scope_q("/a;/b,/c"), ["/c"])
    assert not evaluate_scope_q(parse_scope_q("/a;/b"), ["/a"])
    for bad in ("", "Nagano", "/a/", "/a;;/b", "(/a", "/#/a"):
        with pytest.raises(InvalidRequest):
            parse_scope_q(bad)
    for bad in ("a", "/", "/a//b", "/a/#"):
        with pytest.raises(BadRequestData):
            validate_scope(bad)


def test_geo_near_and_within() -> None:
    near = parse_geo_query("near;maxDistance==5000", "Point", "[138.19,36.65]", None)
    assert near is not None
    assert near.matches({"type": "Point", "coordinates": [138.20, 36.66]})  # ~1.4 km
    assert not near.matches({"type": "Point", "coordinates": [137.97, 36.24]})  # ~50 km
    box = near.bbox()
    assert box is not None and box[0] < 138.19 < box[2] and box[1] < 36.65 < box[3]
    poly = "[[[137.9,36.2],[138.0,36.2],[138.0,36.3],[137.9,36.3],[137.9,36.2]]]"
    within = parse_geo_query("within", "Polygon", poly, None)
    assert within is not None and within.matches({"type": "Point", "coordinates": [137.97, 36.24]})
    assert parse_geo_query("disjoint", "Point", "[0,0]", None).bbox() is None  # type: ignore


@pytest.mark.parametrize(("georel", "geometry", "coords"), [
    ("near", "Point", "[0,0]"), ("near;maxDistance==x", "Point", "[0,0]"),
    ("inside", "Point", "[0,0]"), ("within", "Circle", "[0,0]"),
    ("within", "Point", "[200,0]"), ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]"),
    ("within", "Point", "not json"), (None, "Point", "[0,0]"),
])
def test_geo_rejects(georel: str | None, geometry: str, coords: str) -> None:
    with pytest.raises(BadRequestData):
        parse_geo_query(georel, geometry, coords, None)


@given(st.floats(-180, 180), st.floats(-90, 90))
def test_point_bbox_is_the_point(lon: float, lat: float) -> None:
    value = {"type": "Point", "coordinates": [lon, lat]}
    validate_geojson(value)
    assert geojson_bbox(value) == (lon, lat, lon, lat)
