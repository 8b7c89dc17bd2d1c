"""Issue #14: off-the-shelf NGSI-LD clients work without a registry step (each
organisation's default dataset, the playground), one vocabulary per contract type, the
client's own SDM provenance, and the compatibility details real clients hit
(``name`` for ``subscriptionName``, the core context in JSON-LD answers, the core context
served as JSON-LD, 501 for what is not implemented)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import contracts
from hub import keys
from hub.api.unsupported import NOT_IMPLEMENTED
from hub.app import create_app
from hub.jsonld.core import CORE_CONTEXT_URL
from hub.settings import Settings
from registry import Invalid, RegistryRepository
from registry import service as svc
from registry.model import dataset_from_json
from tests.conftest import reset_database
from tests.integration import authz_world as aw
from tests.integration.authz_world import world as world  # the fixture
from tests.integration.helpers import JSON, assert_problem
from tests.integration.registry_helpers import (
    HUB,
    REG,
    V,
    as_caller,
    dataset,
    registry_without_catch_all,
    stored,
)

LD = {"Content-Type": "application/ld+json"}
CONTRACTS = {"Link": contracts.LINK_HEADER}
NOTE = "urn:ngsi-ld:Note:nagano-1"


def note(eid: str = NOTE, text: str = "a") -> dict[str, Any]:
    return {"id": eid, "type": "Note", "text": {"type": "Property", "value": text}}


def weather(eid: str, **extra: Any) -> dict[str, Any]:
    return contracts.to_ngsi_ld(contracts.WeatherObserved(
        id=eid, dateObserved="2026-12-01T09:00:00Z", quality="normal", precipitation=1.5,
        location={"type": "Point", "coordinates": [138.19, 36.65]}, **extra))


# -- default datasets ---------------------------------------------------------------------

async def test_an_organisation_comes_with_its_default_dataset(client: TestClient) -> None:
    await registry_without_catch_all(client)
    listed = await (await client.get(f"{REG}/datasets", params={"owner": "202011"})).json()
    default = next(d for d in listed if d["id"] == "default-202011")
    assert default["defaultFor"] == "202011" and default["rule"] == {"ownerDefault": True}
    assert default["openData"] is False and default["contracts"] == []
    assert default["licence"] == "proprietary"
    # it goes with the organisation: not deleted alone, its id space is reserved
    body = await assert_problem(await client.delete(f"{REG}/datasets/default-202011"), 400,
                                "BadRequestData")
    assert "goes with the organisation" in body["detail"]
    resp = await client.post(f"{REG}/datasets", headers=JSON,
                             json=dataset("default-x", "202011", ["Note"], []))
    body = await assert_problem(resp, 400, "BadRequestData")
    assert "reserved" in body["detail"]
    # it never overlaps a rule: a catch-all beside it is still possible
    resp = await client.post(f"{REG}/datasets", headers=JSON, json={
        **dataset("notes", "202011", ["Note"], []), "openData": False})
    assert resp.status == 201, await resp.text()


async def test_an_uncovered_write_goes_to_the_writers_default_dataset(
        client: TestClient) -> None:
    await registry_without_catch_all(client)
    as_caller(client)
    nagano = {**JSON, "X-Test-Organisation": "202011"}
    resp = await client.post(f"{HUB}/entities", headers=nagano, json=note())
    assert resp.status == 201, await resp.text()
    got = await stored(client, NOTE)
    assert got["refDataset"]["object"] == "urn:ngsi-ld:Dataset:default-202011"
    assert got["dataProvider"]["value"] == "202011"
    # a specific rule still wins over the writer's default
    gauge = {"id": "urn:ngsi-ld:WeatherObserved:nagano-7", "type": "RainGauge",
             "p": {"type": "Property", "value": 1}}
    assert (await client.post(f"{HUB}/entities", headers=nagano, json=gauge)).status == 201
    assert (await stored(client, gauge["id"]))["refDataset"]["object"] == \
        "urn:ngsi-ld:Dataset:nagano-rain"
    # the stored owner decides later writes: its owner updates it, nobody else does
    resp = await client.patch(f"{HUB}/entities/{NOTE}/attrs", headers=nagano,
                              json={"text": {"type": "Property", "value": "b"}})
    assert resp.status == 204, await resp.text()
    before = await stored(client, NOTE)
    ueda = {**JSON, "X-Test-Organisation": "202037"}
    resp = await client.patch(f"{HUB}/entities/{NOTE}/attrs", headers=ueda,
                              json={"text": {"type": "Property", "value": "forged"}})
    assert resp.status in (403, 409), await resp.text()
    resp = await client.post(f"{HUB}/entityOperations/upsert", headers=ueda,
                             json=[note(text="forged")])
    assert resp.status == 207 and (await resp.json())["errors"], await resp.text()
    assert await stored(client, NOTE) == before
    # an organisation whose default dataset holds entities is not deleted …
    for ds_id in ("nagano-rain",):
        await client.delete(f"{HUB}/entities/{gauge['id']}", headers=nagano)
        resp = await client.delete(f"{REG}/datasets/{ds_id}", headers=nagano)
        assert resp.status == 204, await resp.text()
    resp = await client.delete(f"{REG}/organisations/202011",
                               headers={"X-Test-Organisation": "200000"})  # the operator
    body = await assert_problem(resp, 400, "BadRequestData")
    assert "default dataset default-202011" in body["detail"]
    assert (await client.get(f"{REG}/datasets/default-202011")).status == 200
    # … and with no caller and no playground an uncovered write is still refused
    resp = await client.post(f"{HUB}/entities", headers=JSON, json=note("urn:ngsi-ld:Note:x"))
    body = await assert_problem(resp, 400, "BadRequestData")
    assert body["reason"] == "NoOwningDataset"


async def test_the_playground_takes_caller_less_writes(settings: Settings) -> None:
    assert settings.database_url
    await reset_database(settings.database_url)
    async with TestClient(TestServer(create_app(replace(settings, sample_data=True)))) as c:
        resp = await c.post(f"{HUB}/entities", headers=JSON, json=note("urn:x:thing:1"))
        assert resp.status == 201, await resp.text()
        got = await (await c.get(f"{HUB}/entities/urn:x:thing:1")).json()
        assert got["refDataset"]["object"] == "urn:ngsi-ld:Dataset:default-200000"
        # and a batch, a query and a subscription, as a client library would do them
        resp = await c.post(f"{HUB}/entityOperations/create", headers=JSON,
                            json=[note("urn:x:thing:2"), note("urn:x:thing:3")])
        assert resp.status == 201, await resp.text()
        found = await (await c.get(f"{HUB}/entities", params={"type": "Note"})).json()
        assert sorted(e["id"] for e in found) == ["urn:x:thing:1", "urn:x:thing:2",
                                                   "urn:x:thing:3"]
        resp = await c.post(f"{HUB}/subscriptions", headers=JSON, json={
            "type": "Subscription", "name": "notes", "entities": [{"type": "Note"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}})
        assert resp.status == 201, await resp.text()
        sub = await (await c.get(resp.headers["Location"])).json()
        assert sub["subscriptionName"] == "notes"


async def test_a_default_dataset_is_its_owners_alone_when_enforcing(
        world: aw.World) -> None:
    repo = RegistryRepository(world.http.app[keys.POOL])
    for org_id, ja, en in aw.ORGS:  # the world registers organisations by the repository
        await svc.put_organisation(repo, org_id, {"name": {"ja": ja, "en": en}})
    world.http.app[keys.REGISTRY_RULES].invalidate()
    await world.refresh()
    resp = await world.http.post(f"{HUB}/entities", json=note(),
                                 headers=world.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    await world.refresh()
    mine = await world.http.get(f"{HUB}/entities/{NOTE}", headers=world.auth("nagano"))
    assert mine.status == 200
    before = await mine.json()
    for who in ("ueda", "firm"):
        resp = await world.http.get(f"{HUB}/entities/{NOTE}", headers=world.auth(who))
        assert resp.status == 404, (who, await resp.text())
        listed = await world.http.get(f"{HUB}/entities", params={"type": "Note"},
                                      headers=world.auth(who))
        assert await listed.json() == []
    resp = await world.http.patch(f"{HUB}/entities/{NOTE}/attrs",
                                  json={"text": {"type": "Property", "value": "x"}},
                                  headers=world.auth("ueda", **JSON))
    assert resp.status == 404, await resp.text()
    resp = await world.http.post(f"{HUB}/entities", json=note(text="x"),
                                 headers=world.auth("ueda", **JSON))
    assert resp.status == 409, await resp.text()
    after = await world.http.get(f"{HUB}/entities/{NOTE}", headers=world.auth("nagano"))
    assert await after.json() == before


# -- one vocabulary per contract type -----------------------------------------------------

def test_a_rules_contract_type_name_is_the_contracts_iri() -> None:
    body = {"id": "rain", "owner": "202011", "name": {"ja": "r"}, "licence": "CC-BY-4.0",
            "updateFrequency": "hourly", "rule": {"entityTypes": ["WeatherObserved", "Gauge"]}}
    ds = dataset_from_json(body, lambda n: V + n)  # no contracts @context in the request
    assert ds.rule.entity_types == {contracts.iri("WeatherObserved"), V + "Gauge"}
    ds = dataset_from_json(body, lambda n: contracts.iri(n) if n == "WeatherObserved"
                           else V + n)
    assert contracts.iri("WeatherObserved") in ds.rule.entity_types
    with pytest.raises(Invalid) as err:
        dataset_from_json(body, lambda n: "https://example.org/" + n)
    assert contracts.iri("WeatherObserved") in err.value.detail
    assert "https://example.org/WeatherObserved" in err.value.detail


async def test_a_contract_type_without_the_contracts_context_is_refused(
        client: TestClient) -> None:
    await registry_without_catch_all(client)
    resp = await client.post(f"{REG}/datasets", headers=JSON, json=dataset(
        "sdm-rain", "202011", ["WeatherObserved"], ["urn:ngsi-ld:WeatherObserved:sdm-"],
        contracts=["WeatherObserved"]))  # a short name, no Link: the contract's IRI
    assert resp.status == 201, await resp.text()
    eid = "urn:ngsi-ld:WeatherObserved:sdm-1"
    good = weather(eid)
    plain = {k: v for k, v in good.items() if k != "@context"}
    body = await assert_problem(
        await client.post(f"{HUB}/entities", headers=JSON, json=plain), 400, "BadRequestData")
    assert "contracts @context" in body["detail"] and contracts.CONTEXT_URL in body["detail"]
    assert body["expected"] == contracts.iri("WeatherObserved")
    assert await stored(client, eid) == 404
    resp = await client.post(f"{HUB}/entities", headers={**JSON, **CONTRACTS}, json=plain)
    assert resp.status == 201, await resp.text()
    resp = await client.get(f"{REG}/owner", params={"id": eid, "type": "WeatherObserved"})
    assert (await resp.json())["dataset"] == "sdm-rain"


async def test_a_clients_sdm_provenance_coexists_with_the_hubs(client: TestClient) -> None:
    await registry_without_catch_all(client)
    resp = await client.post(f"{REG}/datasets", headers=JSON, json=dataset(
        "sdm-rain", "202011", ["WeatherObserved"], ["urn:ngsi-ld:WeatherObserved:sdm-"],
        contracts=["WeatherObserved"]))
    assert resp.status == 201, await resp.text()
    eid = "urn:ngsi-ld:WeatherObserved:sdm-2"
    payload = {**weather(eid), "source": {"type": "Property", "value": "https://jma.go.jp"},
               "dataProvider": {"type": "Property", "value": "JMA"}}
    resp = await client.post(f"{HUB}/entities", headers=LD, json=payload)
    assert resp.status == 201, await resp.text()
    got = await (await client.get(f"{HUB}/entities/{eid}", headers=CONTRACTS)).json()
    assert got["source"]["value"] == "https://jma.go.jp"  # the client's, SDM IRI
    assert got["dataProvider"]["value"] == "JMA"
    hub = await stored(client, eid)  # the hub's, under the core context's names
    assert hub["dataProvider"]["value"] == "202011"
    assert hub["refDataset"]["object"] == "urn:ngsi-ld:Dataset:sdm-rain"
    assert hub[contracts.SDM + "source"]["value"] == "https://jma.go.jp"


# -- compatibility details ---------------------------------------------------------------

async def test_subscription_name_is_subscription_name(client: TestClient) -> None:
    sub = {"type": "Subscription", "name": "rain", "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}
    resp = await client.post(f"{HUB}/subscriptions", headers=JSON, json=sub)
    assert resp.status == 201, await resp.text()
    got = await (await client.get(resp.headers["Location"])).json()
    assert got["subscriptionName"] == "rain" and "name" not in got
    resp = await client.patch(resp.headers["Location"], headers=JSON, json={"name": "snow"})
    assert resp.status == 204, await resp.text()
    clash = {**sub, "subscriptionName": "other"}
    await assert_problem(await client.post(f"{HUB}/subscriptions", headers=JSON, json=clash),
                         400, "BadRequestData")


async def test_json_ld_answers_echo_the_clients_context(client: TestClient) -> None:
    """The @context of a JSON-LD answer is the one the client sent (the ETSI suite checks
    it exactly), and the core context when it sent none."""
    body = note("urn:ngsi-ld:Note:ld-1")
    assert (await client.post(f"{HUB}/entities", headers=JSON, json=body)).status == 201
    resp = await client.get(f"{HUB}/entities/urn:ngsi-ld:Note:ld-1",
                            headers={"Accept": "application/ld+json", **CONTRACTS})
    got = await resp.json(content_type=None)
    assert got["@context"] == contracts.CONTEXT_URL
    resp = await client.get(f"{HUB}/entities/urn:ngsi-ld:Note:ld-1",
                            headers={"Accept": "application/ld+json"})
    assert (await resp.json(content_type=None))["@context"] == CORE_CONTEXT_URL


async def test_the_core_context_is_served_as_json_ld(client: TestClient) -> None:
    resp = await client.get(f"{HUB}/jsonldContexts/core")
    assert resp.status == 200 and resp.content_type == "application/ld+json"
    assert "@context" in await resp.json(content_type=None)
    assert resp.headers["Last-Modified"].endswith("GMT")
    info = await (await client.get(f"{HUB}/jsonldContexts/core",
                                   params={"details": "true"})).json()
    assert info["URL"] == CORE_CONTEXT_URL and info["createdAt"].endswith("Z")
    listed = await (await client.get(f"{HUB}/jsonldContexts",
                                     params={"details": "true"})).json()
    assert listed[0]["createdAt"] == info["createdAt"]


async def test_what_is_not_implemented_answers_501(client: TestClient) -> None:
    for path, methods, _ in NOT_IMPLEMENTED:
        concrete = path.replace("{registrationId}", "urn:x:r").replace(
            "{subscriptionId}", "urn:x:s")
        for method in methods:
            resp = await client.request(method, HUB + concrete, headers=JSON,
                                        json={} if method in ("POST", "PATCH") else None)
            body = await resp.json(content_type=None)
            assert resp.status == 501, (method, path, body)
            assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported"
            assert body["status"] == 501 and "not implemented" in body["detail"]
