"""Distributed operations (hub/federation/): queries, retrieval and writes forwarded to
context sources, merged, failing sources reported, loops refused.

The sources are small aiohttp servers on loopback that answer as an NGSI-LD broker would
and record what they were asked; the hub under test is the ``client`` fixture (real
PostgreSQL, development mode: the egress policy allows loopback).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.federation.forward import federation_of

BASE = "/ngsi-ld/v1"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


class Source:
    """A fake NGSI-LD context source: ``entities`` is what it holds; ``mode`` makes it
    misbehave (``sleep``, ``500``, ``garbage``); ``requests`` records what it got."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []
        self.mode = "ok"
        self.requests: list[web.Request] = []
        self.bodies: list[Any] = []
        #: answers every request in place of the default behaviour when set
        self.override: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        raw = await request.read()
        self.bodies.append(orjson.loads(raw) if raw else None)
        if self.override is not None:
            return await self.override(request)
        if self.mode == "sleep":
            await asyncio.sleep(3600)
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>not json</html>")
        path = request.path
        if request.method == "GET" and path == BASE + "/entities":
            wanted = set(request.query.get("type", "").split(",")) - {""}
            found = [e for e in self.entities if not wanted or e["type"] in wanted]
            return web.json_response(found, headers={"NGSILD-Results-Count": str(len(found))})
        if request.method == "GET" and path.startswith(BASE + "/entities/"):
            eid = path[len(BASE + "/entities/"):]
            for e in self.entities:
                if e["id"] == eid:
                    return web.json_response(e)
            return web.json_response({"type": "ResourceNotFound"}, status=404)
        if request.method == "POST" and path == BASE + "/entities":
            return web.Response(status=201)
        return web.Response(status=204)


@pytest.fixture
async def source() -> AsyncIterator[tuple[Source, str]]:
    src = Source()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", src.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield src, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def register(client: TestClient, endpoint: str, **extra: Any) -> str:
    body = {"type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Sensor"}]}], "endpoint": endpoint, **extra}
    resp = await client.post(BASE + "/csourceRegistrations", json=body)
    assert resp.status == 201, await resp.text()
    return resp.headers["Location"].rsplit("/", 1)[-1]


def sensor(eid: str, value: float, observed: str | None = None) -> dict[str, Any]:
    reading: dict[str, Any] = {"type": "Property", "value": value}
    if observed:
        reading["observedAt"] = observed
    return {"id": eid, "type": "Sensor", "rain": reading}


async def test_query_merges_local_and_remote_and_sends_registration_headers(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    src.entities = [sensor("urn:ngsi-ld:Sensor:remote", 2.0)]
    await register(client, url, contextSourceInfo=[
        {"key": "X-City-Key", "value": "s3cret"},
        {"key": "X-Trace", "value": "urn:ngsi-ld:request"},
        {"key": "Cookie", "value": "urn:ngsi-ld:request"}])
    assert (await client.post(BASE + "/entities",
                              json=sensor("urn:ngsi-ld:Sensor:local", 1.0))).status == 201
    resp = await client.get(BASE + "/entities", params={"type": "Sensor", "count": "true"},
                            headers={"Cookie": "session=caller", "X-Trace": "t1"})
    assert resp.status == 200
    assert {e["id"] for e in await resp.json()} == {"urn:ngsi-ld:Sensor:local",
                                                    "urn:ngsi-ld:Sensor:remote"}
    assert resp.headers["NGSILD-Results-Count"] == "2"
    assert "NGSILD-Warning" not in resp.headers
    asked = src.requests[-1]
    assert asked.headers["X-City-Key"] == "s3cret"
    # the trust boundary: the caller's credentials never leave this hub
    assert asked.headers["X-Trace"] == "t1"  # 4.3.6.5: copied from the triggering request
    assert "Authorization" not in asked.headers and "Cookie" not in asked.headers
    assert "urn:ngsi-ld:ContextSource:hub-under-test" in asked.headers["Via"]


async def test_inclusive_merge_keeps_the_most_recent_instance(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    eid = "urn:ngsi-ld:Sensor:both"
    src.entities = [sensor(eid, 9.0, "2030-01-01T00:00:00Z")]
    await register(client, url)
    await client.post(BASE + "/entities?local=true",
                      json=sensor(eid, 1.0, "2020-01-01T00:00:00Z"))
    got = await (await client.get(BASE + f"/entities/{eid}")).json()
    assert got["rain"]["value"] == 9.0
    src.entities = [sensor(eid, 0.5, "2010-01-01T00:00:00Z")]
    got = await (await client.get(BASE + f"/entities/{eid}")).json()
    assert got["rain"]["value"] == 1.0


async def test_retrieve_of_an_entity_only_a_source_holds(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    src.entities = [sensor("urn:ngsi-ld:Sensor:far", 3.0)]
    await register(client, url)
    resp = await client.get(BASE + "/entities/urn:ngsi-ld:Sensor:far")
    assert resp.status == 200 and (await resp.json())["rain"]["value"] == 3.0
    local = await client.get(BASE + "/entities/urn:ngsi-ld:Sensor:far?local=true")
    assert local.status == 404


@pytest.mark.parametrize(("mode", "code"), [("sleep", "199"), ("500", "299"),
                                            ("garbage", "111")])
async def test_a_failing_source_is_reported_and_never_stalls(
        client: TestClient, source: tuple[Source, str], mode: str, code: str) -> None:
    src, url = source
    src.mode = mode
    await register(client, url)
    await client.post(BASE + "/entities", json=sensor("urn:ngsi-ld:Sensor:here", 1.0))
    started = time.monotonic()
    resp = await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert time.monotonic() - started < 3.0  # federation_timeout is 1 s
    assert resp.status == 200
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:Sensor:here"]
    assert resp.headers["NGSILD-Warning"].startswith(code + " ")


async def test_a_source_refusing_connections(client: TestClient) -> None:
    await register(client, "http://127.0.0.1:9")  # discard port: nothing listens
    resp = await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert resp.status == 200 and await resp.json() == []
    assert resp.headers["NGSILD-Warning"].startswith("199 ")


async def test_the_circuit_opens_after_repeated_failures(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    src.mode = "500"
    await register(client, url)
    fed = federation_of(client.app)
    for _ in range(3):  # a 5xx answer opens nothing: the source answered
        await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert len(src.requests) == 3
    src.mode = "garbage"
    for _ in range(fed.breakers.failures):
        await client.get(BASE + "/entities", params={"type": "Sensor"})
    asked = len(src.requests)
    resp = await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert len(src.requests) == asked  # skipped while open
    assert "circuit is open" in resp.headers["NGSILD-Warning"]


async def test_local_true_and_a_loop_keep_reads_local(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    src.entities = [sensor("urn:ngsi-ld:Sensor:remote", 2.0)]
    await register(client, url)
    resp = await client.get(BASE + "/entities", params={"type": "Sensor", "local": "true"})
    assert await resp.json() == [] and not src.requests
    looped = await client.get(BASE + "/entities", params={"type": "Sensor"}, headers={
        "Via": "1.1 urn:ngsi-ld:ContextSource:hub-under-test"})
    assert await looped.json() == [] and not src.requests


async def test_writes_are_forwarded_and_a_looping_write_is_refused(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, operations=["redirectionOps"])
    resp = await client.post(BASE + "/entities", json=sensor("urn:ngsi-ld:Sensor:new", 1.0),
                             headers={"Cookie": "session=caller"})
    assert resp.status == 201
    assert src.requests[-1].method == "POST" and src.bodies[-1]["id"] == "urn:ngsi-ld:Sensor:new"
    assert "Cookie" not in src.requests[-1].headers
    looped = await client.delete(BASE + "/entities/urn:ngsi-ld:Sensor:new", headers={
        "Via": src.requests[-1].headers["Via"]})
    assert looped.status == 508
    assert (await looped.json())["type"] == "https://uri.etsi.org/ngsi-ld/errors/LoopDetected"


async def test_redirect_registration_keeps_nothing_locally(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, mode="redirect", operations=["redirectionOps"])
    resp = await client.post(BASE + "/entities", json=sensor("urn:ngsi-ld:Sensor:away", 1.0))
    assert resp.status == 201 and src.requests[-1].method == "POST"
    local = await client.get(BASE + "/entities/urn:ngsi-ld:Sensor:away?local=true")
    assert local.status == 404


async def test_no_registration_costs_no_source_call(client: TestClient) -> None:
    resp = await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert resp.status == 200 and "NGSILD-Warning" not in resp.headers
    assert federation_of(client.app).stats.calls == 0


async def test_redirect_without_the_operation_is_a_conflict(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, mode="redirect", operations=["retrieveOps"])
    resp = await client.post(BASE + "/entities", json=sensor("urn:ngsi-ld:Sensor:nowhere", 1.0))
    assert resp.status == 409
    assert (await resp.json())["type"] == "https://uri.etsi.org/ngsi-ld/errors/Conflict"
    assert not src.requests


# --- how a distributed write answers when the hub's part and the sources' parts differ
# (writes.partial), the forwarded purge, and the batch query asked as a batch query


async def test_redirect_delete_of_an_entity_held_only_remotely_is_204(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, mode="redirect", operations=["redirectionOps"])
    resp = await client.post(BASE + "/entities", json=sensor("urn:ngsi-ld:Sensor:r1", 1.0))
    assert resp.status == 201
    gone = await client.delete(BASE + "/entities/urn:ngsi-ld:Sensor:r1")
    assert gone.status == 204, await gone.text()
    assert src.requests[-1].method == "DELETE"


async def test_inclusive_delete_of_an_entity_missing_here_reports_the_local_404(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, operations=["redirectionOps"])
    resp = await client.delete(BASE + "/entities/urn:ngsi-ld:Sensor:elsewhere")
    assert resp.status == 207, await resp.text()
    body = await resp.json()
    assert body["success"] == ["urn:ngsi-ld:Sensor:elsewhere"]
    assert [e["error"]["status"] for e in body["errors"]] == [404]
    assert src.requests[-1].method == "DELETE"


async def test_inclusive_attribute_only_at_the_source_is_no_local_error(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    created = await client.post(BASE + "/entities?local=true",
                                json={"id": "urn:ngsi-ld:Sensor:a1", "type": "Sensor"})
    assert created.status == 201
    await register(client, url, operations=["redirectionOps"])
    resp = await client.patch(BASE + "/entities/urn:ngsi-ld:Sensor:a1/attrs/rain",
                              json={"value": 3})
    assert resp.status == 204, await resp.text()
    assert src.requests[-1].method == "PATCH"


async def test_create_conflicting_here_and_at_the_source_reports_both(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    doc = sensor("urn:ngsi-ld:Sensor:twice", 1.0)
    assert (await client.post(BASE + "/entities?local=true", json=doc)).status == 201
    await register(client, url, operations=["redirectionOps"])
    src.mode = "500"
    resp = await client.post(BASE + "/entities", json=doc)
    assert resp.status == 207, await resp.text()
    statuses = sorted(e["error"]["status"] for e in (await resp.json())["errors"])
    assert statuses == [409, 500]


async def test_exclusive_create_of_attributes_a_source_owns_leaves_the_local_entity(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    eid = "urn:ngsi-ld:Sensor:x1"
    assert (await client.post(BASE + "/entities?local=true",
                              json={"id": eid, "type": "Sensor"})).status == 201
    await register(client, url, mode="exclusive", operations=["redirectionOps"],
                   information=[{"entities": [{"id": eid, "type": "Sensor"}],
                                 "propertyNames": ["rain"]}])
    resp = await client.post(BASE + "/entities", json=sensor(eid, 2.0))
    assert resp.status == 201, await resp.text()
    assert src.requests[-1].method == "POST" and "rain" in src.bodies[-1]


async def test_a_source_answering_207_makes_the_write_207(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, mode="redirect", operations=["redirectionOps"])

    async def partly(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"success": [], "errors": [{"entityId": "x", "error": {
            "type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
            "title": "Bad request data", "status": 400, "detail": "no"}}]}, status=207)

    src.override = partly
    resp = await client.post(BASE + "/entities/urn:ngsi-ld:Sensor:p1/attrs",
                             json={"rain": {"type": "Property", "value": 1}})
    assert resp.status == 207, await resp.text()
    errors = (await resp.json())["errors"]
    assert [e["error"]["status"] for e in errors] == [400]
    assert errors[0]["entityId"] == "urn:ngsi-ld:Sensor:p1"


async def test_purge_is_forwarded_with_the_callers_selection(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    assert (await client.post(BASE + "/entities",
                              json=sensor("urn:ngsi-ld:Sensor:g1", 1.0))).status == 201
    await register(client, url, operations=["redirectionOps"])
    resp = await client.delete(BASE + "/entities", params={"type": "Sensor"})
    assert resp.status == 204, await resp.text()
    last = src.requests[-1]
    assert last.method == "DELETE" and last.path == BASE + "/entities"
    assert last.query.get("type") == "Sensor"
    local = await client.get(BASE + "/entities/urn:ngsi-ld:Sensor:g1?local=true")
    assert local.status == 404


async def test_purge_reports_a_failing_source(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, operations=["redirectionOps"])
    src.mode = "500"
    resp = await client.delete(BASE + "/entities", params={"type": "Sensor"})
    assert resp.status == 207, await resp.text()
    assert [e["error"]["status"] for e in (await resp.json())["errors"]] == [500]


async def test_a_batch_query_is_forwarded_as_a_batch_query(
        client: TestClient, source: tuple[Source, str]) -> None:
    src, url = source
    await register(client, url, operations=["queryEntity", "queryBatch"])
    resp = await client.post(BASE + "/entityOperations/query",
                             json={"type": "Query", "entities": [{"type": "Sensor"}]})
    assert resp.status == 200, await resp.text()
    assert src.requests[-1].method == "POST"
    assert src.requests[-1].path == BASE + "/entityOperations/query"
    by_get = await client.get(BASE + "/entities", params={"type": "Sensor"})
    assert by_get.status == 200
    assert src.requests[-1].method == "GET"
