"""A dense geo-query's box is judged from a sample before its candidates are read
(``store.entities.geo_gate``, tenant migration 0108).

A page of a geo-query reads the box's entities from the GiST index up to the candidate
bound and walks the entities in pk order when there are more. The gate counts the box's
rows in a sample of one geo row in ``GEO_SAMPLE`` and skips that read when the sample
holds over twice its share of the bound. What could go wrong, and is tested here: a
sparse box taken for a dense one (walked: slow) or the reverse (read: as before the
gate); a page or count that depends on the plan (Python's answer for every box); the
sample read from the full index instead of its own (then it would cost as much as the
read it saves). A count (or an ``orderBy``) reads every match: it takes the complete
candidate set whatever its size, never the walk of every entity in pk order."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.store import entities as store
from tests.integration.order_oracle import geo_plan

E = "/ngsi-ld/v1/entities"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
NOW = "2026-12-08T00:00:00Z"
SIDE = 60  # a grid of SIDE x SIDE points, 0.01 degrees apart


def _point(i: int) -> tuple[float, float]:
    return 138 + (i % SIDE) / 100, 36 + (i // SIDE) / 100


def _entity(i: int) -> dict[str, Any]:
    x, y = _point(i)
    return {"id": f"urn:ngsi-ld:Gauge:g{i:05d}", "types": [VOCAB + "Gauge"], "scopes": None,
            "attrs": {LOCATION: [{"type": "GeoProperty",
                                  "value": {"type": "Point", "coordinates": [x, y]}}],
                      VOCAB + "rain": [{"type": "Property", "value": i % 10}]},
            "createdAt": NOW, "modifiedAt": NOW}


def _box(columns: int, rows: int) -> dict[str, str]:
    west, south = 137.995, 35.995
    east, north = west + columns / 100, south + rows / 100
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"georel": "within", "geometry": "Polygon",
            "coordinates": f"[{ring}]".replace(" ", "")}


async def test_a_dense_box_walks_without_reading_its_candidates(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async with client.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i) for i in range(SIDE * SIDE)],
                                   create_only=True, history=False)
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_geo")
    # the bound at 320: the gate lets a box through whose sample holds at most 10 rows
    monkeypatch.setattr(store, "CANDIDATES", 320)
    for columns, rows, read in ((10, 10, True),  # 100 entities, ~1.6 in the sample
                                (40, 45, False),  # 1,800, ~28
                                (60, 60, False)):  # every one
        box = _box(columns, rows)
        inside = [i for i in range(SIDE * SIDE) if i % SIDE < columns and i // SIDE < rows]
        r = await client.get(E, params={"type": "Gauge", "limit": "20", "count": "true",
                                        **box})
        assert r.status == 200, await r.text()
        assert [e["id"] for e in await r.json()] == [
            f"urn:ngsi-ld:Gauge:g{i:05d}" for i in inside[:20]], (columns, rows)
        assert r.headers["NGSILD-Results-Count"] == str(len(inside))

        async def get(box: dict[str, str] = box) -> None:
            resp = await client.get(E, params={"type": "Gauge", "limit": "20", **box})
            assert resp.status == 200, await resp.text()

        nodes = await geo_plan(client, get)
        used = {n.get("Index Name") for n in nodes}
        # the sample from its own index, always
        assert "entity_geo_sample" in used, nodes
        # the candidates read (and picked) only where the sample let them (the walk's
        # probe of one entity's row may use the same index: ``eid = e.pk`` in its filter)
        reads = [n for n in nodes if n.get("Index Name") == "entity_geo_bbox_attr_eid"
                 and "eid = " not in n.get("Filter", "")]
        assert bool(reads) == read, (columns, rows, nodes)
        picked = [n for n in nodes if "pk = ANY" in n.get("Index Cond", "")]
        assert sum(n.get("Actual Rows", 0) for n in picked) == (28 if read else 0), nodes

        # a count reads every match: the box's entities whatever their number, from the
        # geo index, never a walk of the tenant's (which probed all 3,600 here) nor a
        # Point's entity row; every located entity is a Gauge (``entity_shapes``), so
        # none is looked up for its type either
        nodes = await geo_plan(client, _counting(client, box), "geo_rows")
        assert "entities" not in {n.get("Relation Name") for n in nodes}, nodes
    # a located Sensor: the type must now be looked up, in the primary key's index only
    sensor = _entity(0)
    sensor.update(id="urn:ngsi-ld:Sensor:s1", types=[VOCAB + "Sensor"])
    async with client.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [sensor], create_only=True, history=False)
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_geo")
    for columns, rows in ((10, 10), (40, 45)):
        inside = [i for i in range(SIDE * SIDE) if i % SIDE < columns and i // SIDE < rows]
        nodes = await geo_plan(client, _counting(client, _box(columns, rows)), "geo_rows")
        looked = [n for n in nodes if n.get("Relation Name") == "entities"]
        assert looked and all(n["Node Type"] == "Index Only Scan" for n in looked), nodes
        assert all("pk = ANY" in n.get("Index Cond", "") for n in looked), nodes
        assert sum(n.get("Heap Fetches", 0) for n in looked) == 0, nodes
        # the Sensor stands at the first Gauge's point: in both boxes, and dropped
        assert sum(n["Actual Rows"] for n in looked) == len(inside), nodes
        assert sum(n.get("Rows Removed by Filter", 0) for n in looked) == 1, nodes
        r = await client.get(E, params={"type": "Gauge", "limit": "0", "count": "true",
                                        **_box(columns, rows)})
        assert r.headers["NGSILD-Results-Count"] == str(len(inside))


def _counting(client: TestClient, box: dict[str, str]) -> Any:
    async def count() -> None:
        resp = await client.get(E, params={"type": "Gauge", "limit": "0", "count": "true",
                                           **box})
        assert resp.status == 200, await resp.text()
    return count


async def test_a_count_tests_points_from_the_index_and_the_rest_from_the_entities(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every match of a count (and of an ``orderBy``) is tested: a Point from its geo
    row, any other geometry from its entity. Pages and counts agree with Python's for
    within, intersects and near, with lines and polygons among the points, some inside,
    some crossing the edge (their box overlaps, the geometry is not within), and an
    entity with two locations (``datasetId``), only one of them inside."""
    points = [_entity(i) for i in range(SIDE * SIDE)]
    shapes = {
        "inside-polygon": {"type": "Polygon", "coordinates": [[
            [138.01, 36.01], [138.03, 36.01], [138.03, 36.03], [138.01, 36.01]]]},
        "crossing-line": {"type": "LineString", "coordinates": [[138.05, 36.05],
                                                                [138.5, 36.05]]},
        "inside-line": {"type": "LineString", "coordinates": [[138.02, 36.02],
                                                              [138.04, 36.06]]},
    }
    for name, geometry in shapes.items():
        ent = _entity(0)
        ent["id"] = f"urn:ngsi-ld:Gauge:{name}"
        ent["attrs"][LOCATION] = [{"type": "GeoProperty", "value": geometry}]
        points.append(ent)
    two = _entity(0)
    two["id"] = "urn:ngsi-ld:Gauge:two-places"
    two["attrs"][LOCATION] = [
        {"type": "GeoProperty", "datasetId": "urn:x:far",
         "value": {"type": "Point", "coordinates": [139.5, 37.5]}},
        {"type": "GeoProperty", "datasetId": "urn:x:near",
         "value": {"type": "Point", "coordinates": [138.055, 36.055]}}]
    points.append(two)
    # located twice, each location outside the triangle below, which a location made of
    # one's x and the other's y would be inside (Points come back as arrays of x and y)
    crossed = _entity(0)
    crossed["id"] = "urn:ngsi-ld:Gauge:crossed"
    crossed["attrs"][LOCATION] = [
        {"type": "GeoProperty", "datasetId": f"urn:x:{n}",
         "value": {"type": "Point", "coordinates": xy}}
        for n, xy in (("a", [138.02, 36.09]), ("b", [138.09, 36.03]))]
    points.append(crossed)
    async with client.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", points, create_only=True, history=False)
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_geo")
        marked = dict(await con.fetch(
            "SELECT e.id, bool_and(g.point) FROM ngsild.entity_geo g"
            " JOIN ngsild.entities e ON e.pk = g.eid GROUP BY e.id"))
    assert marked["urn:ngsi-ld:Gauge:g00007"] and marked["urn:ngsi-ld:Gauge:two-places"]
    assert not marked["urn:ngsi-ld:Gauge:inside-polygon"]
    monkeypatch.setattr(store, "CANDIDATES", 320)
    queries = [_box(10, 10), {**_box(10, 10), "georel": "intersects"},
               {"georel": "near;maxDistance==5000", "geometry": "Point",
                "coordinates": "[138.05,36.05]"},
               {"georel": "near;minDistance==20000", "geometry": "Point",
                "coordinates": "[138.05,36.05]"},
               {"georel": "within", "geometry": "Polygon",
                "coordinates": "[[[138,36],[138.1,36],[138,36.1],[138,36]]]"},
               # with a term of q: its candidate set intersected with the box's
               {**_box(10, 10), "q": "rain>=7"}, {**_box(60, 60), "q": "rain==3"}]
    for query in queries:
        # the page of every match in pk order, read in chunks (no count): the reference
        pages: list[str] = []
        while True:
            r = await client.get(E, params={"type": "Gauge", "limit": "1000",
                                            "offset": str(len(pages)), **query})
            assert r.status == 200, await r.text()
            got = [e["id"] for e in await r.json()]
            pages += got
            if len(got) < 1000:
                break
        r = await client.get(E, params={"type": "Gauge", "limit": "5", "count": "true",
                                        **query})
        assert r.status == 200, await r.text()
        assert int(r.headers["NGSILD-Results-Count"]) == len(pages), query
        assert [e["id"] for e in await r.json()] == pages[:5], query
        r = await client.get(E, params={"type": "Gauge", "limit": "1000", "orderBy": "id",
                                        **query})
        assert r.status == 200, await r.text()
        assert sorted(e["id"] for e in await r.json()) == sorted(pages)[:1000], query
    within = await _ids(client, _box(10, 10))
    assert "urn:ngsi-ld:Gauge:inside-polygon" in within
    assert "urn:ngsi-ld:Gauge:inside-line" in within
    assert "urn:ngsi-ld:Gauge:crossing-line" not in within
    assert "urn:ngsi-ld:Gauge:two-places" in within
    triangle = await _ids(client, queries[4])
    assert "urn:ngsi-ld:Gauge:crossed" not in triangle and len(triangle) > 20, triangle
    crossing = await _ids(client, {**_box(10, 10), "georel": "intersects"})
    assert "urn:ngsi-ld:Gauge:crossing-line" in crossing


async def _ids(client: TestClient, query: dict[str, str]) -> set[str]:
    r = await client.get(E, params={"type": "Gauge", "limit": "1000", "count": "true",
                                    **query})
    assert r.status == 200, await r.text()
    assert int(r.headers["NGSILD-Results-Count"]) <= 1000
    return {e["id"] for e in await r.json()}
