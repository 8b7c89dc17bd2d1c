"""Context source registrations keep the trust boundary (issue #17, "Federation that keeps
the trust boundary"), with access control on:

- a registration records its owner; another organisation can neither change nor delete
  it (403, nothing changed), the operator can;
- an endpoint the egress policy refuses (loopback, link-local, the cloud metadata
  address) cannot be registered, so a firm cannot make the hub call inside addresses;
- the credentials a registration carries for its source are write-only: no reader, the
  owner included, ever sees them, not in answers and not in notifications;
- registration subscriptions belong to their organisation and notify through the same
  durable delivery as entity subscriptions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.authz_world import BASE, JSON, NAGANO, PREF, World
from tests.integration.receiver import Receiver, receiver
from tests.security.conftest import Digest, digest, w, world

__all__ = ["digest", "receiver", "w", "world"]

R = BASE + "/csourceRegistrations"
CS = BASE + "/csourceSubscriptions"
REG_ID = "urn:ngsi-ld:ContextSourceRegistration:nagano-1"
SECRET = "Bearer nagano-s3cret"


def registration(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": REG_ID, "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Gauge"}], "propertyNames": ["rain"]}],
        "endpoint": "https://broker.city.nagano.example/ngsi-ld",
        "contextSourceInfo": [{"key": "Authorization", "value": SECRET},
                              {"key": "X-Source-Token", "value": "tok-123"}],
    }
    body.update(extra)
    return body


async def _register(w: World, who: str = "nagano", **extra: Any) -> None:
    resp = await w.http.post(R, json=registration(**extra), headers=w.auth(who, **JSON))
    assert resp.status == 201, await resp.text()


async def test_owner_recorded_and_only_owner_or_operator_changes(world: World,
                                                                 digest: Digest) -> None:
    w = world
    await _register(w)
    assert await w.count("SELECT count(*) FROM ngsild.csource_registrations"
                         " WHERE owner = $1", NAGANO) == 1
    await digest.seal()
    for method, body in (("PATCH", {"endpoint": "https://evil.example"}), ("DELETE", None)):
        resp = await w.http.request(method, f"{R}/{REG_ID}", json=body,
                                    headers=w.auth("ueda", **JSON))
        assert resp.status == 403, await resp.text()
    # a reader without the write scope is refused by the route table
    resp = await w.http.delete(f"{R}/{REG_ID}", headers=w.auth("firm"))
    assert resp.status == 403
    await digest.check()
    # the owner changes it; the operator (the prefecture, with a write client) deletes it
    resp = await w.http.patch(f"{R}/{REG_ID}", json={"registrationName": "rain"},
                              headers=w.auth("nagano", **JSON))
    assert resp.status == 204, await resp.text()
    await w.login("pref-writer", PREF, ["read", "write"])
    resp = await w.http.delete(f"{R}/{REG_ID}", headers=w.auth("pref-writer"))
    assert resp.status == 204, await resp.text()
    await digest.seal()


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:5432", "http://localhost:8080/ngsi-ld", "http://[::1]:1026",
    "http://169.254.169.254/latest/meta-data", "http://10.0.0.5:1026",
])
async def test_inside_endpoints_are_refused(w: World, endpoint: str) -> None:
    resp = await w.http.post(R, json=registration(endpoint=endpoint),
                             headers=w.auth("nagano", **JSON))
    body = await resp.json()
    assert resp.status == 400, body
    assert body["type"].endswith("BadRequestData") and "egress" in body["detail"]


async def test_patch_to_an_inside_endpoint_is_refused(world: World, digest: Digest) -> None:
    await _register(world)
    await digest.seal()
    resp = await world.http.patch(f"{R}/{REG_ID}", json={"endpoint": "http://127.0.0.1:22"},
                                  headers=world.auth("nagano", **JSON))
    assert resp.status == 400, await resp.text()


async def test_secrets_are_write_only(world: World) -> None:
    w = world
    await _register(w)
    for who in ("nagano", "ueda", "firm"):
        for url, params in ((f"{R}/{REG_ID}", None), (R, {"type": "Gauge"})):
            resp = await w.http.get(url, params=params, headers=w.auth(who))
            text = await resp.text()
            assert resp.status == 200, text
            assert "s3cret" not in text and "tok-123" not in text, (who, text)
            assert '"***"' in text
    # anonymous callers see no registration at all
    assert await (await w.http.get(R, params={"type": "Gauge"})).json() == []
    assert (await w.http.get(f"{R}/{REG_ID}")).status == 404


async def test_registration_subscriptions_belong_to_their_organisation(
        world: World, receiver: Receiver) -> None:
    w = world
    w.allow_receiver(receiver.port)
    sub = {"id": "urn:ngsi-ld:Subscription:firm-cs", "type": "Subscription",
           "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": receiver.url()}}}
    resp = await w.http.post(CS, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 201, await resp.text()
    # the firm's subscription is not another organisation's to see or change
    assert (await w.http.get(f"{CS}/urn:ngsi-ld:Subscription:firm-cs",
                             headers=w.auth("ueda"))).status == 404
    assert (await w.http.delete(f"{CS}/urn:ngsi-ld:Subscription:firm-cs",
                                headers=w.auth("ueda"))).status == 404
    assert await (await w.http.get(CS, headers=w.auth("ueda"))).json() == []
    await _register(w)
    [got] = await receiver.wait_for(1)
    assert got.body["type"] == "ContextSourceNotification"
    assert got.body["data"][0]["id"] == REG_ID
    assert "s3cret" not in str(got.body) and "tok-123" not in str(got.body)
    await asyncio.sleep(0.2)
    listed = await (await w.http.get(CS, headers=w.auth("firm"))).json()
    assert [s["id"] for s in listed] == ["urn:ngsi-ld:Subscription:firm-cs"]
    assert listed[0]["notification"]["timesSent"] == 1


async def test_registration_subscription_endpoint_obeys_egress(w: World) -> None:
    sub = {"type": "Subscription", "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": "http://169.254.169.254/x"}}}
    resp = await w.http.post(CS, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 400, await resp.text()
