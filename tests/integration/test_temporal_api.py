"""Temporal representation: provision, retrieval, instance edits and their errors."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.integration.helpers import JSON, assert_problem

T = "/ngsi-ld/v1/temporal/entities"
GAUGE = {
    "id": "urn:ngsi-ld:WeatherObserved:t1",
    "type": "WeatherObserved",
    "precipitation": [
        {"type": "Property", "value": 1.5, "observedAt": "2026-11-22T09:00:00Z"},
        {"type": "Property", "value": 7.0, "observedAt": "2026-11-22T10:00:00Z"},
    ],
}


async def test_temporal_round_trip(client: TestClient) -> None:
    resp = await client.post(T, json=GAUGE, headers=JSON)
    assert resp.status == 201
    url = f"{T}/urn:ngsi-ld:WeatherObserved:t1"
    more = {"precipitation": {"type": "Property", "value": 3.0,
                              "observedAt": "2026-11-22T11:00:00Z"}}
    assert (await client.post(url + "/attrs", json=more, headers=JSON)).status == 204
    body = await (await client.get(url)).json()
    values = [i["value"] for i in body["precipitation"]]
    assert values == [1.5, 7.0, 3.0]
    first = body["precipitation"][0]["instanceId"]
    patch = {"value": 2.5}
    resp = await client.patch(f"{url}/attrs/precipitation/{first}", json=patch, headers=JSON)
    assert resp.status == 204
    body = await (await client.get(url)).json()
    assert body["precipitation"][0]["value"] == 2.5
    assert (await client.delete(f"{url}/attrs/precipitation/{first}")).status == 204
    body = await (await client.get(url)).json()
    assert [i["value"] for i in body["precipitation"]] == [7.0, 3.0]
    corrected = {"id": GAUGE["id"], "type": "WeatherObserved", "precipitation": {
        "type": "Property", "value": 7.5, "observedAt": "2026-11-22T10:00:00Z"}}
    assert (await client.post(T, json=corrected, headers=JSON)).status == 204
    body = await (await client.get(url)).json()  # same instant: the reading is replaced
    assert sorted(i["value"] for i in body["precipitation"]) == [3.0, 7.5]
    assert (await client.delete(f"{url}/attrs/precipitation")).status == 204
    assert "precipitation" not in await (await client.get(url)).json()
    assert (await client.delete(url)).status == 204
    await assert_problem(await client.get(url), 404, "ResourceNotFound")


async def test_temporal_errors(client: TestClient) -> None:
    await assert_problem(await client.post(T, json={**GAUGE, "id": "nope"}, headers=JSON),
                         400, "BadRequestData")
    await assert_problem(await client.post(T, json={}, headers=JSON), 400, "InvalidRequest")
    await client.post(T, json=GAUGE, headers=JSON)
    url = f"{T}/urn:ngsi-ld:WeatherObserved:t1"
    await assert_problem(await client.delete(f"{url}/attrs/nothing"), 404, "ResourceNotFound")
    await assert_problem(await client.delete(f"{url}/attrs/precipitation/bad id"), 400,
                         "BadRequestData")
    await assert_problem(await client.delete(f"{url}/attrs/precipitation/urn:x:none"), 404,
                         "ResourceNotFound")
    await assert_problem(await client.post(f"{T}/urn:x:missing/attrs", json=GAUGE, headers=JSON),
                         404, "ResourceNotFound")


async def test_temporal_query_and_window(client: TestClient) -> None:
    await client.post(T, json=GAUGE, headers=JSON)
    resp = await client.get(T, params={"type": "WeatherObserved", "timerel": "after",
                                       "timeAt": "2026-11-22T09:30:00Z"})
    assert resp.status == 200
    body = await resp.json()
    assert [i["value"] for i in body[0]["precipitation"]] == [7.0]
    other = {**GAUGE, "id": "urn:ngsi-ld:WeatherObserved:t2"}
    assert (await client.post(T, json=other, headers=JSON)).status == 201
    for params, ids in (({"type": "WeatherObserved"}, ["t1", "t2"]),
                        ({"type": "WeatherObserved", "id": "urn:ngsi-ld:WeatherObserved:t2"},
                         ["t2"]),
                        ({"type": "Nothing"}, []),
                        ({"type": "WeatherObserved", "limit": "1", "offset": "1"}, ["t2"])):
        got = await (await client.get(T, params=params)).json()
        assert [e["id"].rsplit(":", 1)[-1] for e in got] == ids, params
    await assert_problem(await client.get(T, params={"type": "X", "timerel": "soon"}), 400,
                         "BadRequestData")
    await assert_problem(await client.get(T, params={"bogus": "1"}), 400, "InvalidRequest")


async def test_instance_path_without_attribute(client: TestClient) -> None:
    """``…/attrs//{instanceId}`` names no attribute: PATCH has no resource to apply to
    (405, with what is allowed), DELETE is a malformed request (400)."""
    path = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:X:1/attrs//urn:ngsi-ld:i:1"
    resp = await client.patch(path, json={"speed": {"type": "Property", "value": 1}},
                              headers=JSON)
    assert resp.status == 405
    assert resp.headers["Allow"] == "DELETE"
    resp = await client.delete(path)
    await assert_problem(resp, 400, "BadRequestData")


async def test_options_count_is_count_true(client: TestClient) -> None:
    """``options=count``, the legacy spelling clients such as ngsildclient send on every
    temporal query, counts like ``count=true``; an option nobody defines stays 400."""
    assert (await client.post(T, json=GAUGE, headers=JSON)).status == 201
    for query in ("options=count", "count=true"):
        resp = await client.get(f"{T}?type=WeatherObserved&{query}")
        assert resp.status == 200, await resp.text()
        assert resp.headers["NGSILD-Results-Count"] == "1"
    resp = await client.get(f"{T}?type=WeatherObserved")
    assert "NGSILD-Results-Count" not in resp.headers
    await assert_problem(await client.get(f"{T}?type=WeatherObserved&options=counts"),
                         400, "InvalidRequest")
