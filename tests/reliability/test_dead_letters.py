"""Dead letters (notifications that exhausted their attempts) are listed and replayed
through the Renkei extension ``/ngsi-ld/ex/v1/subscriptions/{id}/deadLetters``."""

from __future__ import annotations

import asyncio

from tests.integration.helpers import JSON, gauge
from tests.integration.receiver import Receiver, receiver
from tests.reliability.conftest import HubFactory, hub

__all__ = ["hub", "receiver"]

S = "/ngsi-ld/v1/subscriptions"
SUB = "urn:ngsi-ld:Subscription:dl"
DL = f"/ngsi-ld/ex/v1/subscriptions/{SUB}/deadLetters"


async def test_dead_letters_are_listed_and_replayed_in_order(
    hub: HubFactory, receiver: Receiver
) -> None:
    receiver.status = 500  # every attempt fails, and one attempt is all there is
    async with hub(notification_max_attempts=1) as client:
        body = {"id": SUB, "type": "Subscription", "entities": [{"type": "WeatherObserved"}],
                "notification": {"endpoint": {"uri": receiver.url()}}}
        assert (await client.post(S, json=body, headers=JSON)).status == 201
        for i in range(3):
            assert (await client.post("/ngsi-ld/v1/entities", json=gauge(i),
                                      headers=JSON)).status == 201
        letters: list[dict] = []
        for _ in range(100):
            resp = await client.get(DL + "?count=true")
            assert resp.status == 200, await resp.text()
            letters = await resp.json()
            if len(letters) == 3:
                break
            await asyncio.sleep(0.1)
        assert len(letters) == 3, letters
        assert resp.headers["NGSILD-Results-Count"] == "3"
        assert all(d["attempts"] == 1 and d["subscriptionId"] == SUB and "500" in
                   d["lastError"] and "data" not in d for d in letters), letters
        page = await (await client.get(DL + "?limit=1&offset=1")).json()
        assert [d["id"] for d in page] == [letters[1]["id"]]

        receiver.status = 200
        resp = await client.post(DL + "/replay", json={"ids": [letters[0]["id"]]},
                                 headers=JSON)
        assert resp.status == 200 and (await resp.json()) == {"replayed": 1}
        await receiver.wait_for(1)
        resp = await client.post(DL + "/replay")  # no body: all that are left
        assert (await resp.json()) == {"replayed": 2}
        await receiver.wait_for(3)
        assert await (await client.get(DL)).json() == []
        bad = await client.post(DL + "/replay", json={"ids": "all"}, headers=JSON)
        missing = await client.get("/ngsi-ld/ex/v1/subscriptions/urn:x:none/deadLetters")
    assert bad.status == 400
    assert missing.status == 404
    # replayed in their original order, each with its original notification id
    assert [r.body["id"] for r in receiver.received] == [d["id"] for d in letters]
    assert [r.body["data"][0]["id"] for r in receiver.received] == [
        f"urn:ngsi-ld:WeatherObserved:g{i}" for i in range(3)]
