"""Ownership at write time, over HTTP against a real PostgreSQL: every entity belongs to the
one dataset its id and types match; unowned writes, writes by another organisation,
attempts to change the owner or the provenance, and contract violations all fail with the
right problem details and leave the stored entity exactly as it was."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

import contracts
from tests.integration.helpers import JSON, assert_problem
from tests.integration.registry_helpers import (
    HUB,
    REG,
    as_caller,
    dataset,
    gauge,
    registry_without_catch_all,
    stored,
)

NAGANO = "urn:ngsi-ld:WeatherObserved:nagano-1"
UEDA = "urn:ngsi-ld:WeatherObserved:ueda-1"
LD = {"Content-Type": "application/ld+json"}


async def _create(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(f"{HUB}/entities", headers={**JSON, **headers}, json=body)


async def test_an_owned_entity_carries_its_provenance(client: TestClient) -> None:
    await registry_without_catch_all(client)
    resp = await _create(client, gauge(NAGANO))
    assert resp.status == 201, await resp.text()
    ent = await stored(client, NAGANO)
    assert ent["dataProvider"]["value"] == "202011"
    assert ent["refDataset"] == {**ent["refDataset"], "type": "Relationship",
                                 "object": "urn:ngsi-ld:Dataset:nagano-rain"}
    assert ent["source"]["value"] == "urn:ngsi-ld:Dataset:nagano-rain"
    # provenance is queryable like any attribute: the catalogue's distribution URL does this
    resp = await client.get(f"{HUB}/entities",
                            params={"q": 'refDataset=="urn:ngsi-ld:Dataset:nagano-rain"'})
    assert [e["id"] for e in await resp.json()] == [NAGANO]
    # dataProvider and source have no value-index rows (hub/query/values.py NOT_INDEXED):
    # their comparisons run on the stored attributes and still find the entity
    for q, found in (('dataProvider=="202011"', [NAGANO]), ('dataProvider=="202037"', []),
                     ('source=="urn:ngsi-ld:Dataset:nagano-rain"', [NAGANO])):
        resp = await client.get(f"{HUB}/entities", params={"q": q})
        assert [e["id"] for e in await resp.json()] == found, q
    # and the registry tells which dataset owns such an entity
    resp = await client.get(f"{REG}/owner", params={"id": UEDA, "type": "RainGauge"})
    assert (await resp.json())["dataset"] == "ueda-rain"


async def test_an_unowned_write_is_refused_everywhere(client: TestClient) -> None:
    await registry_without_catch_all(client)
    saku = "urn:ngsi-ld:WeatherObserved:saku-1"
    body = await assert_problem(await _create(client, gauge(saku)), 400, "BadRequestData")
    assert "matches no registered dataset" in body["detail"]
    assert await stored(client, saku) == 404
    # batch: answered per entity; the owned one is written, the unowned one is not
    resp = await client.post(f"{HUB}/entityOperations/create", headers=JSON,
                             json=[gauge(NAGANO), gauge(saku)])
    out = await resp.json()
    assert resp.status == 207 and out["success"] == [NAGANO]
    assert [e["entityId"] for e in out["errors"]] == [saku]
    assert out["errors"][0]["error"]["type"].endswith("/BadRequestData")
    assert await stored(client, saku) == 404
    resp = await client.post(f"{HUB}/entityOperations/upsert", headers=JSON,
                             json=[gauge(saku)])
    assert resp.status == 207 and (await resp.json())["success"] == []
    assert await stored(client, saku) == 404
    # a tenant is no way around it: the rules apply in every tenant
    resp = await _create(client, gauge(saku), **{"NGSILD-Tenant": "elsewhere"})
    await assert_problem(resp, 400, "BadRequestData")


async def test_another_organisation_cannot_write_a_dataset(client: TestClient) -> None:
    await registry_without_catch_all(client)
    as_caller(client)
    ueda = {"X-Test-Organisation": "202037"}
    nagano = {"X-Test-Organisation": "202011"}
    resp = await _create(client, gauge(NAGANO), **ueda)
    body = await assert_problem(resp, 403, "InvalidRequest")
    assert "202011" in body["detail"] and "202037" in body["detail"]
    assert await stored(client, NAGANO) == 404
    assert (await _create(client, gauge(NAGANO), **nagano)).status == 201
    before = await stored(client, NAGANO)
    patch = {"precipitation": {"type": "Property", "value": 99.0}}
    for method, path, payload in [
        ("PATCH", f"{HUB}/entities/{NAGANO}", patch),
        ("PATCH", f"{HUB}/entities/{NAGANO}/attrs", patch),
        ("POST", f"{HUB}/entities/{NAGANO}/attrs", patch),
        ("PUT", f"{HUB}/entities/{NAGANO}", gauge(NAGANO, 99.0)),
        ("PUT", f"{HUB}/entities/{NAGANO}/attrs/precipitation", patch["precipitation"]),
        ("PATCH", f"{HUB}/entities/{NAGANO}/attrs/precipitation", {"value": 99.0}),
    ]:
        resp = await client.request(method, path, headers={**JSON, **ueda}, json=payload)
        await assert_problem(resp, 403, "InvalidRequest")
    resp = await client.delete(f"{HUB}/entities/{NAGANO}/attrs/precipitation", headers=ueda)
    await assert_problem(resp, 403, "InvalidRequest")
    resp = await client.post(f"{HUB}/entityOperations/upsert", headers={**JSON, **ueda},
                             json=[gauge(NAGANO, 99.0)])
    out = await resp.json()
    assert resp.status == 207 and out["errors"][0]["error"]["status"] == 403
    assert await stored(client, NAGANO) == before
    # the owner itself may
    resp = await client.patch(f"{HUB}/entities/{NAGANO}/attrs", headers={**JSON, **nagano},
                              json=patch)
    assert resp.status == 204


async def test_provenance_cannot_be_written(client: TestClient) -> None:
    await registry_without_catch_all(client)
    assert (await _create(client, gauge(NAGANO))).status == 201
    before = await stored(client, NAGANO)
    forged = {"type": "Relationship", "object": "urn:ngsi-ld:Dataset:ueda-rain"}
    provider = {"type": "Property", "value": "202037"}
    for method, path, payload in [
        ("PATCH", f"{HUB}/entities/{NAGANO}", {"refDataset": forged}),
        ("PATCH", f"{HUB}/entities/{NAGANO}/attrs", {"dataProvider": provider}),
        ("POST", f"{HUB}/entities/{NAGANO}/attrs", {"source": {"type": "Property",
                                                               "value": "x"}}),
        ("PUT", f"{HUB}/entities/{NAGANO}", {**gauge(NAGANO), "dataProvider": provider}),
        ("PUT", f"{HUB}/entities/{NAGANO}/attrs/refDataset", forged),
        ("PATCH", f"{HUB}/entities/{NAGANO}/attrs/dataProvider", {"value": "202037"}),
        ("PATCH", f"{HUB}/entities/{NAGANO}", {"dataProvider": None}),
    ]:
        resp = await client.request(method, path, headers=JSON, json=payload)
        body = await assert_problem(resp, 400, "BadRequestData")
        assert "provenance" in body["detail"], (method, path)
    resp = await client.delete(f"{HUB}/entities/{NAGANO}/attrs/refDataset")
    await assert_problem(resp, 400, "BadRequestData")
    # the contracts' @context names the Smart Data Models twins: those are the client's
    # own SDM source, kept beside the hub's provenance, which they do not touch
    resp = await client.patch(f"{HUB}/entities/{NAGANO}/attrs", json={"source": {
        "type": "Property", "value": "x"}}, headers={**JSON, "Link": contracts.LINK_HEADER})
    assert resp.status == 204, await resp.text()
    mid = await stored(client, NAGANO)
    assert mid["source"] == before["source"] and mid["refDataset"] == before["refDataset"]
    assert mid[contracts.SDM + "source"]["value"] == "x"
    resp = await client.delete(f"{HUB}/entities/{NAGANO}/attrs/source",
                               headers={"Link": contracts.LINK_HEADER})
    assert resp.status == 204, await resp.text()
    for op in ("create", "upsert", "update", "merge"):
        resp = await client.post(f"{HUB}/entityOperations/{op}", headers=JSON,
                                 json=[{**gauge(NAGANO), "refDataset": forged}])
        out = await resp.json()
        assert resp.status == 207 and out["errors"][0]["entityId"] == NAGANO, (op, out)
    # purge keep/drop never removes provenance
    resp = await client.delete(f"{HUB}/entities", params={"id": NAGANO, "drop": "refDataset"})
    assert resp.status == 204
    after = await stored(client, NAGANO)
    assert after["refDataset"] == before["refDataset"]
    assert {k: v for k, v in after.items() if k != "modifiedAt"} == {
        k: v for k, v in before.items() if k != "modifiedAt"}


async def test_ownership_cannot_change_by_a_write(client: TestClient) -> None:
    await registry_without_catch_all(client)
    for ds in (dataset("river-a", "202011", ["RiverLevel"], ["urn:ngsi-ld:River:"]),
               dataset("river-b", "202037", ["FloodLevel"], ["urn:ngsi-ld:River:"])):
        resp = await client.post(f"{REG}/datasets", headers=JSON, json=ds)
        assert resp.status == 201, await resp.text()
    eid = "urn:ngsi-ld:River:1"
    level = {"type": "Property", "value": 2.3}
    assert (await _create(client, {"id": eid, "type": "RiverLevel", "level": level})).status \
        == 201
    before = await stored(client, eid)
    assert before["refDataset"]["object"] == "urn:ngsi-ld:Dataset:river-a"
    # replacing the type would move it to river-b; adding one would fit neither
    resp = await client.put(f"{HUB}/entities/{eid}", headers=JSON,
                            json={"type": "FloodLevel", "level": level})
    body = await assert_problem(resp, 400, "BadRequestData")
    assert "cannot change" in body["detail"] and "river-b" in body["detail"]
    resp = await client.patch(f"{HUB}/entities/{eid}", headers=JSON,
                              json={"type": "FloodLevel"})
    await assert_problem(resp, 400, "BadRequestData")
    resp = await client.post(f"{HUB}/entityOperations/upsert", headers=JSON,
                             json=[{"id": eid, "type": "FloodLevel", "level": level}])
    assert resp.status == 207
    assert (await resp.json())["errors"][0]["error"]["type"].endswith("BadRequestData")
    resp = await client.post(f"{HUB}/entityOperations/upsert?options=update", headers=JSON,
                             json=[{"id": eid, "type": "FloodLevel", "level": level}])
    assert resp.status == 207
    assert await stored(client, eid) == before
    # a dataset still owning entities cannot be deleted
    resp = await client.delete(f"{REG}/datasets/river-a")
    body = await assert_problem(resp, 400, "BadRequestData")
    assert "1 entities" in body["detail"]
    assert (await client.get(f"{REG}/datasets/river-a")).status == 200


async def test_a_contract_violation_names_attribute_and_rule(client: TestClient) -> None:
    await registry_without_catch_all(client)
    resp = await client.post(f"{REG}/datasets", headers=JSON, json=dataset(
        "nagano-sdm-rain", "202011", [contracts.iri("WeatherObserved")],
        ["urn:ngsi-ld:WeatherObserved:sdm-nagano-"], contracts=["WeatherObserved"]))
    assert resp.status == 201, await resp.text()
    eid = "urn:ngsi-ld:WeatherObserved:sdm-nagano-1"
    good = contracts.to_ngsi_ld(contracts.WeatherObserved(
        id=eid, dateObserved="2026-12-01T09:00:00Z", quality="normal", precipitation=1.5,
        location={"type": "Point", "coordinates": [138.19, 36.65]}))
    bad = {**good, "precipitation": {"type": "Property", "value": -3, "unitCode": "MMT"}}
    body = await assert_problem(
        await client.post(f"{HUB}/entities", headers=LD, json=bad), 400, "BadRequestData")
    assert {"attribute": "precipitation", "rule": "minimum"}.items() <= \
        body["violations"][0].items()
    assert await stored(client, eid) == 404
    assert (await client.post(f"{HUB}/entities", headers=LD, json=good)).status == 201
    before = await stored(client, eid)
    # an update is validated on the entity as it would be stored
    resp = await client.patch(f"{HUB}/entities/{eid}/attrs", headers={
        **JSON, "Link": contracts.LINK_HEADER}, json={"quality": None})
    body = await assert_problem(resp, 400, "BadRequestData")
    assert any(v["attribute"] == "quality" and v["rule"] == "required"
               for v in body["violations"])
    assert await stored(client, eid) == before
    assert before["dataProvider"]["value"] == "202011"  # contract entities carry it too


async def test_temporal_creation_follows_the_rule_too(client: TestClient) -> None:
    await registry_without_catch_all(client)
    as_caller(client)
    t = f"{HUB}/temporal/entities"
    reading = {"type": "Property", "value": 3.0, "observedAt": "2026-12-01T09:00:00Z"}
    saku = {"id": "urn:ngsi-ld:WeatherObserved:saku-1", "type": "RainGauge",
            "precipitation": [reading]}
    await assert_problem(await client.post(t, headers=JSON, json=saku), 400, "BadRequestData")
    nagano = {**saku, "id": NAGANO}
    resp = await client.post(t, headers={**JSON, "X-Test-Organisation": "202037"}, json=nagano)
    await assert_problem(resp, 403, "InvalidRequest")
    resp = await client.post(t, headers=JSON, json={**nagano, "source": [reading]})
    await assert_problem(resp, 400, "BadRequestData")
    for eid in (saku["id"], NAGANO):
        assert (await client.get(f"{t}/{eid}")).status == 404
    resp = await client.post(t, headers={**JSON, "X-Test-Organisation": "202011"}, json=nagano)
    assert resp.status == 201, await resp.text()
