"""A firm's geo-query reads the candidates of its own datasets (tenant migration 0106).

The geo rows carry their entity's dataset, and a firm's geo driver keeps only its
datasets' rows (``store.entities.Filter.bind_datasets``): the GiST index knew no datasets,
so a firm granted one city's gauges read every gauge of the tenant in the box and looked
each up to drop the other city's. What could go wrong, and is tested here:

- the firm sees another city's gauge or misses one of its own: pages and counts against
  Python's, for boxes holding fewer and more gauges than the candidate bound, within and
  near;
- a gauge moved into the firm's dataset keeps geo rows of its old dataset, and the
  firm's candidate sets miss it (a replace that changes only the stamp leaves the
  location's fingerprint alone unless that covers the dataset);
- the plan: the other city's rows are filtered in the index, and no candidate the firm
  may not read is looked up.
"""

from __future__ import annotations

from typing import Any

import pytest

from hub import keys
from hub.service.catalogue import DATASET_IRI, DATASET_PREFIX
from hub.store import entities as store
from tests.integration.authz_world import JSON, World, world
from tests.integration.order_oracle import geo_plan

__all__ = ["world"]

OPS = "/ngsi-ld/v1/entityOperations/upsert"
E = "/ngsi-ld/v1/entities"
N = 60
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"


def _located(city: str, i: int) -> dict[str, Any]:
    """The i-th gauge of ``city``, at longitude 138 + i / 100: each city's i-th gauges
    stand together."""
    return {"id": f"urn:ngsi-ld:Gauge:{city}-g{i}", "type": "Gauge",
            "rain": {"type": "Property", "value": i},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [138 + i / 100, 36.5]}}}


def _box(k: int) -> dict[str, str]:
    """A ``within`` query whose box holds each city's gauges 0 .. k - 1."""
    west, east = 137.995, 137.995 + k / 100
    ring = [[west, 36.4], [east, 36.4], [east, 36.6], [west, 36.6], [west, 36.4]]
    return {"georel": "within", "geometry": "Polygon",
            "coordinates": f"[{ring}]".replace(" ", "")}


def _near(k: int) -> dict[str, str]:
    """A ``near`` query holding gauges 0 .. k - 1 (1 / 100 degree is ~890 m there)."""
    return {"georel": f"near;maxDistance=={(k - 0.5) * 895:.0f}", "geometry": "Point",
            "coordinates": "[138,36.5]"}


async def _load(world: World) -> None:
    for city in ("nagano", "ueda"):
        resp = await world.http.post(OPS, json=[_located(city, i) for i in range(N)],
                                     headers=world.auth(city, **JSON))
        assert resp.status in (201, 204), await resp.text()
    async with world.http.app[keys.POOL].acquire() as con:
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_geo")


async def _page(world: World, who: str, params: dict[str, str]) -> tuple[list[str], int]:
    r = await world.http.get(E, params={"type": "Gauge", "limit": "20", "count": "true",
                                        **params}, headers=world.auth(who))
    assert r.status == 200, await r.text()
    return [e["id"] for e in await r.json()], int(r.headers["NGSILD-Results-Count"])


async def _grant(world: World) -> None:
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()


async def test_the_firm_sees_its_gauges_in_the_area(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await _grant(world)
    await _load(world)
    monkeypatch.setattr(store, "CANDIDATES", 10)
    for k in (3, 8, 15, 45, N):  # own rows within the bound, over it, every gauge
        for query in (_box(k), _near(k)):
            ids, total = await _page(world, "firm", query)
            assert ids == [f"urn:ngsi-ld:Gauge:nagano-g{i}" for i in range(min(k, 20))], (
                k, query)
            assert total == k, (k, query)
            # the prefecture reads both cities
            assert (await _page(world, "pref", query))[1] == 2 * k, (k, query)
    # a Ueda gauge handed to Nagano by a replace that changes only its stamp: the firm's
    # geo candidates find it (its location, and so the location's index row, unchanged)
    moved = _located("ueda", 2)
    async with world.http.app[keys.POOL].acquire() as con:
        ent = await store.fetch_entity(con, "ngsild", moved["id"])
        assert ent is not None
        ent["attrs"][DATASET_IRI] = [{"type": "Relationship",
                                      "object": DATASET_PREFIX + "nagano-rain"}]
        await store.write_entities(con, "ngsild", [ent], create_only=False, history=False)
    for query in (_box(5), _near(5)):
        ids, total = await _page(world, "firm", query)
        assert total == 6 and moved["id"] in ids, (query, ids)


async def test_the_firms_geo_driver_reads_its_own_rows(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await _grant(world)
    await _load(world)
    monkeypatch.setattr(store, "CANDIDATES", 10)
    for k, picked in ((8, True), (15, False)):
        async def get(k: int = k) -> None:
            r = await world.http.get(E, params={"type": "Gauge", "limit": "20", **_box(k)},
                                     headers=world.auth("firm"))
            assert r.status == 200, await r.text()

        nodes = await geo_plan(world.http, get)
        gist = [n for n in nodes if n.get("Index Name") == "entity_geo_bbox_attr_eid"]
        # index-only: the read of index rows (``_driven_own``) holds Ueda's k too, each
        # tagged by its dataset from the index
        assert gist and all(n["Node Type"] == "Index Only Scan" for n in gist), nodes
        assert sum(n["Actual Rows"] for n in gist) == 2 * k, nodes
        assert sum(n.get("Heap Fetches", 0) for n in gist) == 0, nodes
        # the candidates are the firm's k: none of Ueda's is looked up to be dropped
        scans = [n for n in nodes if "pk = ANY" in n.get("Index Cond", "")]
        assert sum(n.get("Actual Rows", 0) for n in scans) == (k if picked else 0), nodes
        assert sum(n.get("Rows Removed by Filter", 0) for n in scans) == 0, nodes
    # a located Sensor in Ueda's dataset: the firm's count still reads no entity, since
    # every located entity of its own datasets is a Gauge (``store.geo_rows``' proof
    # looks at the datasets it reads); the prefecture's looks the types up
    sensor = {"id": "urn:ngsi-ld:Sensor:ueda-s1", "types": [VOCAB + "Sensor"],
              "scopes": None, "createdAt": "2026-12-08T00:00:00Z",
              "modifiedAt": "2026-12-08T00:00:00Z",
              "attrs": {LOCATION: [{"type": "GeoProperty", "value": {
                  "type": "Point", "coordinates": [138.01, 36.5]}}],
                        DATASET_IRI: [{"type": "Relationship",
                                       "object": DATASET_PREFIX + "ueda-rain"}]}}
    async with world.http.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [sensor], create_only=True, history=False)
    for who, reads in (("firm", False), ("pref", True)):
        async def count(who: str = who) -> None:
            r = await world.http.get(E, params={"type": "Gauge", "limit": "0",
                                                "count": "true", **_box(15)},
                                     headers=world.auth(who))
            assert r.status == 200, await r.text()
            assert r.headers["NGSILD-Results-Count"] == str(15 if who == "firm" else 30)

        nodes = await geo_plan(world.http, count, "geo_rows")
        assert ("entities" in {n.get("Relation Name") for n in nodes}) == reads, (who, nodes)
