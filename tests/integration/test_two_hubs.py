"""Two hub instances on one PostgreSQL behave as one hub (the scale-out promise)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.query.values import index_rows
from hub.settings import Settings
from tests.integration.helpers import JSON, gauge

E = "/ngsi-ld/v1/entities"


async def test_two_hubs_share_state_and_lose_no_update(
    client: TestClient, settings: Settings
) -> None:
    async with TestClient(TestServer(create_app(settings))) as other:
        assert (await client.post(E, json=gauge(1), headers=JSON)).status == 201
        seen = await other.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")
        assert seen.status == 200
        # 40 concurrent appends of distinct attributes through both hubs: all must survive
        url = f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs"

        async def append(c: TestClient, i: int) -> int:
            resp = await c.post(url, json={f"a{i}": {"type": "Property", "value": i}},
                                headers=JSON)
            return resp.status

        statuses = await asyncio.gather(
            *(append(client if i % 2 else other, i) for i in range(40))
        )
        assert set(statuses) == {204}
        body = await (await other.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
        assert {f"a{i}" for i in range(40)} <= set(body)
        # a tenant created through one hub is known to the other
        t = {**JSON, "NGSILD-Tenant": "ueda"}
        assert (await other.post(E, json=gauge(2), headers=t)).status == 201
        resp = await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g2",
                                headers={"NGSILD-Tenant": "ueda"})
        assert resp.status == 200


async def test_two_hubs_upserting_the_same_new_ids_keep_each_entity_and_its_index_exact(
    client: TestClient, settings: Settings
) -> None:
    """Batch upserts of the same new ids race through both hubs: every entity ends as one
    of the writes, and its value-index rows are exactly those of its stored value (the
    second writer of a new id once left the first one's rows beside its own)."""
    async with TestClient(TestServer(create_app(settings))) as other:
        async def upsert(c: TestClient, mm: float) -> int:
            batch = [gauge(n, mm) for n in range(30)]
            resp = await c.post("/ngsi-ld/v1/entityOperations/upsert", json=batch,
                                headers=JSON)
            return resp.status

        for round_ in range(4):
            await client.delete(f"{E}/urn:ngsi-ld:WeatherObserved:g0")  # 404 the first time
            async with client.server.app[keys.POOL].acquire() as con:
                await con.execute("DELETE FROM ngsild.entity_values")
                await con.execute("DELETE FROM ngsild.entity_geo")
                await con.execute("DELETE FROM ngsild.entities")
            statuses = await asyncio.gather(
                *(upsert(client if i % 2 else other, float(10 * round_ + i)) for i in range(6)))
            assert set(statuses) <= {201, 204}, statuses
            async with client.server.app[keys.POOL].acquire() as con:
                stored = await con.fetch("SELECT pk, attrs FROM ngsild.entities")
                rows = await con.fetch("SELECT eid, attr, num, txt FROM ngsild.entity_values")
            assert len(stored) == 30
            by_entity: dict[int, list[tuple[Any, ...]]] = {}
            for r in rows:
                by_entity.setdefault(r["eid"], []).append((r["attr"], r["num"], r["txt"]))
            for ent in stored:
                assert sorted(by_entity.get(ent["pk"], []), key=repr) == sorted(
                    index_rows(ent["attrs"]), key=repr)
