"""Index rows of a replaced entity (hub/store/entities.py, migration 0005): untouched when
the replace repeats them, rebuilt when they change or their fingerprint is unknown, and
always exactly what ``q`` and ``georel`` read afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiohttp.test_utils import TestClient

from hub import keys
from hub.query.values import index_rows
from hub.store import entities as store
from tests.integration.helpers import JSON, gauge, stored_index_rows, until_waiting

UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
E = "/ngsi-ld/v1/entities"


async def _rows(client: TestClient) -> list[Any]:
    async with client.server.app[keys.POOL].acquire() as con:
        return await con.fetch(
            "SELECT v.ctid::text AS at, e.id, v.attr, v.num, v.txt FROM ngsild.entity_values v"
            " JOIN ngsild.entities e ON e.pk = v.eid ORDER BY e.id, v.attr, v.num, v.txt")


async def _geo(client: TestClient) -> list[Any]:
    async with client.server.app[keys.POOL].acquire() as con:
        return await con.fetch("SELECT ctid::text AS at, bbox::text AS bbox"
                               " FROM ngsild.entity_geo ORDER BY eid")


async def _ids(client: TestClient, **params: str) -> set[str]:
    r = await client.get(E, params={"type": "WeatherObserved", "limit": "100", **params})
    assert r.status == 200, await r.text()
    return {e["id"] for e in await r.json()}


async def test_a_repeated_replace_leaves_index_rows_alone(client: TestClient) -> None:
    batch = [gauge(1, 1.5), gauge(2, 7.0)]
    assert (await client.post(UPSERT, json=batch, headers=JSON)).status == 201
    before, geo_before = await _rows(client), await _geo(client)
    assert (await client.post(UPSERT, json=batch, headers=JSON)).status == 204
    assert await _rows(client) == before  # same physical rows: nothing deleted or inserted
    assert await _geo(client) == geo_before


async def test_a_changed_value_rebuilds_that_entity_only(client: TestClient) -> None:
    assert (await client.post(UPSERT, json=[gauge(1, 1.5), gauge(2, 7.0)],
                              headers=JSON)).status == 201
    before = {(r["id"], r["attr"]): r for r in await _rows(client)}
    changed = [gauge(1, 9.0, lon=139.0), gauge(2, 7.0)]
    assert (await client.post(UPSERT, json=changed, headers=JSON)).status == 204
    after = {(r["id"], r["attr"]): r for r in await _rows(client)}
    g1 = [k for k in after if k[0].endswith("g1")]
    g2 = [k for k in after if k[0].endswith("g2")]
    assert [after[k]["num"] for k in g1] == [9.0]
    assert all(after[k]["at"] == before[k]["at"] for k in g2)
    assert await _ids(client, q="precipitation>8") == {"urn:ngsi-ld:WeatherObserved:g1"}
    assert await _ids(client, q="precipitation==1.5") == set()
    near_old = {"georel": "near;maxDistance==1000", "geometry": "Point",
                "coordinates": "[138.19,36.65]"}
    assert await _ids(client, **near_old) == {"urn:ngsi-ld:WeatherObserved:g2"}


async def test_rows_written_before_the_fingerprint_are_rebuilt(client: TestClient) -> None:
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 201
    async with client.server.app[keys.POOL].acquire() as con:
        # as a tenant migrated from 0004 has it: rows, but no fingerprint, and a stale row
        await con.execute("UPDATE ngsild.entities SET index_fp = NULL")
        await con.execute("INSERT INTO ngsild.entity_values (eid, attr, num)"
                          " SELECT pk, 'urn:stale', 1 FROM ngsild.entities")
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 204
    assert "urn:stale" not in {r["attr"] for r in await _rows(client)}
    assert await _ids(client, q="precipitation==1.5") == {"urn:ngsi-ld:WeatherObserved:g1"}


async def test_update_mode_and_single_writes_keep_rows_exact(client: TestClient) -> None:
    assert (await client.post(UPSERT, json=[gauge(1, 1.5)], headers=JSON)).status == 201
    r = await client.post(UPSERT + "?options=update",
                          json=[{"id": "urn:ngsi-ld:WeatherObserved:g1", "type": "WeatherObserved",
                                 "temperature": {"type": "Property", "value": 3}}], headers=JSON)
    assert r.status == 204
    r = await client.patch(E + "/urn:ngsi-ld:WeatherObserved:g1/attrs/precipitation",
                           json={"value": 4.0}, headers=JSON)
    assert r.status == 204
    nums = sorted(x["num"] for x in await _rows(client))
    assert nums == [3.0, 4.0]
    assert await _ids(client, q="precipitation==1.5") == set()
    assert await _ids(client, q="temperature==3") == {"urn:ngsi-ld:WeatherObserved:g1"}


PRECIPITATION = "https://uri.etsi.org/ngsi-ld/default-context/precipitation"
RACE = gauge(0)["id"]


def _stored(value: float) -> dict[str, Any]:
    now = "2026-12-04T00:00:00.000000Z"
    return {"id": RACE, "scopes": None,
            "types": ["https://uri.etsi.org/ngsi-ld/default-context/WeatherObserved"],
            "attrs": {PRECIPITATION: [{"type": "Property", "value": value}]},
            "createdAt": now, "modifiedAt": now}


async def _while_created_elsewhere(client: TestClient, write: Awaitable[Any]) -> Any:
    """Run ``write`` while another transaction has created RACE but not committed: the
    write waits on the unique index, then meets a row its snapshot never saw."""
    async with client.server.app[keys.POOL].acquire() as first:
        tr = first.transaction()
        await tr.start()
        await store.write_entities(first, "ngsild", [_stored(1.5)], create_only=False)
        task = asyncio.ensure_future(write)
        await until_waiting(first, "the write")
        await tr.commit()
        return await task


async def test_a_write_never_overwrites_an_entity_created_after_it_looked(
    client: TestClient,
) -> None:
    """The store leaves such an id unwritten and out of its answer (its caller decided on
    an entity that did not exist), and the first writer's index rows stay exact."""
    async def second() -> dict[str, bool]:
        async with client.server.app[keys.POOL].acquire() as con, con.transaction():
            return await store.write_entities(con, "ngsild", [_stored(9.0)],
                                              create_only=False)

    assert await _while_created_elsewhere(client, second()) == {}
    assert [(r["attr"], r["num"]) for r in await _rows(client)] == [(PRECIPITATION, 1.5)]


async def test_a_batch_upsert_racing_a_create_looks_again_and_replaces(
    client: TestClient,
) -> None:
    """The batch upsert finds the id written by the other transaction, decides its owner
    afresh and replaces it: one entity, the upsert's value, exactly its index rows."""
    r = await _while_created_elsewhere(client, client.post(UPSERT, json=[gauge(0, 9.0)],
                                                           headers=JSON))
    assert r.status == 204, await r.text()  # replaced, not created: the other one created it
    assert [(r["attr"], r["num"]) for r in await _rows(client)
            if r["attr"] == PRECIPITATION] == [(PRECIPITATION, 9.0)]
    assert await _ids(client, q="precipitation==1.5") == set()
    assert await _ids(client, q="precipitation==9.0") == {RACE}


async def test_an_attribute_update_rewrites_only_its_own_rows(client: TestClient) -> None:
    """A single entity's update (a versioned write, hub/store/entities.py
    ``_STALE_CHANGED``) deletes and inserts only the value rows that changed: the other
    attributes' rows and the geo row stay where they were."""
    ent = {**gauge(1, 1.5), "humidity": {"type": "Property", "value": 70},
           "name": {"type": "Property", "value": "Ueda"}}
    assert (await client.post(E, json=ent, headers=JSON)).status == 201
    before = {r["attr"].rsplit("/", 1)[1]: r for r in await _rows(client)}
    geo_before = await _geo(client)
    r = await client.patch(E + "/urn:ngsi-ld:WeatherObserved:g1/attrs",
                           json={"precipitation": {"type": "Property", "value": 8.0}},
                           headers=JSON)
    assert r.status == 204, await r.text()
    after = {r["attr"].rsplit("/", 1)[1]: r for r in await _rows(client)}
    assert after.keys() == before.keys()
    assert after["precipitation"]["num"] == 8.0
    assert after["precipitation"]["at"] != before["precipitation"]["at"]
    for kept in ("humidity", "name"):
        assert after[kept]["at"] == before[kept]["at"]
    assert await _geo(client) == geo_before
    assert await _ids(client, q="precipitation>7") == {"urn:ngsi-ld:WeatherObserved:g1"}
    assert await _ids(client, q="precipitation==1.5") == set()


async def test_single_entity_updates_keep_index_rows_exact_through_every_shape(
    client: TestClient,
) -> None:
    """Each shape an update can move an attribute through (number, string, array, object,
    several instances, several distinct numbers, deletion, a moved location) leaves the
    stored rows exactly what ``values.index_rows`` gives for the stored attributes."""
    g1 = "urn:ngsi-ld:WeatherObserved:g1"
    assert (await client.post(E, json={**gauge(1, 1.5), "name": {
        "type": "Property", "value": "a"}}, headers=JSON)).status == 201
    steps: list[tuple[str, str, Any]] = [
        ("PATCH", "/attrs", {"precipitation": {"type": "Property", "value": "wet"}}),
        ("PATCH", "/attrs", {"precipitation": {"type": "Property", "value": [1, 100]}}),
        ("PATCH", "/attrs", {"precipitation": {"type": "Property", "value": {"mm": 2}}}),
        ("POST", "/attrs", {"precipitation": [
            {"type": "Property", "value": 3.0, "datasetId": "urn:ngsi-ld:Dataset:a"},
            {"type": "Property", "value": 4.0, "datasetId": "urn:ngsi-ld:Dataset:b"}]}),
        ("PATCH", "/attrs/precipitation", {"value": 5.0, "datasetId": "urn:ngsi-ld:Dataset:a"}),
        ("PUT", "/attrs/name", {"type": "Property", "value": "b"}),
        ("PATCH", "", {"name": None, "location": {"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": [139.0, 36.0]}}}),
        ("PATCH", "/attrs", {"precipitation": {"type": "Property", "value": 5.0,
                                               "datasetId": "urn:ngsi-ld:Dataset:a"}}),
        ("PUT", "", {"type": "WeatherObserved",
                     "precipitation": {"type": "Property", "value": 9.0}}),
    ]
    for method, tail, body in steps:
        r = await client.request(method, f"{E}/{g1}{tail}", json=body, headers=JSON)
        assert r.status == 204, (method, tail, await r.text())
        async with client.server.app[keys.POOL].acquire() as con:
            attrs, rows = await stored_index_rows(con)
            for pk, stored in attrs.items():
                assert rows[pk] == sorted(index_rows(stored), key=repr), (method, tail, body)
                await _assert_geo_rows(con, pk, stored)
    assert await _ids(client, q="precipitation==9") == {g1}


async def _assert_geo_rows(con: Any, pk: int, stored: dict[str, Any]) -> None:
    """The entity's ``entity_geo`` rows are exactly the boxes of its stored GeoProperties
    (a write that left them alone must only do so when they did not change)."""
    expected = store._geo_rows(stored)
    assert await con.fetchval("SELECT count(*) FROM ngsild.entity_geo WHERE eid = $1",
                              pk) == len(expected)
    for attr, x1, y1, x2, y2, point in expected:
        assert await con.fetchval(
            "SELECT count(*) FROM ngsild.entity_geo WHERE eid = $1 AND attr = $2"
            " AND bbox ~= box(point($3, $4), point($5, $6)) AND point = $7",
            pk, attr, x1, y1, x2, y2, point) == 1
