"""Distributed /types and /attributes (GS CIM 009 5.7.5-5.7.10; hub/federation/discovery.py):
the sources a registration names are asked, their answers merged with the hub's, a
failing source reported, ``local=true`` kept local, and, with enforcement on, remote names
and counts shown only to callers who may read the registering organisation's data.

The source is a small aiohttp server on loopback answering the discovery endpoints as an
NGSI-LD broker would from the entities it holds, recording what it was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.federation.forward import federation_of
from registry import RegistryRepository
from registry.model import default_dataset, organisation_from_json
from tests.federation_v2.orion_v2_server import OrionV2Server
from tests.integration.authz_world import BASE, GAUGE, ORGS, UEDA, World, world

__all__ = ["world"]

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


class Broker:
    """A fake NGSI-LD broker answering the discovery endpoints from ``entities`` (short
    names under the core context); ``mode`` ``500`` or ``garbage`` makes it fail."""

    def __init__(self, entities: list[dict[str, Any]]) -> None:
        self.entities = entities
        self.mode = "ok"
        self.requests: list[web.Request] = []

    def _attrs(self, ent: dict[str, Any]) -> list[str]:
        return [k for k in ent if k not in ("id", "type")]

    def _types(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for e in self.entities:
            out.setdefault(e["type"], set()).update(self._attrs(e))
        return out

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>not json</html>")
        path = request.path[len(BASE):]
        details = request.query.get("details") == "true"
        types = self._types()
        if path == "/types" and details:
            return web.json_response([
                {"id": VOCAB + t, "type": "EntityType", "typeName": t,
                 "attributeNames": sorted(a)} for t, a in sorted(types.items())])
        if path == "/types":
            return web.json_response({"id": "urn:ngsi-ld:EntityTypeList:x",
                                      "type": "EntityTypeList", "typeList": sorted(types)})
        if path.startswith("/types/"):
            name = path[len("/types/"):]
            held = [e for e in self.entities if e["type"] == name]
            if not held:
                return web.json_response({"type": "ResourceNotFound"}, status=404)
            return web.json_response({
                "id": VOCAB + name, "type": "EntityTypeInfo", "typeName": name,
                "entityCount": len(held),
                "attributeDetails": [{"id": VOCAB + a, "type": "Attribute",
                                      "attributeName": a, "attributeTypes": ["Property"]}
                                     for a in sorted(types[name])]})
        by_attr: dict[str, list[dict[str, Any]]] = {}
        for e in self.entities:
            for a in self._attrs(e):
                by_attr.setdefault(a, []).append(e)
        if path == "/attributes" and details:
            return web.json_response([
                {"id": VOCAB + a, "type": "Attribute", "attributeName": a,
                 "typeNames": sorted({e["type"] for e in es})}
                for a, es in sorted(by_attr.items())])
        if path == "/attributes":
            return web.json_response({"id": "urn:ngsi-ld:AttributeList:x",
                                      "type": "AttributeList", "attributeList": sorted(by_attr)})
        if path.startswith("/attributes/"):
            held = by_attr.get(path[len("/attributes/"):], [])
            if not held:
                return web.json_response({"type": "ResourceNotFound"}, status=404)
            return web.json_response({
                "id": VOCAB + path[len("/attributes/"):], "type": "Attribute",
                "attributeName": path[len("/attributes/"):], "attributeCount": len(held),
                "attributeTypes": ["Property"], "typeNames": sorted({e["type"] for e in held})})
        return web.json_response([])


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


async def serve(broker: Broker) -> tuple[TestServer, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", broker.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def broker() -> AsyncIterator[tuple[Broker, str]]:
    src = Broker([
        {"id": "urn:ngsi-ld:Sensor:remote", "type": "Sensor", "rain": prop(2.0),
         "battery": prop(80)},
        {"id": "urn:ngsi-ld:Camera:c1", "type": "Camera", "image": prop("x.jpg")},
        # a type the registration does not name: never advertised through this hub
        {"id": "urn:ngsi-ld:Secret:s1", "type": "Secret", "code": prop("1234")},
    ])
    server, url = await serve(src)
    try:
        yield src, url
    finally:
        await server.close()


async def register(client: TestClient, endpoint: str, **extra: Any) -> None:
    body = {"type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Sensor"}, {"type": "Camera"}]}],
            "endpoint": endpoint, **extra}
    resp = await client.post(BASE + "/csourceRegistrations", json=body)
    assert resp.status == 201, await resp.text()


async def _local(client: TestClient) -> None:
    for doc in ({"id": "urn:ngsi-ld:Sensor:local", "type": "Sensor", "rain": prop(1.0)},
                {"id": "urn:ngsi-ld:Lamp:l1", "type": "Lamp", "on": prop(True)}):
        resp = await client.post(BASE + "/entities?local=true", json=doc)
        assert resp.status == 201, await resp.text()


async def _get(client: TestClient, path: str, **params: str) -> Any:
    resp = await client.get(BASE + path, params=params)
    assert resp.status == 200, await resp.text()
    assert "NGSILD-Warning" not in resp.headers
    return await resp.json()


async def test_type_and_attribute_lists_and_details_are_merged(
        client: TestClient, broker: tuple[Broker, str]) -> None:
    src, url = broker
    await _local(client)
    await register(client, url)
    assert (await _get(client, "/types"))["typeList"] == ["Camera", "Lamp", "Sensor"]
    details = {t["typeName"]: t["attributeNames"]
               for t in await _get(client, "/types", details="true")}
    assert details == {"Camera": ["image"], "Lamp": ["on"], "Sensor": ["battery", "rain"]}
    assert (await _get(client, "/attributes"))["attributeList"] == [
        "battery", "image", "on", "rain"]
    attrs = {a["attributeName"]: a["typeNames"]
             for a in await _get(client, "/attributes", details="true")}
    assert attrs == {"battery": ["Sensor"], "image": ["Camera"], "on": ["Lamp"],
                     "rain": ["Sensor"]}
    # the source was asked in the caller's terms, with Via naming this hub
    asked = {(r.path, r.query.get("details")) for r in src.requests}
    assert (BASE + "/types", None) in asked and (BASE + "/attributes", "true") in asked
    assert all("hub-under-test" in r.headers["Via"] for r in src.requests)


async def test_type_and_attribute_information_sum_counts(
        client: TestClient, broker: tuple[Broker, str]) -> None:
    src, url = broker
    await _local(client)
    await register(client, url)
    info = await _get(client, "/types/Sensor")
    assert info["entityCount"] == 2  # one here, one at the source
    assert [a["attributeName"] for a in info["attributeDetails"]] == ["battery", "rain"]
    camera = await _get(client, "/types/Camera")  # held only at the source
    assert camera["entityCount"] == 1 and camera["typeName"] == "Camera"
    rain = await _get(client, "/attributes/rain")
    assert rain["attributeCount"] == 2 and rain["typeNames"] == ["Sensor"]
    assert rain["attributeTypes"] == ["Property"]
    image = await _get(client, "/attributes/image")
    assert image["attributeCount"] == 1 and image["typeNames"] == ["Camera"]
    # neither here nor at the source: 404, and the source was asked about it
    asked = len(src.requests)
    assert (await client.get(BASE + "/attributes/nothing")).status == 404
    assert len(src.requests) == asked + 1


async def test_no_call_when_no_registration_matches(
        client: TestClient, broker: tuple[Broker, str]) -> None:
    src, url = broker
    await _local(client)
    for path in ("/types", "/types/Lamp", "/attributes", "/attributes/on"):
        await _get(client, path)
    assert federation_of(client.app).stats.calls == 0  # no registration at all
    await register(client, url)
    resp = await client.get(BASE + "/types/Secret")  # a type the registration does not name
    assert resp.status == 404
    assert (await _get(client, "/types/Lamp"))["entityCount"] == 1
    assert not src.requests
    # a registration offering only entity retrieval is not asked for types either
    src2 = Broker(src.entities)
    server, url2 = await serve(src2)
    try:
        await register(client, url2, operations=["retrieveOps"])
        src.mode = "500"  # the first registration answers, but fails: reported
        resp = await client.get(BASE + "/types")
        assert not src2.requests
        assert resp.headers["NGSILD-Warning"].startswith("299 ")
    finally:
        await server.close()


async def test_local_true_keeps_discovery_local(
        client: TestClient, broker: tuple[Broker, str]) -> None:
    src, url = broker
    await _local(client)
    await register(client, url)
    assert (await _get(client, "/types", local="true"))["typeList"] == ["Lamp", "Sensor"]
    assert (await _get(client, "/types/Sensor", local="true"))["entityCount"] == 1
    assert (await _get(client, "/attributes", local="true"))["attributeList"] == ["on", "rain"]
    assert (await client.get(BASE + "/types/Camera?local=true")).status == 404
    looped = await client.get(BASE + "/types", headers={
        "Via": "1.1 urn:ngsi-ld:ContextSource:hub-under-test"})
    assert (await looped.json())["typeList"] == ["Lamp", "Sensor"]
    assert not src.requests


@pytest.mark.parametrize(("mode", "code"), [("500", "299"), ("garbage", "111")])
async def test_a_failing_source_is_reported_and_the_rest_answers(
        client: TestClient, broker: tuple[Broker, str], mode: str, code: str) -> None:
    src, url = broker
    await _local(client)
    await register(client, url)
    src.mode = mode
    missing = await client.get(BASE + "/types/Camera")  # only the failed source has it
    assert missing.status == 404
    assert missing.headers["NGSILD-Warning"].startswith(code + " ")
    for path, key, local in (("/types", "typeList", ["Lamp", "Sensor"]),
                             ("/attributes", "attributeList", ["on", "rain"])):
        resp = await client.get(BASE + path)
        assert resp.status == 200
        assert (await resp.json())[key] == local
        assert resp.headers["NGSILD-Warning"].startswith(code + " ")
    # (a third invalid answer opened the circuit: now skipped, still reported)
    resp = await client.get(BASE + "/types/Sensor")
    assert (await resp.json())["entityCount"] == 1
    assert "NGSILD-Warning" in resp.headers


async def test_a_dead_source_never_stalls_discovery(client: TestClient) -> None:
    await register(client, "http://127.0.0.1:9")  # discard port: nothing listens
    resp = await client.get(BASE + "/attributes")
    assert resp.status == 200 and (await resp.json())["attributeList"] == []
    assert resp.headers["NGSILD-Warning"].startswith("199 ")


# -- enforcement on: remote names are the registering organisation's data ----------------

@pytest.fixture
async def ueda_broker(world: World) -> AsyncIterator[Broker]:
    # every organisation has its default dataset (made with it by the registry service;
    # authz_world saves organisations directly): a remote entity no rule covers lands there
    repo = RegistryRepository(world.http.app[keys.POOL])
    for org_id, ja, en in ORGS:
        await repo.save_dataset(default_dataset(organisation_from_json(
            {"id": org_id, "name": {"ja": ja, "en": en}})))
    world.http.app[keys.REGISTRY_RULES].invalidate()
    await world.refresh()
    src = Broker([
        {"id": "urn:ngsi-ld:Gauge:ueda-remote-1", "type": "Gauge", "rain": prop(42.0),
         "battery": prop(50.0)},
        # personal data (ueda-loans): it has a rain attribute too
        {"id": "urn:ngsi-ld:Loans:ueda-remote", "type": "Loans", "count": prop(3),
         "rain": prop(0.0)},
    ])
    server, url = await serve(src)
    world.allow_receiver(server.port or 0)
    reg = {"type": "ContextSourceRegistration",
           "information": [{"entities": [{"type": "Gauge"}, {"type": "Loans"}]}],
           "endpoint": url}
    await world.register_source(reg)
    try:
        yield src
    finally:
        await server.close()


async def _as(world: World, who: str, path: str, **params: str) -> tuple[int, Any]:
    resp = await world.http.get(BASE + path, params=params, headers=world.auth(who))
    return resp.status, await resp.json()


async def test_a_caller_without_a_grant_learns_nothing_remote(
        world: World, ueda_broker: Broker) -> None:
    # the owner sees its source's types and counts: 3 gauges here, 1 there
    _, types = await _as(world, "ueda", "/types")
    assert {"Gauge", "Loans"} <= set(types["typeList"])
    assert (await _as(world, "ueda", "/types/Gauge"))[1]["entityCount"] == 4
    assert (await _as(world, "ueda", "/types/Loans"))[1]["entityCount"] == 2
    _, rain = await _as(world, "ueda", "/attributes/rain")
    assert rain["attributeCount"] == 5 and rain["typeNames"] == ["Gauge", "Loans"]
    assert ueda_broker.requests
    # a firm without a grant on Ueda's data: no remote name, count or attribute
    _, types = await _as(world, "firm", "/types")
    assert "Gauge" not in types["typeList"] and "Loans" not in types["typeList"]
    assert (await _as(world, "firm", "/types/Gauge"))[0] == 404
    # a municipality (default deny) sees its own gauges only: no remote one in the count
    assert (await _as(world, "nagano", "/types/Gauge"))[1]["entityCount"] == 3
    for who in ("firm", "nagano"):
        assert (await _as(world, who, "/types/Loans"))[0] == 404, who
        _, attrs = await _as(world, who, "/attributes")
        assert "count" not in attrs["attributeList"], who
        assert (await _as(world, who, "/attributes/count"))[0] == 404, who
        _, details = await _as(world, who, "/types", details="true")
        assert "Loans" not in {t["typeName"] for t in details}, who
        _, attrs = await _as(world, who, "/attributes", details="true")
        assert "count" not in {a["attributeName"] for a in attrs}, who
    _, attrs = await _as(world, "firm", "/attributes")
    assert "battery" not in attrs["attributeList"]


async def test_a_grant_opens_remote_names_and_counts_only_where_it_reads(
        world: World, ueda_broker: Broker) -> None:
    await world.grant({"owner": UEDA, "entity_type": GAUGE, "actions": ["read"],
                       "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z",
                       "attributes": [VOCAB + "rain"]}, "firm")
    await world.grant({"dataset": "ueda-loans", "actions": ["read"],
                       "granularity": "aggregated", "min_group_size": 3,
                       "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    status, info = await _as(world, "firm", "/types/Gauge")
    assert status == 200, info
    assert info["entityCount"] == 4  # Ueda's three here and its one remote gauge
    assert [a["attributeName"] for a in info["attributeDetails"]] == ["rain"]
    _, attrs = await _as(world, "firm", "/attributes")
    assert "rain" in attrs["attributeList"] and "battery" not in attrs["attributeList"]
    # the source counts rain on a gauge and on loans: the firm may not read the loans,
    # so the source's count is left out (fail closed) and only the gauge type is named
    status, rain = await _as(world, "firm", "/attributes/rain")
    assert status == 200 and rain["typeNames"] == ["Gauge"]
    assert rain["attributeCount"] == 3  # Ueda's three gauges here
    # aggregated-only data: neither the remote type, nor its count, nor its attributes
    _, types = await _as(world, "firm", "/types")
    assert "Gauge" in types["typeList"] and "Loans" not in types["typeList"]
    assert (await _as(world, "firm", "/types/Loans"))[0] == 404
    assert (await _as(world, "firm", "/attributes/count"))[0] == 404


async def test_an_ngsi_v2_source_joins_the_plain_lists(client: TestClient) -> None:
    orion = OrionV2Server()
    await orion.start()
    try:
        orion.add({"id": "Room1", "type": "Room",
                   "temperature": {"type": "Number", "value": 21.5}})
        await register(client, orion.url, information=[{"entities": [{"type": "Room"}]}],
                       contextSourceInfo=[{"key": "ngsi-version", "value": "v2"}])
        assert (await _get(client, "/types"))["typeList"] == ["Room"]
        assert (await _get(client, "/attributes"))["attributeList"] == ["temperature"]
        asked = len(orion.requests)
        assert asked >= 2 and all(r.path == "/v2/types" for r in orion.requests)
        # the detail and information forms ask NGSI-LD sources only
        assert await _get(client, "/types", details="true") == []
        assert (await client.get(BASE + "/types/Room")).status == 404
        assert len(orion.requests) == asked
    finally:
        await orion.stop()
