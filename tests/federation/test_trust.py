"""Issue #17's trust boundary with enforcement on: what a context source returns is data
of the registration's owner organisation and passes this hub's access decisions exactly
like stored data; the caller's token never reaches the source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.integration.authz_world import BASE, GAUGE, JSON, NAGANO, UEDA, World, world

__all__ = ["world"]


class Source:
    def __init__(self) -> None:
        self.requests: list[web.Request] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        return web.json_response([{
            "id": "urn:ngsi-ld:Gauge:ueda-remote-1", "type": "Gauge",
            "rain": {"type": "Property", "value": 42.0},
            "battery": {"type": "Property", "value": 50.0}}])


@pytest.fixture
async def ueda_source(world: World) -> AsyncIterator[Source]:
    src = Source()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", src.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    world.allow_receiver(server.port or 0)
    reg = {"type": "ContextSourceRegistration",
           "information": [{"entities": [{"type": "Gauge"}]}],
           "endpoint": f"http://127.0.0.1:{server.port}",
           "contextSourceInfo": [{"key": "X-Ueda-Key", "value": "ueda-secret"}]}
    await world.register_source(reg)
    try:
        yield src
    finally:
        await server.close()


async def _remote_ids(world: World, who: str) -> list[Any]:
    resp = await world.http.get(BASE + "/entities", params={"type": "Gauge"},
                                headers=world.auth(who))
    assert resp.status == 200, await resp.text()
    return [e["id"] for e in await resp.json() if "remote" in e["id"]]


async def test_remote_data_is_the_owners_data(world: World, ueda_source: Source) -> None:
    # the owner itself sees it; the caller's token stays here, the owner's key goes there
    assert await _remote_ids(world, "ueda") == ["urn:ngsi-ld:Gauge:ueda-remote-1"]
    asked = ueda_source.requests[-1]
    assert asked.headers["X-Ueda-Key"] == "ueda-secret"
    assert "Authorization" not in asked.headers
    # a firm without a grant on Ueda's data sees nothing of it, through this hub either
    assert await _remote_ids(world, "firm") == []
    # another municipality (default deny) neither
    assert await _remote_ids(world, "nagano") == []


async def test_a_grant_on_the_owner_opens_remote_data_and_strips_attributes(
        world: World, ueda_source: Source) -> None:
    await world.grant({"owner": UEDA, "entity_type": GAUGE, "actions": ["read"],
                       "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z",
                       "attributes": ["https://uri.etsi.org/ngsi-ld/default-context/rain"]},
                      "firm")
    await world.refresh()
    resp = await world.http.get(BASE + "/entities", params={"type": "Gauge"},
                                headers=world.auth("firm"))
    remote = [e for e in await resp.json() if "remote" in e["id"]]
    assert [e["id"] for e in remote] == ["urn:ngsi-ld:Gauge:ueda-remote-1"]
    assert "rain" in remote[0] and "battery" not in remote[0]  # only granted attributes


class Impostor:
    """Ueda's source answering for an id of Nagano's: a newer reading that would win an
    inclusive merge, and the attribute an exclusive registration would claim."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if request.method != "GET":
            return web.Response(status=204)
        ent = {"id": "urn:ngsi-ld:Gauge:nagano-0", "type": "Gauge",
               "rain": {"type": "Property", "value": 999.0,
                        "observedAt": "2099-01-01T00:00:00Z"}}
        return web.json_response(ent if "/entities/" in request.path else [ent])


@pytest.mark.parametrize("mode", ["exclusive", "inclusive"])
async def test_another_organisations_source_cannot_take_over_an_entity(
        world: World, mode: str) -> None:
    """Ueda registers Nagano's gauge as its own source's (it cannot see that gauge, so the
    registration is accepted): Nagano's writes never reach Ueda's endpoint, and what
    Nagano and its grantees read of the gauge stays Nagano's value."""
    src = Impostor()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", src.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    world.allow_receiver(server.port or 0)
    try:
        info: dict[str, Any] = {"entities": [{"id": "urn:ngsi-ld:Gauge:nagano-0",
                                              "type": "Gauge"}]}
        if mode == "exclusive":
            info["propertyNames"] = ["rain"]
        reg = {"type": "ContextSourceRegistration", "mode": mode, "information": [info],
               "operations": ["retrieveOps", "updateOps"],
               "endpoint": f"http://127.0.0.1:{server.port}"}
        await world.register_source(reg)
        for owner in (NAGANO, UEDA):  # a firm that may read both cities' gauges
            await world.grant({"owner": owner, "entity_type": GAUGE, "actions": ["read"],
                               "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                               "valid_until": "2099-01-01T00:00:00Z"}, "firm")
        await world.refresh()
        patch = {"rain": {"type": "Property", "value": 7.0}}
        resp = await world.http.patch(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-0/attrs",
                                      json=patch, headers=world.auth("nagano", **JSON))
        assert resp.status == 204, await resp.text()
        assert not [r for r in src.requests if r[0] != "GET"]  # the write stayed here
        for who in ("nagano", "firm"):
            resp = await world.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-0",
                                        headers=world.auth(who))
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["rain"]["value"] == 7.0, who
            resp = await world.http.get(BASE + "/entities", params={"type": "Gauge"},
                                        headers=world.auth(who))
            mine = [e for e in await resp.json() if e["id"] == "urn:ngsi-ld:Gauge:nagano-0"]
            assert [e["rain"]["value"] for e in mine] == [7.0], who
        assert src.requests  # the source was asked; its answer was left out
    finally:
        await server.close()
