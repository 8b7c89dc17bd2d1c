"""Issue #17's trust boundary with enforcement on: what a context source returns is data
of the registration's owner organisation and passes this hub's access decisions exactly
like stored data; the caller's token never reaches the source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.federation.forward import invalidate_registrations
from tests.integration.authz_world import BASE, GAUGE, JSON, UEDA, World, world

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
    resp = await world.http.post(BASE + "/csourceRegistrations", json=reg,
                                 headers=world.auth("ueda", **JSON))
    assert resp.status == 201, await resp.text()
    invalidate_registrations(world.http.app)  # followed at once, not after the cache TTL
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
