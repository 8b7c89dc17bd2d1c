"""Subscription API (GS CIM 009 5.8) and notifications against real PostgreSQL and a real
local HTTP receiver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.integration.helpers import JSON, assert_problem, gauge
from tests.integration.receiver import Receiver, receiver

__all__ = ["receiver"]  # the fixture, used by the tests below

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


def subscription(receiver: Receiver, n: int = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Subscription:s{n}",
        "type": "Subscription",
        "entities": [{"type": "WeatherObserved"}],
        "notification": {"endpoint": {"uri": receiver.url(), "accept": "application/json"}},
    }
    body.update(extra)
    return body


async def create(client: TestClient, body: dict[str, Any]) -> None:
    resp = await client.post(S, json=body, headers=JSON)
    assert resp.status == 201, await resp.text()


async def test_create_retrieve_query_update_delete(client: TestClient,
                                                   receiver: Receiver) -> None:
    body = subscription(receiver, watchedAttributes=["precipitation"], q="precipitation>30",
                        throttling=5)
    resp = await client.post(S, json=body, headers=JSON)
    assert resp.status == 201
    assert resp.headers["Location"] == f"{S}/urn:ngsi-ld:Subscription:s1"

    got = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    assert got["entities"] == [{"type": "WeatherObserved"}]
    assert got["watchedAttributes"] == ["precipitation"]
    assert got["q"] == "precipitation>30"
    assert got["status"] == "active"
    assert got["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    # the broker adds no member the client did not send, nor zero counters (as the ETSI
    # suite compares retrieved subscriptions exactly)
    assert "isActive" not in got and "timesSent" not in got["notification"]
    assert got["notification"] == {"endpoint": {"uri": receiver.url(),
                                                "accept": "application/json"}}

    await create(client, subscription(receiver, 2))
    resp = await client.get(S, params={"count": "true", "limit": "1"})
    assert resp.headers["NGSILD-Results-Count"] == "2"
    assert [s["id"] for s in await resp.json()] == ["urn:ngsi-ld:Subscription:s1"]

    resp = await client.patch(f"{S}/urn:ngsi-ld:Subscription:s1", headers=JSON,
                              json={"q": "precipitation>50", "isActive": False})
    assert resp.status == 204
    got = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    assert got["q"] == "precipitation>50" and got["status"] == "paused"
    assert got["isActive"] is False
    assert got["watchedAttributes"] == ["precipitation"]

    assert (await client.delete(f"{S}/urn:ngsi-ld:Subscription:s1")).status == 204
    await assert_problem(await client.get(f"{S}/urn:ngsi-ld:Subscription:s1"), 404,
                         "ResourceNotFound")
    await assert_problem(await client.delete(f"{S}/urn:ngsi-ld:Subscription:s1"), 404,
                         "ResourceNotFound")


@pytest.mark.parametrize("change", [
    {"type": "Entity"},
    {"notification": {}},
    {"notification": {"endpoint": {"uri": "not a uri"}}},
    {"notification": {"endpoint": {"uri": "ftp://x/y"}}},
    {"notification": {"endpoint": {"uri": "http://x/y"}, "format": "fancy"}},
    {"throttling": -1},
    {"timeInterval": 5, "throttling": 5},
    {"timeInterval": 5, "watchedAttributes": ["a"]},
    {"q": "a>>1"},
    {"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}},
    {"expiresAt": "yesterday"},
    {"entities": [{"id": "urn:x:1"}]},
    {"notificationTrigger": ["whenever"]},
    {"notification": {"endpoint": {"uri": "http://169.254.169.254/latest"}}},
    {"notification": {"endpoint": {"uri": "http://x/y"}, "attributes": ["a"],
                      "pick": ["a"]}},
])
async def test_invalid_subscriptions_are_rejected_and_nothing_is_stored(
    client: TestClient, receiver: Receiver, change: dict[str, Any]
) -> None:
    body = subscription(receiver)
    body.update(change)
    await assert_problem(await client.post(S, json=body, headers=JSON), 400, "BadRequestData")
    resp = await client.get(S, params={"count": "true"})
    assert resp.headers["NGSILD-Results-Count"] == "0"


async def test_conflicts_and_bad_ids(client: TestClient, receiver: Receiver) -> None:
    await create(client, subscription(receiver))
    await assert_problem(await client.post(S, json=subscription(receiver), headers=JSON), 409,
                         "AlreadyExists")
    await assert_problem(await client.get(f"{S}/not-a-uri"), 400, "BadRequestData")
    await assert_problem(
        await client.patch(f"{S}/urn:ngsi-ld:Subscription:s1", headers=JSON,
                           json={"throttling": "often"}), 400, "BadRequestData")
    got = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    assert "throttling" not in got, "a rejected update leaves the subscription unchanged"
    await assert_problem(await client.patch(f"{S}/urn:ngsi-ld:Subscription:nope",
                                            headers=JSON, json={"q": "a>1"}),
                         404, "ResourceNotFound")


async def test_notification_on_create_and_update(client: TestClient,
                                                 receiver: Receiver) -> None:
    await create(client, subscription(receiver, watchedAttributes=["precipitation"]))
    assert (await client.post(E, json=gauge(1, 12.5), headers=JSON)).status == 201
    [first] = await receiver.wait_for(1)
    assert first.body["type"] == "Notification"
    assert first.body["subscriptionId"] == "urn:ngsi-ld:Subscription:s1"
    assert first.body["id"].startswith("urn:ngsi-ld:Notification:")
    assert first.headers["Content-Type"] == "application/json"
    assert CORE in first.headers["Link"]
    [entity] = first.body["data"]
    assert entity["id"] == "urn:ngsi-ld:WeatherObserved:g1"
    assert entity["precipitation"] == {"type": "Property", "value": 12.5, "unitCode": "MMT"}

    resp = await client.patch(f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs", headers=JSON,
                              json={"precipitation": {"type": "Property", "value": 31.0}})
    assert resp.status == 204
    await receiver.wait_for(2)
    assert receiver.received[1].body["data"][0]["precipitation"]["value"] == 31.0
    # a change to an attribute that is not watched notifies nobody
    resp = await client.patch(f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs", headers=JSON,
                              json={"location": {"type": "GeoProperty", "value": {
                                  "type": "Point", "coordinates": [138.0, 36.0]}}})
    assert resp.status == 204
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 2
    sub = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    assert sub["notification"]["timesSent"] == 2
    assert sub["notification"]["status"] == "ok"
    assert "lastSuccess" in sub["notification"]


async def test_q_filter_key_values_and_attributes(client: TestClient,
                                                  receiver: Receiver) -> None:
    note = {"endpoint": {"uri": receiver.url()}, "format": "keyValues",
            "attributes": ["precipitation"]}
    await create(client, subscription(receiver, q="precipitation>30", notification=note))
    for n, mm in ((1, 10.0), (2, 45.0), (3, 5.0), (4, 30.5)):
        assert (await client.post(E, json=gauge(n, mm), headers=JSON)).status == 201
    await receiver.wait_for(2)
    await asyncio.sleep(0.3)
    data = receiver.data()
    assert sorted(d["id"] for d in data) == ["urn:ngsi-ld:WeatherObserved:g2",
                                             "urn:ngsi-ld:WeatherObserved:g4"]
    assert all(set(d) == {"id", "type", "precipitation"} for d in data)
    assert {d["precipitation"] for d in data} == {45.0, 30.5}


async def test_show_changes_and_entity_deleted(client: TestClient, receiver: Receiver) -> None:
    note = {"endpoint": {"uri": receiver.url()}, "showChanges": True}
    await create(client, subscription(
        receiver, notification=note,
        notificationTrigger=["attributeUpdated", "entityDeleted"]))
    assert (await client.post(E, json=gauge(1, 1.0), headers=JSON)).status == 201
    resp = await client.patch(f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs", headers=JSON,
                              json={"precipitation": {"type": "Property", "value": 2.0}})
    assert resp.status == 204
    [update] = await receiver.wait_for(1)
    prec = update.body["data"][0]["precipitation"]
    assert prec["value"] == 2.0 and prec["previousValue"] == 1.0
    assert (await client.delete(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).status == 204
    await receiver.wait_for(2)
    deleted = receiver.received[1].body["data"][0]
    assert deleted["id"] == "urn:ngsi-ld:WeatherObserved:g1"
    assert "deletedAt" in deleted
    assert len(receiver.received) == 2, "the creation fired no trigger of this subscription"


async def test_periodic_subscription(client: TestClient, receiver: Receiver) -> None:
    assert (await client.post(E, json=gauge(1, 3.0), headers=JSON)).status == 201
    await create(client, subscription(receiver, timeInterval=1))
    received = await receiver.wait_for(2, seconds=5)
    assert all(r.body["data"][0]["id"] == "urn:ngsi-ld:WeatherObserved:g1" for r in received)


async def test_receiver_down_then_back_loses_nothing(client: TestClient,
                                                     receiver: Receiver) -> None:
    await create(client, subscription(receiver))
    receiver.status = 503
    for n in range(5):
        assert (await client.post(E, json=gauge(n, 1.0), headers=JSON)).status == 201
    await asyncio.sleep(1.2)
    sub = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    assert sub["notification"]["timesFailed"] >= 1
    assert sub["notification"]["status"] == "failed"
    receiver.status = 200
    await receiver.wait_for(5, seconds=15)
    await asyncio.sleep(0.5)
    ids = [r.body["data"][0]["id"] for r in receiver.received]
    assert sorted(ids) == sorted(f"urn:ngsi-ld:WeatherObserved:g{n}" for n in range(5))
    assert len({r.body["id"] for r in receiver.received}) == 5, "none delivered twice"


async def test_json_ld_notification_and_tenant(client: TestClient, receiver: Receiver) -> None:
    tenant = {"NGSILD-Tenant": "ueda", **JSON}
    note = {"endpoint": {"uri": receiver.url(), "accept": "application/ld+json",
                         "receiverInfo": [{"key": "X-Token", "value": "abc"}]}}
    resp = await client.post(S, json=subscription(receiver, notification=note), headers=tenant)
    assert resp.status == 201
    assert (await client.post(E, json=gauge(1), headers=tenant)).status == 201
    [got] = await receiver.wait_for(1)
    assert got.headers["Content-Type"] == "application/ld+json"
    assert got.body["data"][0]["@context"] == CORE  # each entity carries its @context
    assert "Link" not in got.headers
    assert got.headers["NGSILD-Tenant"] == "ueda"
    assert got.headers["X-Token"] == "abc"
    # the default tenant has no subscription: its entities notify nobody
    assert (await client.post(E, json=gauge(2), headers=JSON)).status == 201
    await asyncio.sleep(0.4)
    assert len(receiver.received) == 1


async def test_composite_context_becomes_implicitly_created(client: TestClient,
                                                            receiver: Receiver) -> None:
    """A subscription whose @context is more than one URL gets an ImplicitlyCreated context
    (5.13) whose URL it names as jsonldContext; that context cannot be reloaded."""
    body = subscription(receiver)
    body["@context"] = [{"rain": "https://example.org/nagano#rain"}, CORE]
    resp = await client.post(S, json=body, headers={"Content-Type": "application/ld+json"})
    assert resp.status == 201, await resp.text()
    got = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:s1")).json()
    url = got["jsonldContext"]
    assert "/ngsi-ld/v1/jsonldContexts/" in url
    listed = await (await client.get("/ngsi-ld/v1/jsonldContexts",
                                     params={"kind": "ImplicitlyCreated"})).json()
    assert url in listed
    local = url.rsplit("/", 1)[1]
    await assert_problem(await client.delete(f"/ngsi-ld/v1/jsonldContexts/{local}",
                                             params={"reload": "true"}),
                         400, "BadRequestData")
    # a merge-patch update is accepted like a JSON one (6.3.4)
    resp = await client.patch(f"{S}/urn:ngsi-ld:Subscription:s1", json={"throttling": 2},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status == 204


async def test_batch_upsert_notifies_inserts_and_updates_of_one_statement(
    client: TestClient, receiver: Receiver
) -> None:
    """One upsert statement fires both the insert and the update trigger."""
    assert (await client.post(E, json=gauge(1, 1.0), headers=JSON)).status == 201
    await create(client, subscription(receiver))
    resp = await client.post("/ngsi-ld/v1/entityOperations/upsert",
                             json=[gauge(1, 5.0), gauge(2, 6.0)], headers=JSON)
    assert resp.status in (200, 201, 204), await resp.text()
    await receiver.wait_for(2)
    await asyncio.sleep(0.3)
    assert sorted((d["id"], d["precipitation"]["value"]) for d in receiver.data()) == [
        ("urn:ngsi-ld:WeatherObserved:g1", 5.0), ("urn:ngsi-ld:WeatherObserved:g2", 6.0)]
