"""Two hub instances on one PostgreSQL behave as one hub (the scale-out promise)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
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
