"""A stored Point is matched on its coordinates (``GeoQuery._point_matches``) instead of
through a shapely geometry: every answer must be the general path's, for points inside,
outside, on edges and vertices, in 3D, and for values the fast path must leave alone."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hub.query.geo import GeoQuery, parse_geo_query

SQUARE = "[[[138,36],[139,36],[139,37],[138,37],[138,36]]]"
TRIANGLE = "[[[138,36],[139.5,36.2],[138.4,37.1],[138,36]]]"
QUERIES = [
    ("within", "Polygon", SQUARE), ("within", "Polygon", TRIANGLE),
    ("intersects", "Polygon", SQUARE), ("intersects", "Polygon", TRIANGLE),
    ("intersects", "LineString", "[[138,36],[139,37]]"),
    ("intersects", "Point", "[138.5,36.5]"),
    ("near;maxDistance==20000", "Point", "[138.5,36.5]"),
    ("near;minDistance==20000", "Point", "[138.5,36.5]"),
    ("near;maxDistance==20000", "Polygon", SQUARE),
    ("contains", "Point", "[138.5,36.5]"), ("equals", "Point", "[138.5,36.5]"),
    ("disjoint", "Polygon", SQUARE), ("overlaps", "Polygon", SQUARE),
]


def _values() -> list[Any]:
    rnd = random.Random(7)
    pts: list[Any] = [[138, 36], [139, 37], [138.5, 36], [138, 36.5], [139, 36.5],
                      [138.5, 36.5], [138.5, 36.5, 700], [139.5, 36.2], [138.75, 36.6],
                      [137.9, 36.5], [138, 37]]
    pts += [[round(rnd.uniform(137.8, 139.7), rnd.choice([0, 1, 3, 6])),
             round(rnd.uniform(35.8, 37.3), rnd.choice([0, 1, 3, 6]))] for _ in range(400)]
    values: list[Any] = [{"type": "Point", "coordinates": p} for p in pts]
    values += [{"type": "Point", "coordinates": [138.5]}, {"type": "Point", "coordinates": []},
               {"type": "Point", "coordinates": [138.5, 36.5, 1, 2]},
               {"type": "Point", "coordinates": ["138.5", 36.5]},
               {"type": "Point", "coordinates": [True, 36.5]},
               {"type": "Point", "coordinates": [10**400, 36.5]},
               {"type": "Point", "coordinates": "138.5,36.5"}, {"type": "Point"},
               {"type": "LineString", "coordinates": [[138.5, 36.5], [138.6, 36.6]]}]
    return values


@pytest.mark.parametrize(("georel", "geometry", "coordinates"), QUERIES)
def test_points_are_matched_as_the_general_path_matches_them(
        georel: str, geometry: str, coordinates: str) -> None:
    query = parse_geo_query(georel, geometry, coordinates, None)
    assert isinstance(query, GeoQuery)
    agree = [query.matches(v) == query._shape_matches(v) for v in _values()]
    assert all(agree), [v for v, ok in zip(_values(), agree, strict=True) if not ok]
    # the cases are not vacuous: some points match and some do not
    answers = {query.matches(v) for v in _values()[:400]}
    assert answers == {True, False} or georel in ("contains", "equals", "overlaps")


@pytest.mark.parametrize(("georel", "geometry", "coordinates"), QUERIES)
def test_many_values_are_matched_as_one_at_a_time(
        georel: str, geometry: str, coordinates: str) -> None:
    """``matching`` (one vectorized call for the points) answers what ``matches`` answers
    value by value, in the same order, with non-objects and shapes mixed in."""
    query = parse_geo_query(georel, geometry, coordinates, None)
    assert isinstance(query, GeoQuery)
    values: list[Any] = [None, "Point", 7, *_values(),
                         {"type": "Polygon", "coordinates": [[[138.2, 36.2], [138.3, 36.2],
                                                              [138.3, 36.3], [138.2, 36.2]]]}]
    random.Random(3).shuffle(values)
    expected = [query.matches(v) for v in values]
    assert query.matching(values) == expected
    assert query.matching([]) == []
