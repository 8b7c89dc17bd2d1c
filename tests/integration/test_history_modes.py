"""History beyond observed readings (issue #16): a dataset's ``historyMode`` ``every``,
deletions through the core API recorded as ``deletedAt`` instances, the scope of a temporal
entity, ``orderBy`` on temporal queries, and a dataset's retention honoured on read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.settings import Settings
from registry.errors import Invalid
from registry.model import history_mode
from tests.conftest import CATCH_ALL
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
DS = f"/registry/v1/datasets/{CATCH_ALL}"
ID = "urn:ngsi-ld:Gauge:m1"


async def _dataset(client: TestClient, **fields: Any) -> None:
    body = await (await client.get(DS)).json()
    resp = await client.put(DS, json={**body, **fields})
    assert resp.status == 200, await resp.text()
    client.app[keys.REGISTRY_RULES].invalidate()


async def _temporal(client: TestClient, eid: str = ID, query: str = "") -> dict[str, Any]:
    resp = await client.get(f"{T}/{eid}{query}")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _count(settings: Settings, eid: str = ID) -> int:
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    try:
        return int(await con.fetchval(
            "SELECT count(*) FROM ngsild.temporal_instances WHERE entity_id = $1", eid))
    finally:
        await con.close()


def gauge(level: float, name: str = "A", eid: str = ID) -> dict[str, Any]:
    return {"id": eid, "type": "Gauge", "level": {"type": "Property", "value": level},
            "name": {"type": "Property", "value": name}}


# -- historyMode ------------------------------------------------------------------------------

async def test_observed_mode_is_the_default(client: TestClient, settings: Settings) -> None:
    assert "historyMode" not in await (await client.get(DS)).json()
    assert (await client.post(E, json=gauge(1.0), headers=JSON)).status == 201
    assert await _count(settings) == 0  # no observedAt: current state only


async def test_every_mode_records_each_change(client: TestClient, settings: Settings) -> None:
    await _dataset(client, historyMode="every")
    assert (await (await client.get(DS)).json())["historyMode"] == "every"
    assert (await client.post(E, json=gauge(1.0), headers=JSON)).status == 201
    assert await _count(settings) == 2  # level and name, at the entity's modifiedAt
    resp = await client.patch(f"{E}/{ID}/attrs", json={"level": {"type": "Property",
                                                                 "value": 2.0}}, headers=JSON)
    assert resp.status == 204
    body = await _temporal(client)
    assert [i["value"] for i in body["level"]] == [1.0, 2.0]
    assert [i["value"] for i in body["name"]] == ["A"]  # unchanged: not recorded again
    # the same value again is no change
    resp = await client.patch(f"{E}/{ID}/attrs", json={"level": {"type": "Property",
                                                                 "value": 2.0}}, headers=JSON)
    assert resp.status == 204
    assert await _count(settings) == 3
    # the instant is the change's modifiedAt: a window on it selects
    values = await _temporal(client, query="?timeproperty=modifiedAt&timerel=after"
                                           "&timeAt=2000-01-01T00:00:00Z&attrs=level")
    assert len(values["level"]) == 2


async def test_history_mode_refused_when_unknown(client: TestClient) -> None:
    body = await (await client.get(DS)).json()
    resp = await client.put(DS, json={**body, "historyMode": "sometimes"})
    assert resp.status == 400
    assert "historyMode" not in await (await client.get(DS)).json()  # nothing changed
    with pytest.raises(Invalid):
        history_mode("all")
    assert history_mode(None) == "observed"


# -- deletions through the core API ------------------------------------------------------------

def reading(level: float, minute: int) -> dict[str, Any]:
    return {"type": "Property", "value": level, "observedAt": f"2026-11-22T00:{minute:02d}:00Z"}


async def test_deleted_attribute_shows_as_deleted_at(client: TestClient,
                                                     settings: Settings) -> None:
    ent = {"id": ID, "type": "Gauge", "level": reading(1.0, 0), "other": reading(5.0, 0)}
    assert (await client.post(E, json=ent, headers=JSON)).status == 201
    assert (await client.delete(f"{E}/{ID}/attrs/level")).status == 204
    body = await _temporal(client, query="?timeproperty=deletedAt")
    assert list(body) == ["id", "type", "level"]
    [gone] = body["level"]
    assert gone["value"] == "urn:ngsi-ld:null" and "deletedAt" in gone
    # the simplified form pairs the null with the deletion's instant
    simple = await _temporal(client, query="?timeproperty=deletedAt&options=temporalValues")
    assert simple["level"]["values"] == [["urn:ngsi-ld:null", gone["deletedAt"]]]
    # a second delete of the missing attribute is 404 and records nothing
    assert (await client.delete(f"{E}/{ID}/attrs/level")).status == 404
    assert await _count(settings) == 3
    # deleting the entity records the deletion of every attribute still there
    assert (await client.delete(f"{E}/{ID}")).status == 204
    body = await _temporal(client, query="?timeproperty=deletedAt")
    assert len(body["level"]) == 1 and len(body["other"]) == 1


async def test_refused_delete_records_nothing(client: TestClient, settings: Settings) -> None:
    ent = {"id": ID, "type": "Gauge", "level": reading(1.0, 0)}
    assert (await client.post(E, json=ent, headers=JSON)).status == 201
    # an unknown datasetId: 404, the transaction rolls back, no deletion instance
    resp = await client.delete(f"{E}/{ID}/attrs/level?datasetId=urn:ngsi-ld:nope")
    assert resp.status == 404
    assert (await client.delete(f"{E}/urn:ngsi-ld:Gauge:absent")).status == 404
    assert await _count(settings) == 1


async def test_delete_through_core_api_of_a_temporal_only_entity(client: TestClient) -> None:
    body = {"id": ID, "type": "Gauge", "scope": ["/Nagano/Ina"],
            "level": [reading(1.0, 0), reading(2.0, 10)]}
    assert (await client.post(T, json=body, headers=JSON)).status == 201
    full = await _temporal(client)
    assert full["scope"][0]["value"] == ["/Nagano/Ina"]  # the scope is kept in history
    assert (await client.delete(f"{E}/{ID}/attrs/level")).status == 204
    assert (await client.delete(f"{E}/{ID}/attrs/scope")).status == 204
    deleted = await _temporal(client, query="?timeproperty=deletedAt")
    assert deleted["level"][0]["value"] == "urn:ngsi-ld:null"
    assert deleted["scope"][0]["value"] == []
    # an attribute it never had, or an entity with no history at all: still 404
    assert (await client.delete(f"{E}/{ID}/attrs/speed")).status == 404
    assert (await client.delete(f"{E}/urn:ngsi-ld:Gauge:none/attrs/level")).status == 404


async def test_invalid_scope_in_temporal_entity_is_refused(client: TestClient) -> None:
    body = {"id": ID, "type": "Gauge", "scope": "no-slash", "level": reading(1.0, 0)}
    assert (await client.post(T, json=body, headers=JSON)).status == 400


# -- orderBy on temporal queries --------------------------------------------------------------

async def test_temporal_query_order_by_current_state(client: TestClient) -> None:
    await _dataset(client, historyMode="every")
    for n, name in ((2, "B"), (1, "C"), (3, "A")):
        ent = gauge(1.0, name, f"urn:ngsi-ld:Gauge:o{n}")
        assert (await client.post(E, json=ent, headers=JSON)).status == 201

    async def order(by: str) -> list[str]:
        resp = await client.get(f"{T}?type=Gauge&orderBy={by}&timeproperty=createdAt"
                                "&timerel=after&timeAt=1970-01-01T00:00:00Z")
        assert resp.status == 200, await resp.text()
        return [e["id"][-2:] for e in await resp.json()]

    assert await order("name") == ["o3", "o2", "o1"]
    assert await order("name;desc") == ["o1", "o2", "o3"]
    assert await order("createdAt") == ["o2", "o1", "o3"]
    assert await order("id;desc") == ["o3", "o2", "o1"]
    resp = await client.get(f"{T}?type=Gauge&orderBy=name;sideways")
    assert resp.status == 400


# -- retention honoured on read ----------------------------------------------------------------

async def test_retention_is_honoured_on_read(client: TestClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = (now - timedelta(days=40)).isoformat().replace("+00:00", "Z")
    new = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body = {"id": ID, "type": "Gauge",
            "level": [{"type": "Property", "value": 1.0, "observedAt": old},
                      {"type": "Property", "value": 2.0, "observedAt": new}]}
    assert (await client.post(T, json=body, headers=JSON)).status == 201
    assert len((await _temporal(client))["level"]) == 2  # kept for ever by default
    await _dataset(client, historyRetention="P30D")
    assert [i["value"] for i in (await _temporal(client))["level"]] == [2.0]
    agg = await _temporal(client, query="?aggrMethods=totalCount,sum&format=aggregatedValues")
    assert agg["level"]["totalCount"][0][0] == 1 and agg["level"]["sum"][0][0] == 2.0
    last = await _temporal(client, query="?lastN=5")
    assert [i["value"] for i in last["level"]] == [2.0]
    resp = await client.get(f"{T}?type=Gauge&q=level<1.5")  # the old reading cannot match
    assert resp.status == 200 and await resp.json() == []
    resp = await client.get(f"{T}?type=Gauge&q=level>1.5")
    assert [e["id"] for e in await resp.json()] == [ID]


# -- scope ------------------------------------------------------------------------------------

async def test_scope_q_on_temporal_queries(client: TestClient) -> None:
    for n, scope in ((1, ["/Nagano/Ina"]), (2, ["/Nagano/Matsumoto", "/Flood"]), (3, None)):
        body: dict[str, Any] = {"id": f"urn:ngsi-ld:Gauge:s{n}", "type": "Gauge",
                                "level": reading(float(n), n)}
        if scope is not None:
            body["scope"] = scope
        assert (await client.post(T, json=body, headers=JSON)).status == 201

    async def ids(scope_q: str) -> list[str]:
        resp = await client.get(T, params={"type": "Gauge", "scopeQ": scope_q})
        assert resp.status == 200, await resp.text()
        return [e["id"][-2:] for e in await resp.json()]

    assert await ids("/Nagano/#") == ["s1", "s2"]
    assert await ids("/Nagano/Ina") == ["s1"]
    assert await ids("/Nagano/#;/Flood") == ["s2"]
    assert await ids("/Tokyo") == []
    resp = await client.get(T, params={"scopeQ": "/Nagano/#"})  # scopeQ alone selects too
    assert [e["id"][-2:] for e in await resp.json()] == ["s1", "s2"]
    resp = await client.get(T, params={"type": "Gauge", "scopeQ": "no-slash"})
    assert resp.status == 400
