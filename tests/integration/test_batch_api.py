"""Batch operations: all-or-report semantics, 207 bodies, and nothing half-written."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.integration.helpers import ERR, JSON, assert_problem, gauge

B = "/ngsi-ld/v1/entityOperations"
E = "/ngsi-ld/v1/entities"


async def test_batch_create_reports_each_failure(client: TestClient) -> None:
    await client.post(E, json=gauge(1), headers=JSON)
    batch = [gauge(1), gauge(2), {**gauge(3), "id": "bad id"}, gauge(4)]
    resp = await client.post(f"{B}/create", json=batch, headers=JSON)
    assert resp.status == 207
    body = await resp.json()
    assert body["success"] == ["urn:ngsi-ld:WeatherObserved:g2", "urn:ngsi-ld:WeatherObserved:g4"]
    errors = {e["entityId"]: e["error"]["type"] for e in body["errors"]}
    assert errors == {"urn:ngsi-ld:WeatherObserved:g1": ERR + "AlreadyExists",
                      "bad id": ERR + "BadRequestData"}
    resp = await client.post(f"{B}/create", json=[gauge(5), gauge(6)], headers=JSON)
    assert resp.status == 201
    assert await resp.json() == ["urn:ngsi-ld:WeatherObserved:g5",
                                 "urn:ngsi-ld:WeatherObserved:g6"]


async def test_upsert_replace_and_update(client: TestClient) -> None:
    resp = await client.post(f"{B}/upsert", json=[gauge(1, 1.0)], headers=JSON)
    assert resp.status == 201
    extra = {"id": "urn:ngsi-ld:WeatherObserved:g1", "type": "WeatherObserved",
             "temperature": {"type": "Property", "value": 3}}
    resp = await client.post(f"{B}/upsert?options=update", json=[extra], headers=JSON)
    assert resp.status == 204
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert body["temperature"]["value"] == 3 and body["precipitation"]["value"] == 1.0
    resp = await client.post(f"{B}/upsert", json=[extra], headers=JSON)  # replace
    assert resp.status == 204
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert "precipitation" not in body
    await assert_problem(await client.post(f"{B}/upsert", json={"not": "array"}, headers=JSON),
                         400, "BadRequestData")


async def test_update_merge_delete(client: TestClient) -> None:
    await client.post(f"{B}/create", json=[gauge(1), gauge(2)], headers=JSON)
    patch = [{"id": "urn:ngsi-ld:WeatherObserved:g1",
              "precipitation": {"type": "Property", "value": 7.0}},
             {"id": "urn:ngsi-ld:WeatherObserved:nope",
              "precipitation": {"type": "Property", "value": 7.0}}]
    resp = await client.post(f"{B}/update", json=patch, headers=JSON)
    assert resp.status == 207
    body = await resp.json()
    assert body["errors"][0]["error"]["type"] == ERR + "ResourceNotFound"
    resp = await client.post(f"{B}/merge", json=patch[:1], headers=JSON)
    assert resp.status == 204
    ids = ["urn:ngsi-ld:WeatherObserved:g1", "urn:ngsi-ld:WeatherObserved:g2"]
    assert (await client.post(f"{B}/delete", json=ids, headers=JSON)).status == 204
    resp = await client.post(f"{B}/delete", json=ids, headers=JSON)
    assert resp.status == 207
    assert len((await resp.json())["errors"]) == 2


async def test_batch_query(client: TestClient) -> None:
    await client.post(f"{B}/create", json=[gauge(i, float(i)) for i in range(5)], headers=JSON)
    query = {"type": "Query", "entities": [{"type": "WeatherObserved"}],
             "q": "precipitation>=3"}
    resp = await client.post(f"{B}/query?count=true", json=query, headers=JSON)
    assert resp.status == 200
    assert resp.headers["NGSILD-Results-Count"] == "2"
    assert {e["id"] for e in await resp.json()} == {"urn:ngsi-ld:WeatherObserved:g3",
                                                     "urn:ngsi-ld:WeatherObserved:g4"}
    await assert_problem(await client.post(f"{B}/query", json={"type": "X"}, headers=JSON),
                         400, "BadRequestData")


async def test_large_batch_is_read_whole(client: TestClient) -> None:
    """A body arriving in many TCP chunks is read completely (a regression the bench found)."""
    batch = [{**gauge(i), "note": {"type": "Property", "value": "x" * 200}} for i in range(500)]
    resp = await client.post(f"{B}/upsert", json=batch[:400], headers=JSON)
    assert resp.status == 201, await resp.text()
    assert len(await resp.json()) == 400
