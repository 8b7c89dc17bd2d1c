"""Geo-queries (GS CIM 009 4.10) and GeoJSON validation for GeoProperty values.

The store filters candidates with a bounding-box GiST index (``entity_geo``); the exact
predicate is evaluated here with shapely (GEOS), because the embedded PostgreSQL has no
PostGIS. Distances are in metres: haversine between points; for other geometries, planar
distance in a local equirectangular projection around the query geometry (error well under
0.5 % within the ~100 km a prefecture spans).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from hub.errors import BadRequestData

__all__ = ["GeoQuery", "geojson_bbox", "parse_geo_query", "plain_point", "validate_geojson"]

_EARTH_RADIUS = 6_371_008.8
_M_PER_DEG = math.pi * _EARTH_RADIUS / 180
_GEORELS = {"near", "within", "contains", "intersects", "equals", "disjoint", "overlaps"}
_GEOMETRIES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
               "MultiPolygon"}


_NUMBERS = frozenset({int, float})  # exact classes: bool is not among them


def _position(p: Any) -> None:
    if p.__class__ is list and len(p) == 2 and p[0].__class__ in _NUMBERS and (
            p[1].__class__ in _NUMBERS):
        pass  # the usual 2D position of a JSON body, without a generator per position
    elif (not isinstance(p, list) or len(p) not in (2, 3)
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)):
        raise BadRequestData(f"invalid position {p!r}")
    if not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
        raise BadRequestData(f"position {p!r} is outside longitude/latitude ranges")


def _line(coords: Any, min_len: int) -> None:
    if not isinstance(coords, list) or len(coords) < min_len:
        raise BadRequestData(f"a line needs at least {min_len} positions")
    for p in coords:
        _position(p)


def _polygon(rings: Any) -> None:
    if not isinstance(rings, list) or not rings:
        raise BadRequestData("a polygon needs at least one ring")
    for ring in rings:
        _line(ring, 4)
        if ring[0] != ring[-1]:
            raise BadRequestData("polygon rings must be closed")


def _check_coordinates(kind: str, coords: Any) -> None:
    if kind == "Point":
        _position(coords)
    elif kind == "MultiPoint":
        _line(coords, 1)
    elif kind == "LineString":
        _line(coords, 2)
    elif kind == "MultiLineString":
        if not isinstance(coords, list) or not coords:
            raise BadRequestData("a MultiLineString needs lines")
        for line in coords:
            _line(line, 2)
    elif kind == "Polygon":
        _polygon(coords)
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise BadRequestData("a MultiPolygon needs polygons")
        for poly in coords:
            _polygon(poly)
    else:
        raise BadRequestData(f"unsupported geometry type {kind!r}")


#: deepest nesting of GeometryCollections accepted (RFC 7946 3.1.8 advises against any)
MAX_COLLECTION_DEPTH = 4


def validate_geojson(value: Any, depth: int = 0) -> None:
    """Raise BadRequestData unless ``value`` is a valid GeoJSON geometry (RFC 7946)."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise BadRequestData("a GeoProperty value must be a GeoJSON geometry")
    if value["type"] == "GeometryCollection":
        if depth >= MAX_COLLECTION_DEPTH:
            raise BadRequestData(
                f"GeometryCollections nest deeper than {MAX_COLLECTION_DEPTH} levels")
        geoms = value.get("geometries")
        if not isinstance(geoms, list):
            raise BadRequestData("a GeometryCollection needs geometries")
        for g in geoms:
            validate_geojson(g, depth + 1)
        return
    if "coordinates" not in value:
        raise BadRequestData("a GeoJSON geometry needs coordinates")
    _check_coordinates(value["type"], value["coordinates"])


def _flatten(coords: Any) -> list[list[float]]:
    if coords and isinstance(coords[0], (int, float)):
        return [coords]
    out: list[list[float]] = []
    for c in coords or []:
        out.extend(_flatten(c))
    return out


def geojson_bbox(value: Any) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of a geometry, or None if it has no positions."""
    if not isinstance(value, dict):
        return None
    if value.get("type") == "GeometryCollection":
        boxes = [b for g in value.get("geometries") or [] if (b := geojson_bbox(g))]
        if not boxes:
            return None
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))
    try:
        points = _flatten(value.get("coordinates"))
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
    except (TypeError, IndexError, ValueError):
        return None
    if not xs:
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(_haversine_many(lon1, lat1, np.array([lon2]), np.array([lat2]))[0])


def _haversine_many(lon1: float, lat1: float, lon2: np.ndarray, lat2: np.ndarray
                    ) -> np.ndarray:
    """The great-circle distance in metres from one point to many: the one formula for
    a stored Point's distance, for one (``_point_matches``, ``distance``) or many
    (``GeoQuery.matching_points``) alike, so that a page and a count never disagree by
    a rounding."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS * np.arcsin(np.minimum(1.0, np.sqrt(a)))


#: the georels GEOS decides on a stored point's coordinates, from the query's side:
#: ``within`` is the query containing the point (``_point_matches``, ``matching``)
_XY_TESTS = {"within": shapely.contains_xy, "intersects": shapely.intersects_xy}


@dataclass(slots=True)
class GeoQuery:
    georel: str
    geometry: dict[str, Any]
    geoproperty: str | None = None
    max_distance: float | None = None
    min_distance: float | None = None
    _shape: BaseGeometry | None = None
    _point: tuple[float, float] | None = None  # a Point query's (x, y), read once

    def shape(self) -> BaseGeometry:
        if self._shape is None:
            self._shape = shape(self.geometry)
            shapely.prepare(self._shape)
            if self._shape.geom_type == "Point":
                self._point = (self._shape.x, self._shape.y)
        return self._shape

    def bbox(self) -> tuple[float, float, float, float] | None:
        """A box every match must intersect, or None where no such box exists."""
        if self.georel in ("disjoint",) or (self.georel == "near" and self.max_distance is None):
            return None
        box = geojson_bbox(self.geometry)
        assert box is not None
        if self.georel == "near" and self.max_distance is not None:
            dlat = self.max_distance / _M_PER_DEG * 1.01
            lat = max(abs(box[1]), abs(box[3]))
            dlon = dlat / max(math.cos(math.radians(min(lat + dlat, 89.9))), 1e-6)
            return (box[0] - dlon, box[1] - dlat, box[2] + dlon, box[3] + dlat)
        return box

    def distance(self, other: BaseGeometry) -> float:
        q = self.shape()
        if q.geom_type == "Point" and other.geom_type == "Point":
            return _haversine(q.x, q.y, other.x, other.y)
        c = q.centroid
        k = math.cos(math.radians(c.y))

        def project(g: BaseGeometry) -> BaseGeometry:
            return shapely.transform(g, lambda xy: xy * [k * _M_PER_DEG, _M_PER_DEG])

        return float(project(q).distance(project(other)))

    def matching(self, values: list[Any]) -> list[bool]:
        """``matches`` of each value, the stored Points decided together
        (``matching_points``): per value, a GEOS call's own setup cost more than the test
        (~15 % of a geo query's hub CPU at 1 %, ``bench/profile_query.py``)."""
        out = [False] * len(values)
        at: list[int] = []
        xs: list[float] = []
        ys: list[float] = []
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                continue
            if (xy := _point_xy(value)) is None:
                out[i] = self._shape_matches(value)
            else:
                at.append(i)
                xs.append(xy[0])
                ys.append(xy[1])
        for i, hit in zip(at, self.matching_points(xs, ys), strict=True):
            out[i] = hit
        return out

    def matching_points(self, xs: list[float], ys: list[float]) -> list[bool]:
        """``matches`` of the stored Points (x, y): in one vectorized call where GEOS
        (``within``, ``intersects``) or the haversine distance (``near`` a Point) decides
        on coordinates, else one by one as ``matches`` would. A count reads the Points
        from the geo index (``store.entities.geo_rows``), a page from the entities: both
        come here."""
        if not xs:
            return []
        q = self.shape()
        if (test := _XY_TESTS.get(self.georel)) is not None:
            return list(test(q, xs, ys).tolist())
        if self.georel == "near" and self._point is not None:
            d = _haversine_many(*self._point, np.asarray(xs, dtype=float),
                                np.asarray(ys, dtype=float))
            ok = np.ones(len(xs), dtype=bool)
            if self.max_distance is not None:
                ok &= ~(d > self.max_distance)
            if self.min_distance is not None:
                ok &= ~(d < self.min_distance)
            return list(ok.tolist())
        return [self._shape_matches({"type": "Point", "coordinates": [x, y]})
                for x, y in zip(xs, ys, strict=True)]

    def matches(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        xy = _point_xy(value)
        if xy is not None and (fast := self._point_matches(*xy)) is not None:
            return fast
        return self._shape_matches(value)

    def _point_matches(self, x: float, y: float) -> bool | None:
        """The answer for a stored Point without building a shapely geometry for it (most
        stored locations are points, and building one cost a quarter of a geo query's hub
        CPU): the predicates GEOS computes on coordinates (``contains_xy`` is ``within``
        seen from the query's side, ``intersects_xy`` is ``intersects``), and the
        haversine distance between two points as ``distance`` computes it. None: this
        georel or query geometry takes the general path."""
        q = self.shape()
        if (test := _XY_TESTS.get(self.georel)) is not None:
            return bool(test(q, x, y))
        if self.georel == "near" and self._point is not None:
            return self.matching_points([x], [y])[0]
        return None

    def _shape_matches(self, value: dict[str, Any]) -> bool:
        try:
            other = shape(value)
        except (ValueError, TypeError, AttributeError, OverflowError, KeyError, IndexError,
                shapely.errors.GEOSException):
            return False
        q = self.shape()
        rel = self.georel
        if rel == "near":
            if other.is_empty:  # no coordinates: no distance to anything
                return False
            d = self.distance(other)
            if self.max_distance is not None and d > self.max_distance:
                return False
            return not (self.min_distance is not None and d < self.min_distance)
        if rel == "within":
            return bool(other.within(q))
        if rel == "contains":
            return bool(other.contains(q))
        if rel == "intersects":
            return bool(other.intersects(q))
        if rel == "equals":
            return bool(other.equals(q))
        if rel == "disjoint":
            return bool(other.disjoint(q))
        return bool(other.overlaps(q))


def plain_point(value: Any) -> bool:
    """Whether a stored geometry is a Point the exact tests read by its (x, y)
    (``_point_xy``): its box in the geo index is then the geometry itself, and the index
    row says so (``store.entities``), so that every match of a count can be tested
    without reading its entity."""
    return isinstance(value, dict) and _point_xy(value) is not None


def _point_xy(value: dict[str, Any]) -> tuple[float, float] | None:
    """(x, y) of a GeoJSON Point whose coordinates are two or three plain numbers, as
    ``shape`` would read them; None for anything else (the general path decides)."""
    if value.get("type") != "Point":
        return None
    c = value.get("coordinates")
    if (not isinstance(c, list) or len(c) not in (2, 3)
            or not all(type(v) in (int, float) for v in c)):
        return None
    try:
        return float(c[0]), float(c[1])
    except OverflowError:  # an integer beyond float8: shape() refuses it too
        return None


def _parse_georel(georel: str) -> tuple[str, float | None, float | None]:
    parts = georel.split(";")
    rel = parts[0]
    if rel not in _GEORELS:
        raise BadRequestData(f"unknown georel {rel!r}")
    if rel != "near":
        if len(parts) > 1:
            raise BadRequestData(f"georel {rel} takes no modifier")
        return rel, None, None
    if len(parts) != 2:
        raise BadRequestData("near needs exactly one of maxDistance==N or minDistance==N")
    name, sep, raw = parts[1].partition("==")
    try:
        value = float(raw)
    except ValueError:
        raise BadRequestData(f"invalid distance in {georel!r}") from None
    if not sep or name not in ("maxDistance", "minDistance") or value < 0:
        raise BadRequestData(f"invalid near modifier in {georel!r}")
    return (rel, value, None) if name == "maxDistance" else (rel, None, value)


def parse_geo_query(
    georel: str | None, geometry: str | None, coordinates: str | list[Any] | None,
    geoproperty: str | None,
) -> GeoQuery | None:
    """None when no geo-query was given; BadRequestData when one is incomplete or wrong."""
    if georel is None and geometry is None and coordinates is None:
        return None
    if georel is None or geometry is None or coordinates is None:
        raise BadRequestData("a geo-query needs georel, geometry and coordinates together")
    rel, max_d, min_d = _parse_georel(georel)
    if geometry not in _GEOMETRIES:
        raise BadRequestData(f"unsupported geometry {geometry!r}")
    coords: Any = coordinates
    if isinstance(coordinates, str):
        try:
            coords = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"coordinates are not a JSON array: {coordinates!r}") from None
    _check_coordinates(geometry, coords)
    return GeoQuery(rel, {"type": geometry, "coordinates": coords}, geoproperty, max_d, min_d)
