"""Notifications follow the subscriber's rights at the moment they are sent, and
subscriptions are visible only to the organisation that made them (access control on)."""

from __future__ import annotations

import asyncio

from tests.integration.authz_world import BASE, JSON, World, world
from tests.integration.receiver import Receiver, receiver

__all__ = ["receiver", "world"]

S = BASE + "/subscriptions"
LATER = "2099-01-01T00:00:00Z"
RAIN = "https://uri.etsi.org/ngsi-ld/default-context/rain"


async def _update(w: World, who: str, city: str, n: int, rain: float) -> None:
    resp = await w.http.patch(f"{BASE}/entities/urn:ngsi-ld:Gauge:{city}-{n}/attrs",
                              json={"rain": {"type": "Property", "value": rain},
                                    "battery": {"type": "Property", "value": 50.0}},
                              headers=w.auth(who, **JSON))
    assert resp.status == 204, await resp.text()


async def test_notifications_follow_grants_when_sent(world: World, receiver: Receiver) -> None:
    w = world
    w.allow_receiver(receiver.port)
    gid = await w.grant({"dataset": "nagano-rain", "actions": ["read", "subscribe"],
                         "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                         "valid_until": LATER, "attributes": [RAIN]}, "firm")
    await w.refresh()
    sub = {"id": "urn:ngsi-ld:Subscription:firm", "type": "Subscription",
           "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": receiver.url()}}}
    resp = await w.http.post(S, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 201, await resp.text()

    await _update(w, "ueda", "ueda", 1, 40.0)  # no grant on Ueda's gauges: nothing
    await _update(w, "nagano", "nagano", 1, 41.0)
    [got] = await receiver.wait_for(1)
    [entity] = got.body["data"]
    assert entity["id"] == "urn:ngsi-ld:Gauge:nagano-1"
    assert entity["rain"]["value"] == 41.0
    assert "battery" not in entity, "an attribute outside the grant was notified"
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 1

    # another organisation neither sees nor changes the firm's subscription
    assert (await w.http.get(f"{S}/urn:ngsi-ld:Subscription:firm",
                             headers=w.auth("ueda"))).status == 404
    assert await (await w.http.get(S, headers=w.auth("ueda"))).json() == []
    assert (await w.http.delete(f"{S}/urn:ngsi-ld:Subscription:firm",
                                headers=w.auth("ueda"))).status == 404
    listed = await (await w.http.get(S, headers=w.auth("firm"))).json()
    assert [s["id"] for s in listed] == ["urn:ngsi-ld:Subscription:firm"]
    assert "subscriber" not in listed[0]

    # the grant is revoked: the next change notifies nobody, though the subscription stays
    resp = await w.http.post(f"/authz/v1/grants/{gid}/revoke", json={},
                             headers=w.auth("nagano-admin"))
    assert resp.status == 200
    await w.refresh()
    await _update(w, "nagano", "nagano", 2, 42.0)
    await asyncio.sleep(1.5)
    assert len(receiver.received) == 1, "a notification was sent after the grant was revoked"
