"""Context source registrations (GS CIM 009 5.9, 5.10), subscriptions to them (5.11) and
/info/sourceIdentity, against real PostgreSQL and a real local receiver (dev mode: the
NGSI-LD behaviour; tests/security/test_csource_trust.py runs them with access control)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.store import csources
from tests.integration.helpers import JSON, assert_problem
from tests.integration.receiver import Receiver, receiver

__all__ = ["receiver"]  # the fixture, used by the tests below

R = "/ngsi-ld/v1/csourceRegistrations"
CS = "/ngsi-ld/v1/csourceSubscriptions"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def registration(n: int = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:r{n}",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Building"}],
                         "propertyNames": ["name"], "relationshipNames": ["locatedAt"]}],
        "endpoint": f"http://source{n}.example.org:1026",
    }
    body.update(extra)
    return body


async def create(client: TestClient, body: dict[str, Any]) -> None:
    resp = await client.post(R, json=body, headers=JSON)
    assert resp.status == 201, await resp.text()


async def ids(client: TestClient, **params: str) -> list[str]:
    resp = await client.get(R, params=params)
    assert resp.status == 200, await resp.text()
    return [r["id"] for r in await resp.json()]


async def test_crud(client: TestClient) -> None:
    body = registration(registrationName="city sensors", mode="inclusive",
                        operations=["retrieveOps"], managementInterval={
                            "startAt": "2026-01-01T00:00:00Z"})
    resp = await client.post(R, json=body, headers=JSON)
    assert resp.status == 201
    assert resp.headers["Location"] == f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"
    got = await (await client.get(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1")).json()
    assert got == {k: v for k, v in body.items()}  # exactly what was sent, nothing added
    await assert_problem(await client.post(R, json=body, headers=JSON), 409, "AlreadyExists")

    resp = await client.patch(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1", headers=JSON,
                              json={"endpoint": "http://moved.example.org",
                                    "registrationName": None})
    assert resp.status == 204
    got = await (await client.get(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1",
                                  params={"options": "sysAttrs"})).json()
    assert got["endpoint"] == "http://moved.example.org"
    assert "registrationName" not in got and got["createdAt"] <= got["modifiedAt"]

    assert (await client.delete(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1")).status == 204
    await assert_problem(await client.get(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"),
                         404, "ResourceNotFound")
    await assert_problem(await client.delete(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"),
                         404, "ResourceNotFound")


async def test_stored_form_is_expanded_and_rendered_with_the_callers_context(
        client: TestClient) -> None:
    await create(client, registration(csourceProperty="x"))
    app = client.server.app
    from hub import keys
    async with app[keys.POOL].acquire() as con:
        [active] = await csources.active_registrations(con)
    info = active["body"]["information"][0]
    assert info["entities"] == [{"type": DEFAULT + "Building"}]
    assert info["propertyNames"] == [DEFAULT + "name"]
    assert info["relationshipNames"] == [DEFAULT + "locatedAt"]
    assert active["body"][DEFAULT + "csourceProperty"] == "x"
    assert active["mode"] == "inclusive" and active["owner"] is None
    assert active["endpoint"] == "http://source1.example.org:1026"
    got = await (await client.get(f"{R}/{active['id']}")).json()
    assert got["information"] == registration()["information"]
    assert got["csourceProperty"] == "x"


@pytest.mark.parametrize("change", [
    {"type": "Registration"},
    {"information": []},
    {"information": [{"entities": [{"id": "urn:x:1"}]}]},  # EntityInfo without a type
    {"information": None},
    {"endpoint": "not a uri"},
    {"endpoint": "ftp://x.example.org"},
    {"mode": "sometimes"},
    {"expiresAt": "2001-01-01T00:00:00Z"},
    {"observationInterval": {"startAt": "yesterday"}},
    {"location": {"type": "Point", "coordinates": [500, 1]}},
    {"management": {"timeout": 0}},
    {"contextSourceInfo": [{"key": "a"}]},
    # 4.3.6.3: exclusive names an entity id and attributes; 5.9.2.4 auxiliary reads only
    {"mode": "exclusive"},
    {"mode": "exclusive", "information": [{"entities": [{"type": "Building",
                                                         "idPattern": ".*"}],
                                           "propertyNames": ["name"]}]},
    {"mode": "auxiliary", "operations": ["updateOps"]},
])
async def test_invalid_registrations_are_bad_request_data(client: TestClient,
                                                          change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**registration(), **change}.items() if v is not None}
    if change.get("information", 1) is None:
        body["information"] = None
    await assert_problem(await client.post(R, json=body, headers=JSON), 400, "BadRequestData")
    assert await ids(client, type="Building") == []


async def test_patch_rules(client: TestClient) -> None:
    await create(client, registration())
    url = f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"
    for patch in ({"information": None}, {"endpoint": None}, {"type": "Building"},
                  {"id": "urn:x:other"}, {"mode": "exclusive"}):
        await assert_problem(await client.patch(url, json=patch, headers=JSON), 400,
                             "BadRequestData")
    await assert_problem(await client.patch(f"{R}/urn:ngsi-ld:ContextSourceRegistration:no",
                                            json={"endpoint": "http://x.org"}, headers=JSON),
                         404, "ResourceNotFound")
    await assert_problem(await client.patch(f"{R}/notauri", json={}, headers=JSON), 400,
                         "BadRequestData")
    got = await (await client.get(url)).json()
    assert got == registration()  # nothing of the refused updates was stored


async def test_discovery_filters(client: TestClient) -> None:
    await create(client, registration(1, location={"type": "Point", "coordinates": [138.2, 36.6]},
                                      csourceProperty="a", scope="/Nagano/City"))
    await create(client, registration(2, information=[{"entities": [
        {"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:1"}], "propertyNames": ["speed"]}],
        observationInterval={"startAt": "2020-01-01T00:00:00Z",
                             "endAt": "2021-01-01T00:00:00Z"}))
    await create(client, registration(3, information=[{"entities": [
        {"type": "Vehicle", "idPattern": "urn:ngsi-ld:Vehicle:9.*"}]}]))
    r1, r2, r3 = (f"urn:ngsi-ld:ContextSourceRegistration:r{n}" for n in (1, 2, 3))
    assert await ids(client, type="Building") == [r1]
    assert await ids(client, type="Vehicle") == [r2, r3]
    assert await ids(client, type="Vehicle", id="urn:ngsi-ld:Vehicle:1") == [r2]
    assert await ids(client, type="Vehicle", id="urn:ngsi-ld:Vehicle:95") == [r3]
    assert await ids(client, attrs="speed") == [r2, r3]  # r3 names no attribute: all
    assert await ids(client, attrs="name") == [r1, r3]
    assert await ids(client, q='csourceProperty=="a"') == [r1]
    assert await ids(client, csf='endpoint=="http://source2.example.org:1026"') == [r2]
    assert await ids(client, type="Building", scopeQ="/Nagano/#") == [r1]
    assert await ids(client, georel="near;maxDistance==2000", geometry="Point",
                     coordinates="[138.2,36.61]") == [r1]
    assert await ids(client, type="Vehicle", timerel="before",
                     timeAt="2020-06-01T00:00:00Z") == [r2]
    assert await ids(client, type="Vehicle", timerel="after",
                     timeAt="2022-06-01T00:00:00Z") == []
    resp = await client.get(R, params={"type": "Vehicle", "limit": "1", "offset": "1",
                                       "count": "true"})
    assert resp.headers["NGSILD-Results-Count"] == "2"
    assert [r["id"] for r in await resp.json()] == [r3]
    assert 'rel="prev"' in resp.headers["Link"]
    for bad in ({}, {"id": "notauri"}, {"q": "(x"}, {"georel": "within"},
                {"type": "Vehicle", "timerel": "before"}):
        await assert_problem(await client.get(R, params=bad), 400, "BadRequestData")


async def test_secrets_are_never_rendered(client: TestClient) -> None:
    info = [{"key": "Authorization", "value": "Bearer s3cret"},
            {"key": "X-Api-Key", "value": "k3y"}, {"key": "Fiware-Service", "value": "ueda"}]
    await create(client, registration(contextSourceInfo=info))
    url = f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"
    for resp in (await client.get(url), await client.get(R, params={"type": "Building"})):
        text = await resp.text()
        assert "s3cret" not in text and "k3y" not in text and "ueda" in text
    got = await (await client.get(url)).json()
    assert got["contextSourceInfo"] == [{"key": "Authorization", "value": "***"},
                                        {"key": "X-Api-Key", "value": "***"},
                                        {"key": "Fiware-Service", "value": "ueda"}]
    # an update that sends the rendered form back keeps the stored secrets
    resp = await client.patch(url, json={"contextSourceInfo": got["contextSourceInfo"]},
                              headers=JSON)
    assert resp.status == 204
    from hub import keys
    async with client.server.app[keys.POOL].acquire() as con:
        [active] = await csources.active_registrations(con)
    assert active["body"]["contextSourceInfo"] == info


async def test_expired_registrations_are_gone(client: TestClient) -> None:
    await create(client, registration(expiresAt="2099-01-01T00:00:00Z"))
    from hub import keys
    async with client.server.app[keys.POOL].acquire() as con:
        await con.execute("UPDATE ngsild.csource_registrations SET expires_at = now()")
        assert await csources.active_registrations(con) == []
    assert await ids(client, type="Building") == []
    await assert_problem(await client.get(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1"),
                         404, "ResourceNotFound")


async def test_registration_subscription_notifications(client: TestClient,
                                                       receiver: Receiver) -> None:
    """Created, updated, no longer matching and deleted registrations are notified
    through the durable delivery of entity subscriptions, as ContextSourceNotifications."""
    await create(client, registration(1))
    sub = {"id": "urn:ngsi-ld:Subscription:cs1", "type": "Subscription",
           "entities": [{"type": "Building"}],
           "notification": {"endpoint": {"uri": receiver.url(), "accept": "application/json"}}}
    resp = await client.post(CS, json=sub, headers=JSON)
    assert resp.status == 201, await resp.text()
    [first] = await receiver.wait_for(1)  # what matches already, at once
    assert first.body["type"] == "ContextSourceNotification"
    assert first.body["subscriptionId"] == "urn:ngsi-ld:Subscription:cs1"
    assert first.body["triggerReason"] == "newlyMatching"
    assert [r["id"] for r in first.body["data"]] == ["urn:ngsi-ld:ContextSourceRegistration:r1"]

    await create(client, registration(2, contextSourceInfo=[
        {"key": "Authorization", "value": "Bearer s3cret"}]))
    await create(client, registration(3, information=[{"entities": [{"type": "Vehicle"}]}]))
    url2 = f"{R}/urn:ngsi-ld:ContextSourceRegistration:r2"
    assert (await client.patch(url2, json={"endpoint": "http://x.example.org"},
                               headers=JSON)).status == 204
    assert (await client.patch(url2, json={"information": [{"entities": [
        {"type": "Vehicle"}]}]}, headers=JSON)).status == 204
    assert (await client.delete(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1")).status == 204
    got = await receiver.wait_for(5)
    reasons = [(r.body["triggerReason"], r.body["data"][0]["id"][-2:]) for r in got[1:]]
    assert reasons == [("newlyMatching", "r2"), ("updated", "r2"),
                       ("noLongerMatching", "r2"), ("noLongerMatching", "r1")]
    assert all("s3cret" not in str(r.body) for r in got)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 5  # r3 (a Vehicle) never matched

    retrieved = await (await client.get(f"{CS}/urn:ngsi-ld:Subscription:cs1")).json()
    assert retrieved["notification"]["timesSent"] == 5
    assert retrieved["notification"]["status"] == "ok"
    assert "notificationTrigger" not in retrieved
    # the entity subscription API does not show registration subscriptions, nor the reverse
    assert await (await client.get("/ngsi-ld/v1/subscriptions")).json() == []
    await assert_problem(await client.get("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:"
                                          "Subscription:cs1"), 404, "ResourceNotFound")

    # paused: nothing more
    assert (await client.patch(f"{CS}/urn:ngsi-ld:Subscription:cs1", json={"isActive": False},
                               headers=JSON)).status == 204
    await create(client, registration(4))
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 5
    assert (await client.delete(f"{CS}/urn:ngsi-ld:Subscription:cs1")).status == 204
    await assert_problem(await client.get(f"{CS}/urn:ngsi-ld:Subscription:cs1"), 404,
                         "ResourceNotFound")


async def test_notifications_carry_only_the_matching_information(
        client: TestClient, receiver: Receiver) -> None:
    """5.11.7: a notified registration shows the RegistrationInfo elements relevant for the
    subscription (its ``entities``, its ``watchedAttributes``), not the original."""
    both = [{"entities": [{"type": "Building"}], "propertyNames": ["name"]},
            {"entities": [{"type": "Bus"}], "propertyNames": ["speed"]}]
    await create(client, registration(1, information=both, prop="x"))
    await create(client, registration(2, information=both, prop="y"))
    subs = [{"entities": [{"type": "Bus"}]}, {"watchedAttributes": ["name"]},
            {"entities": [{"type": "Building"}, {"type": "Bus"}], "q": 'prop=="y"'}]
    for n, selection in enumerate(subs):
        sub = {"id": f"urn:ngsi-ld:Subscription:rel{n}", "type": "Subscription", **selection,
               "notification": {"endpoint": {"uri": receiver.url(),
                                             "accept": "application/json"}}}
        resp = await client.post(CS, json=sub, headers=JSON)
        assert resp.status == 201, await resp.text()
    got = {r.body["subscriptionId"][-4:]: r.body["data"] for r in await receiver.wait_for(3)}
    assert [[i["entities"][0]["type"] for i in reg["information"]] for reg in got["rel0"]] \
        == [["Bus"], ["Bus"]]
    assert [i["propertyNames"] for i in got["rel1"][0]["information"]] == [["name"]]
    assert [reg["id"][-2:] for reg in got["rel2"]] == ["r2"]
    assert got["rel2"][0]["information"] == both  # both elements match
    stored = await (await client.get(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1")).json()
    assert stored["information"] == both  # only the notification is cut


async def test_registration_subscription_filters_and_validation(
        client: TestClient, receiver: Receiver) -> None:
    base = {"type": "Subscription",
            "notification": {"endpoint": {"uri": receiver.url()}}}
    for bad in ({}, {"entities": [{"type": "Building"}], "q": "(x"},
                {"entities": [{"type": "Building"}], "temporalQ": {"timerel": "sometime"}},
                {"watchedAttributes": []},
                {"entities": [{"type": "Building"}], "expiresAt": "2001-01-01T00:00:00Z"}):
        await assert_problem(await client.post(CS, json={**base, **bad}, headers=JSON), 400,
                             "BadRequestData")
    sub = {**base, "id": "urn:ngsi-ld:Subscription:t1", "entities": [{"type": "Building"}],
           "watchedAttributes": ["name"],
           "temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}}
    assert (await client.post(CS, json=sub, headers=JSON)).status == 201
    await create(client, registration(1))  # no observationInterval: no match
    await create(client, registration(2, observationInterval={
        "startAt": "2021-01-01T00:00:00Z"}))
    [got] = await receiver.wait_for(1)
    assert got.body["data"][0]["id"] == "urn:ngsi-ld:ContextSourceRegistration:r2"
    retrieved = await (await client.get(f"{CS}/urn:ngsi-ld:Subscription:t1")).json()
    assert retrieved["temporalQ"] == sub["temporalQ"]
    listed = await (await client.get(CS, params={"count": "true"})).json()
    assert [s["id"] for s in listed] == ["urn:ngsi-ld:Subscription:t1"]


async def test_source_identity(client: TestClient) -> None:
    first = await (await client.get("/ngsi-ld/v1/info/sourceIdentity")).json()
    second = await (await client.get("/ngsi-ld/v1/info/sourceIdentity")).json()
    assert first["type"] == "ContextSourceIdentity"
    assert first["id"] == second["id"] and first["id"].startswith("urn:ngsi-ld:")
    assert first["contextSourceUptime"].startswith("P")
    assert first["contextSourceTimeAt"].endswith("Z")
    # the alias identifies the tenant too (loop detection compares aliases)
    assert first["contextSourceAlias"] == first["id"]
    other = await (await client.get("/ngsi-ld/v1/info/sourceIdentity",
                                    headers={"NGSILD-Tenant": "ueda"})).json()
    assert other["id"] == first["id"] and other["contextSourceAlias"] != first["id"]


GARBAGE: list[Any] = [
    [], "x", 5, None,
    {"type": "ContextSourceRegistration", "information": "x", "endpoint": "http://a.org"},
    {"information": [{"entities": "x"}]}, {"information": [{"entities": [5]}]},
    {"information": [{"entities": [{"type": 5}]}]}, {"information": [{"propertyNames": "x"}]},
    {"information": [{"propertyNames": [5]}]}, {"information": [{"other": 1}]},
    {"information": [{"entities": [{"type": "T", "idPattern": "(a"}]}]},
    {"information": [{"entities": [{"type": "T", "id": "not a uri"}]}]},
    {"endpoint": 5}, {"scope": 5}, {"scope": ["nope"]}, {"location": "x"},
    {"location": {"type": "Polygon", "coordinates": [[1, 2]]}},
    {"observationInterval": {"startAt": 5}}, {"observationInterval": []},
    {"observationInterval": {"startAt": "2021-01-01T00:00:00Z",
                             "endAt": "2020-01-01T00:00:00Z"}},
    {"contextSourceInfo": "x"}, {"contextSourceInfo": [{"key": 1, "value": "v"}]},
    {"management": []}, {"management": {"cacheDuration": "soon"}},
    {"management": {"localOnly": "yes"}}, {"operations": "x"}, {"operations": []},
    {"registrationName": 5}, {"expiresAt": 5}, {"@x": 1}, {"bad name": 1}, {"extra": None},
    {"id": "not a uri"}, {"refreshRate": 5},
]


@pytest.mark.parametrize("change", GARBAGE)
async def test_garbage_is_refused_never_a_server_error(client: TestClient, change: Any) -> None:
    body = {**registration(), **change} if isinstance(change, dict) else change
    resp = await client.post(R, json=body, headers=JSON)
    assert resp.status == 400, await resp.text()
    if isinstance(change, dict) and change != {"extra": None}:  # a PATCH null removes one
        await create(client, registration())
        resp = await client.patch(f"{R}/urn:ngsi-ld:ContextSourceRegistration:r1",
                                  json=change, headers=JSON)
        assert resp.status == 400, await resp.text()


@pytest.mark.parametrize("params", [
    {"type": "T", "coordinates": "[x", "georel": "near;maxDistance==1", "geometry": "Point"},
    {"type": "T", "timerel": "between", "timeAt": "2020-01-01T00:00:00Z"},
    {"type": "T", "timerel": "before", "timeAt": "2020-01-01T00:00:00Z",
     "timeproperty": "x"},
    {"type": "T", "limit": "-1"}, {"type": "T", "idPattern": "(a"},
    {"type": "T", "scopeQ": "nope"}, {"type": "T", "csf": "a=="}, {"type": "T", "bogus": "1"},
])
async def test_bad_discovery_parameters(client: TestClient, params: dict[str, str]) -> None:
    await create(client, registration())
    resp = await client.get(R, params=params)
    assert resp.status == 400, await resp.text()


@pytest.mark.parametrize("change", [
    {"temporalQ": "x"}, {"temporalQ": {"timerel": "before"}}, {"csf": 5}, {"csf": "a=="},
    {"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}},
    {"entities": [{"type": "T", "idPattern": "(a"}]}, {"notification": {"endpoint": {}}},
])
async def test_bad_registration_subscriptions(client: TestClient, change: Any) -> None:
    body = {"type": "Subscription", "entities": [{"type": "Building"}],
            "notification": {"endpoint": {"uri": "http://a.example.org/n"}}, **change}
    await assert_problem(await client.post(CS, json=body, headers=JSON), 400,
                         "BadRequestData")


async def test_periodic_registration_subscription(client: TestClient,
                                                  receiver: Receiver) -> None:
    """timeInterval: the matching registrations at creation, then every interval."""
    await create(client, registration(1))
    sub = {"id": "urn:ngsi-ld:Subscription:p1", "type": "Subscription", "timeInterval": 1,
           "entities": [{"type": "Building"}],
           "notification": {"endpoint": {"uri": receiver.url()}}}
    assert (await client.post(CS, json=sub, headers=JSON)).status == 201
    got = await receiver.wait_for(3, seconds=8)
    assert got[0].body["triggerReason"] == "newlyMatching"
    assert {r.body["triggerReason"] for r in got[1:]} == {"timeInterval"}
    assert all(r.body["data"][0]["id"].endswith(":r1") for r in got)
    assert (await client.patch(f"{CS}/urn:ngsi-ld:Subscription:p1", json={"isActive": False},
                               headers=JSON)).status == 204
    await asyncio.sleep(0.5)
    seen = len(receiver.received)
    await asyncio.sleep(2.0)
    assert len(receiver.received) == seen  # paused: no more


async def test_proxied_registration_conflicts(client: TestClient) -> None:
    """4.3.6.3 / 5.9.2.4: exclusive registrations hold their entity's attributes alone;
    a proxied registration over an existing entity is a conflict."""
    info = [{"entities": [{"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:7"}],
             "propertyNames": ["speed"]}]
    await create(client, registration(1, mode="exclusive", information=info))
    for mode in ("exclusive", "redirect"):
        body = await assert_problem(await client.post(
            R, json=registration(2, mode=mode, information=info), headers=JSON),
            409, "AlreadyExists")
        assert "Conflict" in body["detail"]
    other_attr = [{**info[0], "propertyNames": ["fuel"]}]
    await create(client, registration(3, mode="exclusive", information=other_attr))
    await create(client, registration(4, mode="inclusive", information=info))
    entity = {"id": "urn:ngsi-ld:Vehicle:8", "type": "Vehicle",
              "speed": {"type": "Property", "value": 3}}
    assert (await client.post("/ngsi-ld/v1/entities", json=entity, headers=JSON)).status == 201
    on_entity = [{"entities": [{"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:8"}],
                  "propertyNames": ["speed"]}]
    for n, mode in ((5, "exclusive"), (6, "redirect")):
        await assert_problem(await client.post(
            R, json=registration(n, mode=mode, information=on_entity), headers=JSON),
            409, "AlreadyExists")
    await create(client, registration(7, mode="exclusive", information=[
        {**on_entity[0], "propertyNames": ["fuel"]}]))  # an attribute it does not have
