"""Entity subscriptions over federated data (hub/federation/subscriptions.py), access
control on: a subscription is forwarded to a context source only for a subscriber who may
receive data of the registration's owner, with the registration's credentials only; what
the source notifies reaches the subscriber through the durable outbox, cut to its grant;
a forged forwardId is 404 and stores nothing; deletes reach the source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.integration.authz_world import BASE, GAUGE, JSON, RAIN, World, world
from tests.integration.receiver import Receiver, receiver

__all__ = ["receiver", "world"]

S = BASE + "/subscriptions"
LATER = "2099-01-01T00:00:00Z"
NOTIFY = "/ngsi-ld/ex/v1/federation/notifications/"


@dataclass
class Source:
    """Ueda's own NGSI-LD broker: records the subscriptions the hub makes there."""

    created: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    patched: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    port: int = 0
    fail: bool = False

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append((dict(request.headers), body))
        if self.fail:
            return web.Response(status=500)
        return web.Response(status=201,
                            headers={"Location": f"/ngsi-ld/v1/subscriptions/{body['id']}"})

    async def patch(self, request: web.Request) -> web.Response:
        self.patched.append((request.match_info["sid"], await request.json()))
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        self.deleted.append(request.match_info["sid"])
        return web.Response(status=204)


@pytest.fixture
async def source(world: World) -> AsyncIterator[Source]:
    src = Source()
    app = web.Application()
    app.router.add_post("/ngsi-ld/v1/subscriptions", src.create)
    app.router.add_patch("/ngsi-ld/v1/subscriptions/{sid}", src.patch)
    app.router.add_delete("/ngsi-ld/v1/subscriptions/{sid}", src.delete)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    src.port = server.port or 0
    world.allow_receiver(src.port)
    reg = {"id": "urn:ngsi-ld:ContextSourceRegistration:ueda-broker",
           "type": "ContextSourceRegistration",
           "information": [{"entities": [{"type": "Gauge"}]}],
           "endpoint": f"http://127.0.0.1:{src.port}",
           "contextSourceInfo": [{"key": "X-Ueda-Key", "value": "ueda-secret"}]}
    await world.register_source(reg)
    try:
        yield src
    finally:
        await server.close()


async def _grant(w: World, dataset: str, attributes: list[str] | None = None) -> None:
    body: dict[str, Any] = {"dataset": dataset, "actions": ["read", "subscribe"],
                            "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                            "valid_until": LATER}
    if attributes:
        body["attributes"] = attributes
    await w.grant(body, "firm")
    await w.refresh()


async def _subscribe(w: World, receiver: Receiver, sid: str = "urn:ngsi-ld:Subscription:f"
                     ) -> None:
    w.allow_receiver(receiver.port)
    sub = {"id": sid, "type": "Subscription", "entities": [{"type": "Gauge"}],
           "q": "rain>20", "notification": {"endpoint": {"uri": receiver.url()}}}
    resp = await w.http.post(S, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 201, await resp.text()


async def _forwarded(w: World, source: Source, receiver: Receiver,
                     attributes: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """The firm granted Ueda's rain and subscribed: the subscription the source received
    and the path of the notification endpoint it was given."""
    await _grant(w, "ueda-rain", attributes)
    await _subscribe(w, receiver)
    [(_headers, made)] = source.created
    return made, urlsplit(made["notification"]["endpoint"]["uri"]).path


async def _notify(w: World, path: str, body: Any) -> int:
    """POST as the source does: over a real socket, with no token of the hub's."""
    async with aiohttp.ClientSession() as http, http.post(
            str(w.http.make_url(path)), json=body,
            headers={"Link": '<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld>;'
                             ' rel="http://www.w3.org/ns/json-ld#context";'
                             ' type="application/ld+json"'}) as resp:
        return resp.status


def _notification(remote_id: str, rain: float) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Notification:1", "type": "Notification",
            "subscriptionId": remote_id, "notifiedAt": "2026-12-06T00:00:00Z",
            "triggerReason": "attributeUpdated",
            "data": [{"id": "urn:ngsi-ld:Gauge:ueda-remote-9", "type": GAUGE,
                      RAIN: {"type": "Property", "value": rain},
                      "https://uri.etsi.org/ngsi-ld/default-context/battery":
                          {"type": "Property", "value": 10.0}}]}


async def _rows(w: World) -> int:
    return await w.count("SELECT count(*) FROM ngsild.forwarded_subscriptions")


async def test_remote_gauges_notify_the_subscriber_cut_to_its_grant(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    await _grant(w, "ueda-rain", [RAIN])
    await _subscribe(w, receiver)
    [(headers, made)] = source.created
    # the registration's key went there, the firm's token did not
    assert headers["X-Ueda-Key"] == "ueda-secret"
    assert "Authorization" not in headers
    assert made["entities"] == [{"type": GAUGE}] and made["q"] == f"{RAIN}>20"
    uri = made["notification"]["endpoint"]["uri"]
    assert uri.startswith("http://hub.test" + NOTIFY)  # the configured public URL
    path = urlsplit(uri).path
    assert await _rows(w) == 1

    queued = await w.count("SELECT count(*) FROM ngsild.notifications")
    # forged, malformed and wrong-tenant tokens: the same 404, nothing stored
    for bad in (NOTIFY + "forged", NOTIFY + "x" * 43, path + ".bm9wZQ", path[:-1]):
        assert await _notify(w, bad, _notification(made["id"], 30.0)) == 404
    assert await w.count("SELECT count(*) FROM ngsild.notifications") == queued
    # a body that is no Notification: 400 problem details
    assert await _notify(w, path, {"type": "Entity", "data": []}) == 400

    assert await _notify(w, path, _notification(made["id"], 30.0)) == 204
    [got] = await receiver.wait_for(1)
    assert got.body["subscriptionId"] == "urn:ngsi-ld:Subscription:f"
    [entity] = got.body["data"]
    assert entity["id"] == "urn:ngsi-ld:Gauge:ueda-remote-9"
    assert entity["rain"]["value"] == 30.0
    assert "battery" not in entity, "an attribute the grant withholds was notified"
    assert "refDataset" not in entity
    # the subscription's own q is applied here too: 5 mm is no notification
    assert await _notify(w, path, _notification(made["id"], 5.0)) == 204
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 1

    # deleting the local subscription deletes the remote one and closes the endpoint
    resp = await w.http.delete(f"{S}/urn:ngsi-ld:Subscription:f", headers=w.auth("firm"))
    assert resp.status == 204
    assert source.deleted == [made["id"]]
    assert await _rows(w) == 0
    assert await _notify(w, path, _notification(made["id"], 30.0)) == 404


async def test_no_forwarding_without_a_grant_on_the_owner(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    await _grant(w, "nagano-rain")  # the firm may subscribe to gauges, Nagano's only
    await _subscribe(w, receiver)
    assert source.created == []
    assert await _rows(w) == 0
    await asyncio.sleep(0.5)
    assert receiver.received == []


async def test_deleting_the_registration_stops_forwarding(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    made, path = await _forwarded(w, source, receiver)
    resp = await w.http.delete(
        BASE + "/csourceRegistrations/urn:ngsi-ld:ContextSourceRegistration:ueda-broker",
        headers=w.auth("ueda"))
    assert resp.status == 204, await resp.text()
    assert source.deleted == [made["id"]]  # the subscription made there is gone too
    assert await _rows(w) == 0
    assert await _notify(w, path, _notification(made["id"], 30.0)) == 404
    await asyncio.sleep(0.5)
    assert receiver.received == []


async def test_patch_reaches_the_source(world: World, source: Source,
                                        receiver: Receiver) -> None:
    w = world
    made, path = await _forwarded(w, source, receiver)
    resp = await w.http.patch(f"{S}/urn:ngsi-ld:Subscription:f", json={"q": "rain>40"},
                              headers=w.auth("firm", **JSON))
    assert resp.status == 204, await resp.text()
    [(sid, members)] = source.patched
    assert sid == made["id"] and members["q"] == f"{RAIN}>40"
    assert "notification" not in members and len(source.created) == 1
    # paused here: paused there, and what the source still sends is not delivered
    resp = await w.http.patch(f"{S}/urn:ngsi-ld:Subscription:f", json={"isActive": False},
                              headers=w.auth("firm", **JSON))
    assert resp.status == 204, await resp.text()
    assert source.patched[-1][1]["isActive"] is False
    assert await _notify(w, path, _notification(made["id"], 50.0)) == 204
    await asyncio.sleep(1.0)
    assert receiver.received == []


async def test_a_json_ld_notification_is_expanded_with_its_own_context(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    made, path = await _forwarded(w, source, receiver)
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
    body = {"id": "urn:ngsi-ld:Notification:2", "type": "Notification",
            "subscriptionId": made["id"], "notifiedAt": "2026-12-06T00:00:00Z",
            "data": [{"@context": core, "id": "urn:ngsi-ld:Gauge:ueda-remote-7",
                      "type": "Gauge", "rain": {"type": "Property", "value": 33.0}}]}
    async with aiohttp.ClientSession() as http, http.post(
            str(w.http.make_url(path)), data=json.dumps(body),
            headers={"Content-Type": "application/ld+json"}) as resp:
        assert resp.status == 204, await resp.text()
    [got] = await receiver.wait_for(1)
    [entity] = got.body["data"]
    assert entity["id"] == "urn:ngsi-ld:Gauge:ueda-remote-7"
    assert entity["type"] == "Gauge" and entity["rain"]["value"] == 33.0
    # a notification for another subscription id at this endpoint is refused
    body["subscriptionId"] = "urn:ngsi-ld:Subscription:other"
    async with aiohttp.ClientSession() as http, http.post(
            str(w.http.make_url(path)), data=json.dumps(body),
            headers={"Content-Type": "application/ld+json"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["type"].endswith("/BadRequestData")


async def test_a_failing_source_does_not_fail_the_subscription(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    source.fail = True
    made, path = await _forwarded(w, source, receiver)  # 201 all the same
    assert await _rows(w) == 0  # nothing listens for that source's notifications
    assert await _notify(w, path, _notification(made["id"], 30.0)) == 404
    resp = await w.http.get(f"{S}/urn:ngsi-ld:Subscription:f", headers=w.auth("firm"))
    assert resp.status == 200


async def test_rows_left_by_a_crash_close_with_the_first_notification(
        world: World, source: Source, receiver: Receiver) -> None:
    w = world
    made, path = await _forwarded(w, source, receiver)
    # the subscription's row went, the hook never ran (a crash in between)
    await w.count("WITH d AS (DELETE FROM ngsild.subscriptions RETURNING 1)"
                  " SELECT count(*) FROM d")
    assert await _notify(w, path, _notification(made["id"], 30.0)) == 404
    assert await _rows(w) == 0


async def test_a_flooding_source_is_refused_with_429(
        world: World, source: Source, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A forwardId's holder cannot queue rows as fast as it can post: past the entities a
    forwarding may deliver per minute, 429 with Retry-After, and nothing more is queued.
    The clock is fixed so that the minute cannot turn during the test."""
    from hub.api import federation_notify
    from hub.service.access_state import AccessState

    def half_past() -> datetime:
        return datetime(2027, 1, 15, 9, 30, 30, tzinfo=UTC)

    monkeypatch.setattr(AccessState, "_now", staticmethod(half_past))
    monkeypatch.setattr(federation_notify, "ENTITIES_PER_MINUTE", 2)
    w = world
    made, path = await _forwarded(w, source, receiver, [RAIN])
    assert await _notify(w, path, _notification(made["id"], 30.0)) == 204
    assert await _notify(w, path, _notification(made["id"], 31.0)) == 204
    async with aiohttp.ClientSession() as http, http.post(
            str(w.http.make_url(path)), json=_notification(made["id"], 32.0)) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "30"
    got = await receiver.wait_for(2)
    await asyncio.sleep(1.0)  # the refused third would have arrived by now
    assert len(receiver.received) == 2
    assert sorted(g.body["data"][0]["rain"]["value"] for g in got) == [30.0, 31.0]
