"""The registry's management API, its OpenAPI document and the DCAT-AP catalogue, over HTTP
against a real PostgreSQL. Every refused request answers NGSI-LD problem details and
changes nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import CATCH_ALL, TEST_PREFECTURE
from tests.integration.helpers import JSON, assert_problem
from tests.integration.registry_helpers import (
    REG,
    V,
    as_caller,
    dataset,
    registry_without_catch_all,
)

NAGANO_CITY = {"id": "202011", "name": {"ja": "長野市", "en": "Nagano City"},
               "url": "https://www.city.nagano.nagano.jp/"}


async def _json(client: TestClient, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def test_organisations_crud(client: TestClient) -> None:
    resp = await client.post(f"{REG}/organisations", headers=JSON, json=NAGANO_CITY)
    assert resp.status == 201 and resp.headers["Location"] == f"{REG}/organisations/202011"
    body = await resp.json()
    assert body["kind"] == "municipality" and body["name"]["en"] == "Nagano City"
    await assert_problem(await client.post(f"{REG}/organisations", headers=JSON,
                                           json=NAGANO_CITY), 409, "AlreadyExists")
    listed = await _json(client, f"{REG}/organisations?kind=municipality")
    assert [o["id"] for o in listed] == ["202011"]
    resp = await client.put(f"{REG}/organisations/202011", headers=JSON,
                            json={"name": {"ja": "長野市", "en": "City of Nagano"}})
    assert resp.status == 200
    assert (await _json(client, f"{REG}/organisations/202011"))["name"]["en"] == \
        "City of Nagano"
    resp = await client.delete(f"{REG}/organisations/202011")
    assert resp.status == 204
    await assert_problem(await client.get(f"{REG}/organisations/202011"), 404,
                         "ResourceNotFound")


async def test_bad_organisations_change_nothing(client: TestClient) -> None:
    before = await _json(client, f"{REG}/organisations")
    for body in ({"id": "202012", "name": {"ja": "x"}},            # wrong check digit
                 {"id": "1180301018772", "name": {"ja": "x"}},     # wrong 法人番号
                 {"id": "202011", "kind": "prefecture", "name": {"ja": "x"}},
                 {"id": "202011"}):
        resp = await client.post(f"{REG}/organisations", headers=JSON, json=body)
        await assert_problem(resp, 400, "BadRequestData")
    await assert_problem(await client.post(f"{REG}/organisations", data="{",
                                           headers=JSON), 400, "InvalidRequest")
    await assert_problem(await client.post(f"{REG}/organisations", json=NAGANO_CITY,
                                           headers={"Content-Type": "text/plain"}),
                         415, "InvalidRequest")
    resp = await client.put(f"{REG}/organisations/202029", headers=JSON, json=NAGANO_CITY)
    await assert_problem(resp, 400, "BadRequestData")  # id in body differs from path
    # an organisation that owns datasets stays
    resp = await client.delete(f"{REG}/organisations/{TEST_PREFECTURE}")
    body = await assert_problem(resp, 400, "BadRequestData")
    assert CATCH_ALL in body["detail"]
    assert await _json(client, f"{REG}/organisations") == before


async def test_datasets_crud_and_overlap(client: TestClient) -> None:
    # the fixture's catch-all owns everything: nothing else fits beside it
    resp = await client.post(f"{REG}/organisations", headers=JSON, json=NAGANO_CITY)
    ds = dataset("nagano-rain", "202011", ["RainGauge"],
                 ["urn:ngsi-ld:WeatherObserved:nagano-"], contracts=["WeatherObserved"],
                 contact="opendata@city.nagano.example", source="https://example.org/rain")
    body = await assert_problem(await client.post(f"{REG}/datasets", headers=JSON, json=ds),
                                400, "BadRequestData")
    assert CATCH_ALL in body["detail"] and "overlaps" in body["detail"]
    await registry_without_catch_all(client)
    resp = await client.post(f"{REG}/datasets", headers=JSON, json={**ds, "id": "nagano-2"})
    body = await assert_problem(resp, 400, "BadRequestData")
    assert "nagano-rain" in body["detail"]  # the helper registered it already
    got = await _json(client, f"{REG}/datasets/nagano-rain")
    assert got["rule"] == {"entityTypes": [V + "RainGauge"],
                           "idPrefixes": ["urn:ngsi-ld:WeatherObserved:nagano-"]}
    assert got["owner"] == "202011" and got["openData"] is True
    # narrowing a rule is a PUT; the owner of a dataset never changes
    resp = await client.put(f"{REG}/datasets/nagano-rain", headers=JSON, json={
        **ds, "rule": {"entityTypes": ["RainGauge"],
                       "idPrefixes": ["urn:ngsi-ld:WeatherObserved:nagano-city-"]}})
    assert resp.status == 200, await resp.text()
    resp = await client.put(f"{REG}/datasets/nagano-rain", headers=JSON,
                            json={**ds, "owner": "202037"})
    await assert_problem(resp, 400, "BadRequestData")
    for bad in ({**ds, "id": "x", "owner": "202177"},                # unregistered owner
                {**ds, "id": "y", "rule": {"catchAll": True}},          # overlaps everything
                {**ds, "id": "z", "licence": "WTFPL"}):
        await assert_problem(await client.post(f"{REG}/datasets", headers=JSON, json=bad),
                             400, "BadRequestData")
    listed = await _json(client, f"{REG}/datasets")
    assert [d["id"] for d in listed if "defaultFor" not in d] == ["nagano-rain", "ueda-rain"]
    assert [d["id"] for d in await _json(client, f"{REG}/datasets?owner=202037")] == \
        ["default-202037", "ueda-rain"]  # every organisation has its default dataset
    assert (await client.delete(f"{REG}/datasets/ueda-rain")).status == 204
    await assert_problem(await client.delete(f"{REG}/datasets/ueda-rain"), 404,
                         "ResourceNotFound")


async def test_adapters_and_runs(client: TestClient) -> None:
    reg = {"id": "nagano-amedas", "dataset": CATCH_ALL, "adapter": "jma-amedas",
           "config": {"stations": ["48156"]}, "schedule": "*/10 * * * *"}
    resp = await client.post(f"{REG}/adapters", headers=JSON, json=reg)
    assert resp.status == 201, await resp.text()
    for bad in ({**reg, "id": "a2", "dataset": "nope"}, {**reg, "id": "a3", "schedule": "soon"},
                {**reg, "id": "a4", "config": []}):
        await assert_problem(await client.post(f"{REG}/adapters", headers=JSON, json=bad),
                             400, "BadRequestData")
    assert (await _json(client, f"{REG}/adapters/nagano-amedas"))["lastRun"] is None
    for started, status, written in (("2026-12-01T09:00:00Z", "succeeded", 10),
                                     ("2026-12-01T09:10:00Z", "partial", 8)):
        resp = await client.post(f"{REG}/adapters/nagano-amedas/runs", headers=JSON, json={
            "startedAt": started, "finishedAt": started.replace(":00Z", ":30Z"),
            "status": status, "counts": {"read": 10, "written": written,
                                         "quarantined": 10 - written},
            "errors": [] if written == 10 else ["row 3: 欠測"]})
        assert resp.status == 201, await resp.text()
    await assert_problem(await client.post(f"{REG}/adapters/nagano-amedas/runs", headers=JSON,
                                           json={"status": "ok"}), 400, "BadRequestData")
    last = (await _json(client, f"{REG}/adapters/nagano-amedas"))["lastRun"]
    assert last["status"] == "partial" and last["counts"]["quarantined"] == 2
    runs = await _json(client, f"{REG}/adapters/nagano-amedas/runs?limit=5")
    assert [r["status"] for r in runs] == ["partial", "succeeded"]
    # a dataset an adapter feeds is not deleted under it
    await assert_problem(await client.delete(f"{REG}/datasets/{CATCH_ALL}"), 400,
                         "BadRequestData")
    assert (await client.delete(f"{REG}/adapters/nagano-amedas")).status == 204
    await assert_problem(await client.get(f"{REG}/adapters/nagano-amedas/runs"), 404,
                         "ResourceNotFound")


async def test_openapi_describes_every_registry_route(client: TestClient) -> None:
    doc = await _json(client, f"{REG}/openapi.json")
    assert doc["openapi"].startswith("3.")
    served: set[tuple[str, str]] = set()
    for route in client.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if route.method != "HEAD" and path.startswith((REG, "/catalog")):
            served.add((path.rstrip("/") or "/", route.method.lower()))
    assert len(served) >= 20
    missing = [(p, m) for p, m in served if m not in doc["paths"].get(p, {})]
    assert not missing, missing
    refs = {ref.rsplit("/", 1)[1] for ref in _refs(doc["paths"])}
    assert refs <= set(doc["components"]["schemas"])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if "$ref" in node else []),
                *(r for v in node.values() for r in _refs(v))]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_catalogue_is_dcat_ap(client: TestClient) -> None:
    await registry_without_catch_all(client)
    resp = await client.get("/catalog")
    assert resp.status == 200 and resp.content_type == "application/ld+json"
    doc = await resp.json(content_type=None)
    assert doc["@type"] == "dcat:Catalog"
    assert doc["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert doc["@context"]["dct"] == "http://purl.org/dc/terms/"
    by_id = {d["dct:identifier"]: d for d in doc["dcat:dataset"]}
    assert sorted(i for i in by_id if not i.startswith("default-")) == ["nagano-rain",
                                                                          "ueda-rain"]
    rain = by_id["nagano-rain"]
    assert rain["@type"] == "dcat:Dataset" and rain["@id"].endswith("/catalog/datasets/nagano-rain")
    assert {"@value": "nagano-rain", "@language": "ja"} in rain["dct:title"]
    assert rain["dct:publisher"]["@type"] == "foaf:Agent"
    assert rain["dct:publisher"]["dct:identifier"] == "202011"
    assert {"@value": "長野市", "@language": "ja"} in rain["dct:publisher"]["foaf:name"]
    assert rain["dct:license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert rain["dct:accessRights"]["@id"].endswith("/access-right/PUBLIC")
    assert rain["dct:accrualPeriodicity"]["@id"].endswith("/frequency/HOURLY")
    (dist,) = rain["dcat:distribution"]
    assert dist["@type"] == "dcat:Distribution" and dist["dct:license"] == rain["dct:license"]
    # the distribution is a working NGSI-LD query for exactly this dataset's entities
    url = dist["dcat:accessURL"]["@id"]
    assert "/ngsi-ld/v1/entities?q=" in url
    eid = "urn:ngsi-ld:WeatherObserved:nagano-9"
    resp = await client.post("/ngsi-ld/v1/entities", headers=JSON, json={
        "id": eid, "type": "RainGauge", "p": {"type": "Property", "value": 1}})
    assert resp.status == 201
    await client.post("/ngsi-ld/v1/entities", headers=JSON, json={
        "id": "urn:ngsi-ld:WeatherObserved:ueda-9", "type": "RainGauge",
        "p": {"type": "Property", "value": 1}})
    found = await (await client.get(url[url.index("/ngsi-ld"):])).json()
    assert [e["id"] for e in found] == [eid]
    one = await _json(client, "/catalog/datasets/nagano-rain")
    assert one["@type"] == "dcat:Dataset" and "@context" in one
    await assert_problem(await client.get("/catalog/datasets/nope"), 404, "ResourceNotFound")


async def test_only_the_owner_or_the_prefecture_changes_a_record(client: TestClient) -> None:
    """With an identity plugged in, the registry's own records follow ``may_change``."""
    await registry_without_catch_all(client)
    as_caller(client)
    ueda, nagano, pref = ({"X-Test-Organisation": o} for o in ("202037", "202011", "200000"))
    before = await _json(client, f"{REG}/datasets/nagano-rain")
    changed = {k: v for k, v in before.items() if k not in ("createdAt", "modifiedAt")}
    changed["keywords"] = ["雨量"]
    resp = await client.put(f"{REG}/datasets/nagano-rain", headers={**JSON, **ueda},
                            json=changed)
    await assert_problem(resp, 403, "InvalidRequest")
    await assert_problem(await client.delete(f"{REG}/datasets/nagano-rain", headers=ueda),
                         403, "InvalidRequest")
    resp = await client.post(f"{REG}/organisations", headers={**JSON, **nagano},
                             json={"id": "202029", "name": {"ja": "松本市"}})
    await assert_problem(resp, 403, "InvalidRequest")  # only the prefecture registers others
    assert await _json(client, f"{REG}/datasets/nagano-rain") == before
    for who in (nagano, pref):
        resp = await client.put(f"{REG}/datasets/nagano-rain", headers={**JSON, **who},
                                json=changed)
        assert resp.status == 200, await resp.text()
    assert (await _json(client, f"{REG}/datasets/nagano-rain"))["keywords"] == ["雨量"]


async def test_adapters_show_their_operating_state(client: TestClient,
                                                   database_url: str) -> None:
    """nextRunAt, consecutiveFailures, lastRun and backoffUntil: the worker's plan
    (contracts/schedule.py plan), read from its state columns, in the list and one by one."""
    from datetime import UTC, datetime, timedelta

    import asyncpg

    for reg_id, schedule, enabled in (("every-ten", "*/10 * * * *", True),
                                      ("manual", None, True), ("off", "PT5M", False)):
        resp = await client.put(f"{REG}/adapters/{reg_id}", headers=JSON, json={
            "dataset": CATCH_ALL, "adapter": "jma-amedas", "schedule": schedule,
            "enabled": enabled})
        assert resp.status == 201, await resp.text()
    before = datetime.now(UTC)
    shown = {a["id"]: a for a in await _json(client, f"{REG}/adapters")}
    ten = shown["every-ten"]
    # never run by the worker: due at its next pass
    assert ten["nextRunReason"] == "due" and ten["consecutiveFailures"] == 0
    assert abs(datetime.fromisoformat(ten["nextRunAt"]) - before) < timedelta(seconds=30)
    assert ten["lastRun"] is None and "backoffUntil" not in ten
    assert (shown["manual"]["nextRunAt"], shown["manual"]["nextRunReason"]) == (None, "manual")
    assert (shown["off"]["nextRunAt"], shown["off"]["nextRunReason"]) == (None, "disabled")
    # after two failed runs the worker backs off: the state it stores is what is shown
    held = datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:
        await pool.execute("UPDATE registry.adapters SET failures = 2, next_run_at = $1"
                           " WHERE id = 'every-ten'", held)
    resp = await client.post(f"{REG}/adapters/every-ten/runs", headers=JSON, json={
        "startedAt": "2026-12-01T09:00:00Z", "finishedAt": "2026-12-01T09:00:07Z",
        "status": "failed", "counts": {"read": 0}, "errors": ["source answered 503"]})
    assert resp.status == 201
    listed = {a["id"]: a for a in await _json(client, f"{REG}/adapters")}["every-ten"]
    assert listed["nextRunAt"] == listed["backoffUntil"] == "2030-01-01T00:05:00Z"
    assert listed["nextRunReason"] == "backing-off" and listed["consecutiveFailures"] == 2
    assert listed["lastRun"] == {"status": "failed", "startedAt": "2026-12-01T09:00:00Z",
                                 "finishedAt": "2026-12-01T09:00:07Z", "counts": {"read": 0}}
    one = await _json(client, f"{REG}/adapters/every-ten")
    assert one["backoffUntil"] == listed["backoffUntil"]
    assert one["lastRun"]["errors"] == ["source answered 503"]  # in full for one
    # run-now puts it first, back-off or not
    assert (await client.post(f"{REG}/adapters/every-ten/run-now")).status == 202
    now_shown = await _json(client, f"{REG}/adapters/every-ten")
    assert now_shown["nextRunReason"] == "requested" and "backoffUntil" not in now_shown
    assert datetime.fromisoformat(now_shown["nextRunAt"]) <= datetime.now(UTC)
