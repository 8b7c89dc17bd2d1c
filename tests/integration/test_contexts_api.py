"""User @contexts: hosted, fetched from a real local HTTP server, cached in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.integration.helpers import JSON, assert_problem, gauge

C = "/ngsi-ld/v1/jsonldContexts"
E = "/ngsi-ld/v1/entities"
USER_CTX = {"@context": {"rain": "https://example.org/rainfall",
                         "Gauge": "https://example.org/Gauge"}}


@pytest.fixture
async def ctx_server() -> AsyncIterator[tuple[TestServer, list[int]]]:
    """A real HTTP server publishing a context; ``hits`` counts fetches; /down is 500."""
    hits: list[int] = []

    async def ctx(_: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response(USER_CTX)

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/ctx.jsonld", ctx)
    app.router.add_get("/down.jsonld", down)
    async with TestServer(app) as server:
        yield server, hits


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"'}


async def test_remote_context_is_fetched_once_and_used(
    client: TestClient, ctx_server: tuple[TestServer, list[int]]
) -> None:
    server, hits = ctx_server
    url = str(server.make_url("/ctx.jsonld"))
    ent = {"id": "urn:x:g1", "type": "Gauge", "rain": {"type": "Property", "value": 4}}
    resp = await client.post(E, json=ent, headers={**JSON, **link(url)})
    assert resp.status == 201
    body = await (await client.get(f"{E}/urn:x:g1", headers=link(url))).json()
    assert body["type"] == "Gauge" and body["rain"]["value"] == 4
    plain = await (await client.get(f"{E}/urn:x:g1")).json()  # core context only
    assert plain["type"] == "https://example.org/Gauge"
    assert "https://example.org/rainfall" in plain
    assert len(hits) == 1
    listed = await (await client.get(C + "?details=true&kind=Cached")).json()
    assert any(c["URL"] == url for c in listed)


async def test_unreachable_context_is_503(
    client: TestClient, ctx_server: tuple[TestServer, list[int]]
) -> None:
    server, _ = ctx_server
    resp = await client.post(E, json=gauge(1),
                             headers={**JSON, **link(str(server.make_url("/down.jsonld")))})
    await assert_problem(resp, 503, "LdContextNotAvailable")


@pytest.mark.parametrize("ref", ["", "ctx.jsonld"])
async def test_a_context_that_is_no_url_is_400_not_503(client: TestClient, ref: str) -> None:
    """A request has no base URL, so "" or a relative path names nothing to fetch: a bad
    request, not an unavailable host (schemathesis found "" answered 503). Nothing is
    stored."""
    resp = await client.post(E, json={**gauge(1), "@context": ref},
                             headers={"Content-Type": "application/ld+json"})
    await assert_problem(resp, 400, "BadRequestData")
    assert (await client.get(f"{E}/{gauge(1)['id']}")).status == 404


async def test_hosted_context_round_trip(client: TestClient) -> None:
    resp = await client.post(C, json=USER_CTX, headers=JSON)
    assert resp.status == 201
    location = resp.headers["Location"]
    served = await (await client.get(location)).json()
    assert served == USER_CTX
    assert (await client.delete(location)).status == 204
    await assert_problem(await client.get(location), 404, "ResourceNotFound")
    await assert_problem(await client.post(C, json={"x": 1}, headers=JSON), 400,
                         "InvalidRequest")
