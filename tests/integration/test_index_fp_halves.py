"""The two halves of ``index_fp`` (hub/store/entities.py ``_fingerprint``): a replace that
changes only readings rewrites the value rows and leaves the geo rows in place, one that
only moves the entity does the opposite, and a fingerprint of the earlier single-hash shape
rebuilds both — while ``q`` and ``georel`` keep reading exactly the stored entity."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from hub import keys
from tests.integration.helpers import JSON, gauge

UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
E = "/ngsi-ld/v1/entities"


async def _at(client: TestClient) -> tuple[list[Any], list[Any]]:
    """(value rows, geo rows) with their physical places (``ctid``)."""
    async with client.server.app[keys.POOL].acquire() as con:
        values = await con.fetch("SELECT ctid::text AS at, attr, num, txt"
                                 " FROM ngsild.entity_values ORDER BY attr, num, txt")
        geo = await con.fetch("SELECT ctid::text AS at, bbox::text AS bbox"
                              " FROM ngsild.entity_geo ORDER BY eid")
    return list(values), list(geo)


async def _ids(client: TestClient, **params: str) -> set[str]:
    r = await client.get(E, params={"type": "WeatherObserved", "limit": "100", **params})
    assert r.status == 200, await r.text()
    return {e["id"] for e in await r.json()}


NEAR_OLD = {"georel": "near;maxDistance==1000", "geometry": "Point",
            "coordinates": "[138.19,36.65]"}
NEAR_NEW = {"georel": "near;maxDistance==1000", "geometry": "Point",
            "coordinates": "[139.5,35.5]"}
G1 = "urn:ngsi-ld:WeatherObserved:g1"


async def test_each_half_rebuilds_only_its_rows(client: TestClient) -> None:
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 201
    values0, geo0 = await _at(client)

    # a new reading, same place: value rows rewritten, geo row untouched
    assert (await client.post(UPSERT, json=[gauge(1, 9.0)], headers=JSON)).status == 204
    values1, geo1 = await _at(client)
    assert geo1 == geo0
    assert [r["num"] for r in values1 if r["num"] is not None] == [9.0]
    assert {r["at"] for r in values1}.isdisjoint({r["at"] for r in values0})
    assert await _ids(client, q="precipitation>8") == {G1}
    assert await _ids(client, **NEAR_OLD) == {G1}

    # same reading, moved: geo row rewritten, value rows untouched
    moved = gauge(1, 9.0, lon=139.5, lat=35.5)
    assert (await client.post(UPSERT, json=[moved], headers=JSON)).status == 204
    values2, geo2 = await _at(client)
    assert values2 == values1
    assert geo2 != geo1 and len(geo2) == 1
    assert await _ids(client, **NEAR_OLD) == set()
    assert await _ids(client, **NEAR_NEW) == {G1}

    # the location removed: its geo row goes, though no geo row is written in the batch
    bare = {k: v for k, v in moved.items() if k != "location"}
    assert (await client.post(UPSERT, json=[bare], headers=JSON)).status == 204
    values3, geo3 = await _at(client)
    assert geo3 == [] and values3 == values2
    assert await _ids(client, **NEAR_NEW) == set()


async def test_an_earlier_fingerprint_shape_rebuilds_both(client: TestClient) -> None:
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 201
    async with client.server.app[keys.POOL].acquire() as con:
        # the single 128-bit hash stored before the halves; its rows could be anything
        await con.execute("UPDATE ngsild.entities SET index_fp = substr(index_fp, 1, 16)")
        await con.execute("DELETE FROM ngsild.entity_geo")
    values0, _ = await _at(client)
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 204
    values1, geo1 = await _at(client)
    assert len(geo1) == 1  # rebuilt though the values' half would have matched
    assert {r["at"] for r in values1}.isdisjoint({r["at"] for r in values0})
    assert await _ids(client, **NEAR_OLD) == {G1}
