"""The temporal consumption API (GS CIM 009 5.7.3, 5.7.4): each parameter against a small
written history, with the exact answer expected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.settings import Settings
from registry import RegistryRepository
from registry.service import ensure_catch_all
from tests.conftest import CATCH_ALL, TEST_PREFECTURE, reset_database
from tests.integration.helpers import JSON, assert_problem

T = "/ngsi-ld/v1/temporal/entities"
Q = "/ngsi-ld/v1/temporal/entityOperations/query"
EID = "urn:ngsi-ld:Vehicle:q1"
URL = f"{T}/{EID}"


def _p(value: Any, at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at, **extra}


VEHICLE = {
    "id": EID, "type": "Vehicle",
    "speed": [_p(120, "2020-08-01T12:03:00Z"), _p(80, "2020-08-01T12:05:00Z"),
              _p(100, "2020-08-01T12:07:00Z")],
    "fuelLevel": [_p(67, "2020-08-01T12:03:00Z"), _p(53, "2020-08-01T13:05:00Z"),
                  _p(40, "2020-08-01T14:07:00Z"),
                  _p(90, "2020-08-01T12:30:00Z", datasetId="urn:ngsi-ld:Dataset:tank2")],
}


@pytest.fixture
async def tq(settings: Settings) -> AsyncIterator[TestClient]:
    """A dev-mode hub whose temporal answers are cut at 5 instances per entity."""
    assert settings.database_url
    await reset_database(settings.database_url)
    app = create_app(replace(settings, temporal_page_instances=5))
    async with TestClient(TestServer(app)) as c:
        await ensure_catch_all(RegistryRepository(app[keys.POOL]), TEST_PREFECTURE, CATCH_ALL,
                               "テスト県")
        app[keys.REGISTRY_RULES].invalidate()
        assert (await c.post(T, json=VEHICLE, headers=JSON)).status == 201
        yield c
    app[keys.TENANTS].forget()


def values(body: dict[str, Any], attr: str) -> list[Any]:
    return [i["value"] for i in body.get(attr, [])]


async def test_timerel_on_observed_at(tq: TestClient) -> None:
    for params, speed, fuel in (
        ({"timerel": "before", "timeAt": "2020-08-01T12:05:00Z"}, [120], [67]),
        ({"timerel": "after", "timeAt": "2020-08-01T12:05:00Z"}, [80, 100], [90, 53, 40]),
        ({"timerel": "between", "timeAt": "2020-08-01T12:04:00Z",
          "endTimeAt": "2020-08-01T13:05:00Z"}, [80, 100], [90]),
    ):
        resp = await tq.get(URL, params={**params, "attrs": "speed,fuelLevel"})
        assert resp.status == 200, params
        body = await resp.json()
        assert values(body, "speed") == speed and values(body, "fuelLevel") == fuel, params


async def test_timerel_on_system_times(tq: TestClient) -> None:
    """createdAt and modifiedAt: every instance was created at posting time; deletedAt:
    none was deleted, so that history is empty (only instances carrying it count)."""
    resp = await tq.get(URL, params={"timeproperty": "createdAt", "timerel": "after",
                                     "timeAt": "2021-01-01T00:00:00Z", "attrs": "speed"})
    assert values(await resp.json(), "speed") == [120, 80, 100]
    resp = await tq.get(URL, params={"timeproperty": "modifiedAt", "timerel": "before",
                                     "timeAt": "2021-01-01T00:00:00Z", "attrs": "speed"})
    await assert_problem(resp, 404, "ResourceNotFound")
    body = await (await tq.get(URL, params={"timeproperty": "deletedAt"})).json()
    assert set(body) == {"id", "type"}
    await assert_problem(await tq.get(URL, params={"timeproperty": "seenAt"}), 400,
                         "BadRequestData")


async def test_last_n_per_attribute(tq: TestClient) -> None:
    body = await (await tq.get(URL, params={"lastN": "1"})).json()
    assert values(body, "speed") == [100] and values(body, "fuelLevel") == [40]
    body = await (await tq.get(URL, params={"lastN": "2", "attrs": "speed"})).json()
    assert values(body, "speed") == [80, 100] and "fuelLevel" not in body
    await assert_problem(await tq.get(URL, params={"lastN": "0"}), 400, "BadRequestData")


async def test_temporal_values_grouped_by_dataset_id(tq: TestClient) -> None:
    body = await (await tq.get(URL, params={"options": "temporalValues",
                                            "attrs": "speed"})).json()
    assert body["speed"] == {"type": "Property", "values": [
        [120, "2020-08-01T12:03:00Z"], [80, "2020-08-01T12:05:00Z"],
        [100, "2020-08-01T12:07:00Z"]]}
    body = await (await tq.get(URL, params={"options": "temporalValues",
                                            "attrs": "fuelLevel"})).json()
    assert sorted(body["fuelLevel"], key=lambda g: g.get("datasetId", "")) == [
        {"type": "Property", "values": [[67, "2020-08-01T12:03:00Z"],
                                        [53, "2020-08-01T13:05:00Z"],
                                        [40, "2020-08-01T14:07:00Z"]]},
        {"type": "Property", "datasetId": "urn:ngsi-ld:Dataset:tank2",
         "values": [[90, "2020-08-01T12:30:00Z"]]}]
    only = await (await tq.get(URL, params={"format": "temporalValues",
                                            "datasetId": "urn:ngsi-ld:Dataset:tank2"})).json()
    assert only == {"id": EID, "type": "Vehicle", "fuelLevel": {
        "type": "Property", "datasetId": "urn:ngsi-ld:Dataset:tank2",
        "values": [[90, "2020-08-01T12:30:00Z"]]}}


async def test_aggregation_by_period_in_sql(tq: TestClient) -> None:
    params = {"aggrMethods": "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
              "aggrPeriodDuration": "PT1H", "format": "aggregatedValues", "attrs": "speed"}
    body = await (await tq.get(URL, params=params)).json()
    bucket = ["2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]
    assert body["speed"] == {
        "type": "Property", "totalCount": [[3, *bucket]], "distinctCount": [[3, *bucket]],
        "sum": [[300.0, *bucket]], "avg": [[100.0, *bucket]], "min": [[80.0, *bucket]],
        "max": [[120.0, *bucket]], "stddev": [[20.0, *bucket]],
        "sumsq": [[30800.0, *bucket]]}
    params = {"aggrMethods": "sum", "aggrPeriodDuration": "PT1H", "format": "aggregatedValues",
              "datasetId": "@none", "attrs": "fuelLevel"}
    body = await (await tq.get(URL, params=params)).json()
    assert body["fuelLevel"]["sum"] == [
        [67.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
        [53.0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
        [40.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"]]
    # no period: the whole window is one bucket; timeAt starts it
    params = {"aggrMethods": "max", "options": "aggregatedValues", "attrs": "speed",
              "timerel": "after", "timeAt": "2020-08-01T12:04:00Z"}
    body = await (await tq.get(URL, params=params)).json()
    assert body["speed"]["max"] == [[100.0, "2020-08-01T12:04:00Z", "2020-08-01T12:07:00Z"]]
    for bad in ({"aggrMethods": "median", "format": "aggregatedValues"},
                {"format": "aggregatedValues"},
                {"aggrMethods": "sum", "format": "aggregatedValues",
                 "aggrPeriodDuration": "P1M"},
                {"aggrMethods": "sum", "format": "aggregatedValues",
                 "aggrPeriodDuration": "one hour"}):
        await assert_problem(await tq.get(URL, params=bad), 400, "BadRequestData")


async def test_pagination_content_range(tq: TestClient) -> None:
    """7 instances, cut at 5: oldest first the range runs from the first to the fifth
    instant; with lastN newest first, and the size is lastN."""
    resp = await tq.get(URL)
    assert resp.status == 206
    assert resp.headers["Content-Range"] == \
        "date-time 2020-08-01T12:03:00Z-2020-08-01T12:30:00Z/*"
    body = await resp.json()
    assert values(body, "speed") == [120, 80, 100] and values(body, "fuelLevel") == [67, 90]
    resp = await tq.get(URL, params={"lastN": "3"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == \
        "date-time 2020-08-01T14:07:00Z-2020-08-01T12:05:00Z/3"
    body = await resp.json()
    assert values(body, "speed") == [80, 100] and values(body, "fuelLevel") == [90, 53, 40]
    resp = await tq.get(URL, params={"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == \
        "date-time 2020-08-01T12:00:00Z-2020-08-01T12:30:00Z/*"
    resp = await tq.get(URL, params={"attrs": "speed"})
    assert resp.status == 200 and "Content-Range" not in resp.headers


async def test_query_get_and_post(tq: TestClient) -> None:
    other = {"id": "urn:ngsi-ld:Vehicle:q2", "type": "Vehicle",
             "speed": [_p(10, "2020-08-02T00:00:00Z")]}
    assert (await tq.post(T, json=other, headers=JSON)).status == 201
    resp = await tq.get(T, params={"type": "Vehicle", "lastN": "1", "attrs": "speed",
                                   "orderBy": "id;desc", "count": "true"})
    assert resp.status == 200 and resp.headers["NGSILD-Results-Count"] == "2"
    body = await resp.json()
    assert [(e["id"], values(e, "speed")) for e in body] == [
        ("urn:ngsi-ld:Vehicle:q2", [10]), (EID, [100])]
    query = {"type": "Query", "entities": [{"type": "Vehicle"}], "attrs": ["speed"],
             "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T12:06:00Z"}}
    resp = await tq.post(Q, json=query, headers=JSON)
    assert resp.status == 200
    assert [(e["id"], values(e, "speed")) for e in await resp.json()] == [
        (EID, [100]), ("urn:ngsi-ld:Vehicle:q2", [10])]
    await assert_problem(await tq.get(T, params={"id": EID}), 400, "BadRequestData")
    # orderBy beyond id sorts by the current state (V1.9, ETSI 021_23); a bad item is 400
    await assert_problem(await tq.get(T, params={"type": "Vehicle", "orderBy": "speed;up"}),
                         400, "BadRequestData")
    await assert_problem(await tq.post(Q, json={"type": "Nope"}, headers=JSON), 400,
                         "BadRequestData")
    assert (await tq.get(T, params={"local": "true", "timerel": "after",
                                    "timeAt": "2020-08-02T00:00:00Z"})).status == 200


async def test_projection_and_errors(tq: TestClient) -> None:
    body = await (await tq.get(URL, params={"pick": "speed", "lastN": "1"})).json()
    assert list(body) == ["speed"]
    body = await (await tq.get(URL, params={"omit": "type,speed", "lastN": "1"})).json()
    assert list(body) == ["id", "fuelLevel"]
    await assert_problem(await tq.get(URL, params={"pick": "nothing"}), 404,
                         "ResourceNotFound")
    await assert_problem(await tq.get(URL, params={"attrs": "nothing"}), 404,
                         "ResourceNotFound")
    await assert_problem(await tq.get(URL, params={"pick": "speed", "attrs": "speed"}), 400,
                         "BadRequestData")
    await assert_problem(await tq.get(URL, params={"options": "bogus"}), 400,
                         "InvalidRequest")
    await assert_problem(await tq.get(URL, params={"format": "bogus"}), 400,
                         "InvalidRequest")
    await assert_problem(await tq.get(URL, params={"timerel": "between",
                                                   "timeAt": "2020-08-01T12:00:00Z"}),
                         400, "BadRequestData")


async def test_query_with_q_and_geo_query(tq: TestClient) -> None:
    """q holds when an instance in the window satisfies it; a geo-query when one of the
    geo-property's instances in the window matches."""
    moved = {"id": "urn:ngsi-ld:Vehicle:q3", "type": "Vehicle",
             "speed": [_p(150, "2020-08-01T10:00:00Z"), _p(20, "2020-08-01T13:00:00Z")],
             "location": [{"type": "GeoProperty", "observedAt": "2020-08-01T10:00:00Z",
                           "value": {"type": "Point", "coordinates": [138.19, 36.65]}},
                          {"type": "GeoProperty", "observedAt": "2020-08-01T13:00:00Z",
                           "value": {"type": "Point", "coordinates": [135.0, 35.0]}}]}
    assert (await tq.post(T, json=moved, headers=JSON)).status == 201
    for params, ids in (
        ({"q": "speed>110"}, [EID, "urn:ngsi-ld:Vehicle:q3"]),
        ({"q": "speed>110", "timerel": "after", "timeAt": "2020-08-01T12:04:00Z"}, []),
        ({"q": "speed>140", "timerel": "before", "timeAt": "2020-08-01T12:04:00Z"},
         ["urn:ngsi-ld:Vehicle:q3"]),
        ({"georel": "near;maxDistance==2000", "geometry": "Point",
          "coordinates": "[138.19,36.65]"}, ["urn:ngsi-ld:Vehicle:q3"]),
        ({"georel": "near;maxDistance==2000", "geometry": "Point",
          "coordinates": "[138.19,36.65]", "timerel": "after",
          "timeAt": "2020-08-01T12:00:00Z"}, []),
    ):
        resp = await tq.get(T, params={"type": "Vehicle", "attrs": "speed", **params})
        assert resp.status == 200, params
        assert [e["id"] for e in await resp.json()] == ids, params
    query = {"type": "Query", "entities": [{"type": "Vehicle"}],
             "geoQ": {"georel": "within", "geometry": "Polygon",
                      "coordinates": [[[134, 34], [136, 34], [136, 36], [134, 36], [134, 34]]]}}
    resp = await tq.post(Q, json=query, headers=JSON)
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:Vehicle:q3"]
