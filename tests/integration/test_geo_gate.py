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
                                  "value": {"type": "Point", "coordinates": [x, y]}}]},
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

        # a count reads every match: the box's entities whatever their number, looked up
        # by pk, never a walk of the tenant's (which probed all 3,600 here)
        async def count(box: dict[str, str] = box) -> None:
            resp = await client.get(E, params={"type": "Gauge", "limit": "0",
                                               "count": "true", **box})
            assert resp.status == 200, await resp.text()

        nodes = await geo_plan(client, count, limit=None)
        looked = [n for n in nodes if n.get("Relation Name") == "entities"]
        assert all("pk = ANY" in n.get("Index Cond", "") for n in looked), nodes
        assert sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0)
                   for n in looked) == len(inside), nodes
