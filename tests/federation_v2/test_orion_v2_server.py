"""The local NGSI v2 server answers in the shapes Orion documents (orion_v2_server.py lists
the sources): what the NgsiV2Source tests rely on is checked here against the server alone."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.federation_v2.fixtures import ROOM, STORE
from tests.federation_v2.orion_v2_server import OrionV2Server


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None,
               **params: str) -> tuple[int, Any, Any]:
    async with http.get(url, params=params, headers=headers or {}) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_create_then_read_normalized_and_key_values(orion: OrionV2Server,
                                                          http: aiohttp.ClientSession) -> None:
    async with http.post(orion.url + "/v2/entities", json=ROOM) as resp:
        assert resp.status == 201
        assert resp.headers["Location"] == "/v2/entities/Room1?type=Room"
    async with http.post(orion.url + "/v2/entities", json=ROOM) as resp:
        assert resp.status == 422
        assert await resp.json() == {"error": "Unprocessable", "description": "Already Exists"}
    async with http.post(orion.url + "/v2/entities", params={"options": "keyValues"},
                         json={"id": "Car1", "type": "Car", "speed": 98, "plate": "ABC",
                               "ok": True, "dims": {"l": 4}}) as resp:
        assert resp.status == 201
    status, body, _ = await _get(http, orion.url + "/v2/entities/Room1")
    assert status == 200 and body == ROOM
    status, body, _ = await _get(http, orion.url + "/v2/entities/Car1")
    assert body == {"id": "Car1", "type": "Car",
                    "speed": {"type": "Number", "value": 98, "metadata": {}},
                    "plate": {"type": "Text", "value": "ABC", "metadata": {}},
                    "ok": {"type": "Boolean", "value": True, "metadata": {}},
                    "dims": {"type": "StructuredValue", "value": {"l": 4}, "metadata": {}}}
    status, body, _ = await _get(http, orion.url + "/v2/entities/Car1", options="keyValues",
                                 attrs="speed")
    assert body == {"id": "Car1", "type": "Car", "speed": 98}


async def test_not_found_and_too_many_results(orion: OrionV2Server,
                                              http: aiohttp.ClientSession) -> None:
    status, body, _ = await _get(http, orion.url + "/v2/entities/Nope")
    assert status == 404
    assert body == {"error": "NotFound",
                    "description": "The requested entity has not been found. Check type and id"}
    orion.add({"id": "X", "type": "A"})
    orion.add({"id": "X", "type": "B"})
    status, body, _ = await _get(http, orion.url + "/v2/entities/X")
    assert status == 409 and body["error"] == "TooManyResults"
    status, body, _ = await _get(http, orion.url + "/v2/entities/X", type="B")
    assert status == 200 and body == {"id": "X", "type": "B"}


async def test_list_filters_pagination_and_count(orion: OrionV2Server,
                                                 http: aiohttp.ClientSession) -> None:
    for n in range(25):
        orion.add({"id": f"R{n}", "type": "Room", "t": {"type": "Number", "value": n},
                   "name": {"type": "Text", "value": f"r{n % 3}"}})
    orion.add(STORE)
    status, body, headers = await _get(http, orion.url + "/v2/entities", type="Room",
                                       options="count")
    assert status == 200 and len(body) == 20  # v2's default limit
    assert headers["Fiware-Total-Count"] == "25"
    _, body, _ = await _get(http, orion.url + "/v2/entities", q="t>=10;t<20;name=='r1'",
                            limit="100")
    assert [e["id"] for e in body] == ["R10", "R13", "R16", "R19"]
    _, body, _ = await _get(http, orion.url + "/v2/entities", q="t==3..5", offset="1")
    assert [e["id"] for e in body] == ["R4", "R5"]
    _, body, _ = await _get(http, orion.url + "/v2/entities", q="!t")
    assert [e["id"] for e in body] == ["urn:ngsi-ld:Store:001"]
    _, body, _ = await _get(http, orion.url + "/v2/entities", idPattern="^R2[0-9]$")
    assert len(body) == 5
    status, body, _ = await _get(http, orion.url + "/v2/entities", limit="1001")
    assert status == 400 and body["error"] == "BadRequest"


async def test_services_are_isolated_and_paths_scoped(orion: OrionV2Server,
                                                      http: aiohttp.ClientSession) -> None:
    orion.add({"id": "A", "type": "T"}, service="city_a")
    orion.add({"id": "B", "type": "T"}, service="city_a", path="/water")
    _, body, _ = await _get(http, orion.url + "/v2/entities", {"Fiware-Service": "City_A"})
    assert [e["id"] for e in body] == ["A", "B"]  # no path header: "/#"
    _, body, _ = await _get(http, orion.url + "/v2/entities",
                            {"Fiware-Service": "city_a", "Fiware-ServicePath": "/"})
    assert [e["id"] for e in body] == ["A"]
    _, body, _ = await _get(http, orion.url + "/v2/entities")
    assert body == []
    status, body, _ = await _get(http, orion.url + "/v2/entities", {"Fiware-Service": "a-b"})
    assert status == 400


async def test_types_listing(orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    orion.add(ROOM)
    orion.add({"id": "Room2", "type": "Room", "pressure": {"type": "Number", "value": 1}})
    orion.add(STORE)
    _, body, headers = await _get(http, orion.url + "/v2/types", options="count")
    assert headers["Fiware-Total-Count"] == "2"
    assert body[0] == {"type": "Room", "count": 2, "attrs": {
        "pressure": {"types": ["Integer", "Number"]}, "temperature": {"types": ["Float"]}}}
    _, body, _ = await _get(http, orion.url + "/v2/types", options="values")
    assert body == ["Room", "Store"]
