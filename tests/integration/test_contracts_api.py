"""/contracts: the served @context and JSON Schemas, and the built-in contracts context.

The built-in test replaces the context store's HTTP fetch with one that fails and records
its calls, so "the network is unavailable" is what the hub sees.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

import contracts as c
from hub import keys
from hub.errors import LdContextNotAvailable
from tests.integration.helpers import JSON, assert_problem

BASE = "/ngsi-ld/v1"


async def test_listing_names_every_contract_with_its_urls(client: TestClient) -> None:
    resp = await client.get("/contracts")
    assert resp.status == 200 and resp.content_type == "application/json"
    items = {i["name"]: i for i in await resp.json()}
    assert set(items) == set(c.CONTRACTS)
    weather = items["WeatherObserved"]
    assert weather["version"] == "1.0.0" and weather["observation"] is True
    assert weather["typeIri"] == "https://smartdatamodels.org/dataModel.Weather/WeatherObserved"
    assert weather["context"] == c.CONTEXT_URL
    assert weather["schemaPath"] == "/contracts/WeatherObserved/1.0.0/schema.json"
    assert items["LibraryCirculation"]["smartDataModel"] is None


async def test_context_is_served_at_the_path_of_its_url(client: TestClient) -> None:
    resp = await client.get(c.CONTEXT_PATH)
    assert resp.status == 200 and resp.content_type == "application/ld+json"
    assert await resp.json(content_type=None) == c.context_document()
    assert c.CONTEXT_URL.endswith(c.CONTEXT_PATH)


async def test_each_schema_is_served(client: TestClient) -> None:
    for info in c.CONTRACTS.values():
        resp = await client.get(f"/contracts/{info.name}/{info.version}/schema.json")
        assert resp.status == 200, info.name
        assert resp.content_type == "application/schema+json"
        assert await resp.json(content_type=None) == info.json_schema


@pytest.mark.parametrize("path", [
    "/contracts/RiverLevel/1.0.0/schema.json",
    "/contracts/WeatherObserved/9.9.9/schema.json",
])
async def test_unknown_contract_or_version_is_not_found(client: TestClient, path: str) -> None:
    body = await assert_problem(await client.get(path), 404, "ResourceNotFound")
    assert path.split("/")[2] in body["detail"]


class _NoNetwork:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.calls.append(url)
        raise LdContextNotAvailable(f"@context {url} could not be fetched (no network)")


def _gauge() -> dict[str, Any]:
    model = c.WeatherObserved(
        id="urn:ngsi-ld:WeatherObserved:nagano", dateObserved="2026-11-22T09:00:00Z",
        location=c.Point(coordinates=(138.19, 36.65)), precipitation=12.5, quality="normal")
    return c.to_ngsi_ld(model, include_context=False)


async def _stored_row(client: TestClient, entity_id: str) -> asyncpg.Record | None:
    pool = client.server.app[keys.POOL]
    return await pool.fetchrow("SELECT types, attrs FROM ngsild.entities WHERE id = $1",
                               entity_id)


async def test_link_to_contracts_context_expands_offline(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network = _NoNetwork()
    monkeypatch.setattr(client.server.app[keys.CONTEXTS], "fetch", no_network)
    link = {"Link": c.LINK_HEADER, **JSON}
    resp = await client.post(f"{BASE}/entities", json=_gauge(), headers=link)
    assert resp.status == 201, await resp.text()
    row = await _stored_row(client, "urn:ngsi-ld:WeatherObserved:nagano")
    assert row is not None
    assert row["types"] == [c.contract("WeatherObserved").type_iri]
    assert set(row["attrs"]) == {c.iri(t) for t in
                                 ("quality", "dateObserved", "location", "precipitation")}
    assert c.validate_stored(row["types"], row["attrs"]) == []
    assert no_network.calls == []

    # queried with the same Link, the short names come back; without it, the IRIs do
    got = await client.get(f"{BASE}/entities/urn:ngsi-ld:WeatherObserved:nagano",
                           headers={"Link": c.LINK_HEADER})
    body = await got.json()
    assert body["type"] == "WeatherObserved" and body["precipitation"]["unitCode"] == "MMT"
    plain = await (await client.get(f"{BASE}/entities/urn:ngsi-ld:WeatherObserved:nagano")).json()
    assert c.iri("precipitation") in plain
    found = await client.get(f"{BASE}/entities", params={"type": "WeatherObserved",
                                                         "q": "precipitation>10"},
                             headers={"Link": c.LINK_HEADER})
    assert [e["id"] for e in await found.json()] == ["urn:ngsi-ld:WeatherObserved:nagano"]


async def test_inline_contracts_context_in_ld_json_is_built_in_too(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network = _NoNetwork()
    monkeypatch.setattr(client.server.app[keys.CONTEXTS], "fetch", no_network)
    entity = {**_gauge(), "@context": [c.CONTEXT_URL]}
    resp = await client.post(f"{BASE}/entities", json=entity,
                             headers={"Content-Type": "application/ld+json"})
    assert resp.status == 201, await resp.text()
    row = await _stored_row(client, "urn:ngsi-ld:WeatherObserved:nagano")
    assert row is not None and c.iri("precipitation") in row["attrs"]
    assert no_network.calls == []


async def test_other_unreachable_context_still_fails_and_stores_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network = _NoNetwork()
    monkeypatch.setattr(client.server.app[keys.CONTEXTS], "fetch", no_network)
    other = "https://renkei.example.jp/contracts/v9/context.jsonld"
    link = {"Link": f'<{other}>; rel="http://www.w3.org/ns/json-ld#context"', **JSON}
    resp = await client.post(f"{BASE}/entities", json=_gauge(), headers=link)
    await assert_problem(resp, 503, "LdContextNotAvailable")
    assert no_network.calls == [other]
    assert await _stored_row(client, "urn:ngsi-ld:WeatherObserved:nagano") is None
