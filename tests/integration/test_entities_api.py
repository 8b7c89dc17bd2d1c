"""Entity endpoints over HTTP against a real PostgreSQL: happy paths and every error path."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.integration.helpers import JSON, assert_problem, gauge

E = "/ngsi-ld/v1/entities"


async def test_create_then_retrieve_normalized(client: TestClient) -> None:
    resp = await client.post(E, json=gauge(1, 12.5), headers=JSON)
    assert resp.status == 201
    assert resp.headers["Location"] == f"{E}/urn:ngsi-ld:WeatherObserved:g1"
    resp = await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == "urn:ngsi-ld:WeatherObserved:g1"
    assert body["type"] == "WeatherObserved"
    assert body["precipitation"] == {"type": "Property", "value": 12.5, "unitCode": "MMT"}
    assert body["location"]["value"]["coordinates"] == [138.19, 36.65]
    assert "createdAt" not in body
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in resp.headers["Link"]


async def test_key_values_and_sys_attrs(client: TestClient) -> None:
    await client.post(E, json=gauge(1, 3.0), headers=JSON)
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1?options=keyValues")).json()
    assert body["precipitation"] == 3.0
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1?options=sysAttrs")).json()
    assert body["createdAt"].endswith("Z") and body["modifiedAt"] >= body["createdAt"]
    assert "createdAt" in body["precipitation"]


async def test_create_duplicate_is_409(client: TestClient) -> None:
    assert (await client.post(E, json=gauge(1), headers=JSON)).status == 201
    await assert_problem(await client.post(E, json=gauge(1, 99), headers=JSON), 409,
                         "AlreadyExists")
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert body["precipitation"]["value"] == 1.0  # the stored entity is untouched


async def test_bad_inputs_answer_problem_details(client: TestClient) -> None:
    await assert_problem(await client.post(E, data=b"{not json", headers=JSON), 400,
                         "InvalidRequest")
    bad_id = {**gauge(1), "id": "not a uri"}
    await assert_problem(await client.post(E, json=bad_id, headers=JSON), 400, "BadRequestData")
    no_type = {k: v for k, v in gauge(1).items() if k != "type"}
    await assert_problem(await client.post(E, json=no_type, headers=JSON), 400, "BadRequestData")
    bad_name = {**gauge(1), "bad(name)": {"type": "Property", "value": 1}}
    await assert_problem(await client.post(E, json=bad_name, headers=JSON), 400,
                         "BadRequestData")
    null_value = {**gauge(1), "x": {"type": "Property", "value": None}}
    await assert_problem(await client.post(E, json=null_value, headers=JSON), 400,
                         "BadRequestData")
    bad_rel = {**gauge(1), "r": {"type": "Relationship", "object": "nope"}}
    await assert_problem(await client.post(E, json=bad_rel, headers=JSON), 400,
                         "BadRequestData")
    bad_geo = {**gauge(1), "location": {"type": "GeoProperty",
                                        "value": {"type": "Point", "coordinates": [500, 1]}}}
    await assert_problem(await client.post(E, json=bad_geo, headers=JSON), 400,
                         "BadRequestData")
    resp = await client.post(E, data=b"{}", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    with_ctx = {**gauge(1), "@context": "https://example.org/ctx.jsonld"}
    await assert_problem(await client.post(E, json=with_ctx, headers=JSON), 400,
                         "BadRequestData")
    # nothing of the failed requests was stored
    resp = await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")
    await assert_problem(resp, 404, "ResourceNotFound")


async def test_oversized_body_is_413(client: TestClient) -> None:
    big = {**gauge(1), "blob": {"type": "Property", "value": "x" * 300_000}}
    resp = await client.post(E, json=big, headers=JSON)
    assert resp.status == 413
    await assert_problem(await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1"), 404,
                         "ResourceNotFound")


async def test_not_acceptable(client: TestClient) -> None:
    await client.post(E, json=gauge(1), headers=JSON)
    resp = await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1",
                            headers={"Accept": "text/html"})
    assert resp.status == 406


async def test_query_type_q_count_and_pagination(client: TestClient) -> None:
    for i in range(10):
        assert (await client.post(E, json=gauge(i, float(i)), headers=JSON)).status == 201
    resp = await client.get(E, params={"type": "WeatherObserved", "q": "precipitation>6",
                                       "count": "true"})
    assert resp.status == 200
    body = await resp.json()
    assert sorted(e["precipitation"]["value"] for e in body) == [7.0, 8.0, 9.0]
    assert resp.headers["NGSILD-Results-Count"] == "3"
    resp = await client.get(E, params={"type": "WeatherObserved", "limit": "4", "offset": "8",
                                       "count": "true"})
    assert len(await resp.json()) == 2
    assert resp.headers["NGSILD-Results-Count"] == "10"
    await assert_problem(await client.get(E, params={"type": "X", "limit": "100000"}), 403,
                         "TooManyResults")
    await assert_problem(await client.get(E, params={"type": "X", "q": "a>>3"}), 400,
                         "InvalidRequest")
    await assert_problem(await client.get(E), 400, "BadRequestData")


async def test_geo_query_near_and_within(client: TestClient) -> None:
    await client.post(E, json=gauge(1, lon=138.19, lat=36.65), headers=JSON)  # Nagano
    await client.post(E, json=gauge(2, lon=137.97, lat=36.24), headers=JSON)  # Matsumoto
    resp = await client.get(E, params={
        "type": "WeatherObserved", "georel": "near;maxDistance==5000",
        "geometry": "Point", "coordinates": "[138.2,36.66]"})
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:WeatherObserved:g1"]
    poly = "[[[137.9,36.2],[138.0,36.2],[138.0,36.3],[137.9,36.3],[137.9,36.2]]]"
    resp = await client.get(E, params={"type": "WeatherObserved", "georel": "within",
                                       "geometry": "Polygon", "coordinates": poly})
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:WeatherObserved:g2"]


async def test_merge_replace_and_delete(client: TestClient) -> None:
    await client.post(E, json=gauge(1, 1.0), headers=JSON)
    url = f"{E}/urn:ngsi-ld:WeatherObserved:g1"
    patch = {"precipitation": {"type": "Property", "value": 5.0},
             "note": {"type": "Property", "value": "checked"}}
    assert (await client.patch(url, json=patch, headers=JSON)).status == 204
    body = await (await client.get(url)).json()
    assert body["precipitation"]["value"] == 5.0 and body["note"]["value"] == "checked"
    assert (await client.patch(url, json={"note": None}, headers=JSON)).status == 204
    assert "note" not in await (await client.get(url)).json()
    replacement = {"id": "urn:ngsi-ld:WeatherObserved:g1", "type": "Station",
                   "height": {"type": "Property", "value": 371}}
    assert (await client.put(url, json=replacement, headers=JSON)).status == 204
    body = await (await client.get(url)).json()
    assert body["type"] == "Station" and "precipitation" not in body
    assert (await client.delete(url)).status == 204
    await assert_problem(await client.delete(url), 404, "ResourceNotFound")


async def test_attribute_operations(client: TestClient) -> None:
    await client.post(E, json=gauge(1, 1.0), headers=JSON)
    attrs = f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs"
    new = {"precipitation": {"type": "Property", "value": 9.0},
           "temperature": {"type": "Property", "value": 4.5}}
    resp = await client.post(attrs + "?options=noOverwrite", json=new, headers=JSON)
    assert resp.status == 207
    result = await resp.json()
    vocab = "https://uri.etsi.org/ngsi-ld/default-context/"
    assert result["updated"] == [vocab + "temperature"]
    assert result["notUpdated"][0]["attributeName"] == vocab + "precipitation"
    resp = await client.patch(attrs + "/temperature", json={"value": 5.5}, headers=JSON)
    assert resp.status == 204
    # an update appends an attribute that does not exist yet (5.6.2 as ETSI 011_01_03 reads it)
    two = {"humidity": {"type": "Property", "value": 80}}
    resp = await client.patch(attrs, json=two, headers=JSON)
    assert resp.status == 204
    # ... but NGSI-LD Null for a missing attribute is reported as not updated
    resp = await client.patch(attrs, json={"dewPoint": {"type": "Property",
                                                        "value": "urn:ngsi-ld:null"}},
                              headers=JSON)
    assert resp.status == 207
    assert (await resp.json())["notUpdated"][0]["attributeName"].endswith("dewPoint")
    second = {"type": "Property", "value": 2.0, "datasetId": "urn:ngsi-ld:Dataset:radar"}
    resp = await client.post(attrs, json={"precipitation": second}, headers=JSON)
    assert resp.status == 204
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert isinstance(body["precipitation"], list) and len(body["precipitation"]) == 2
    assert body["temperature"]["value"] == 5.5
    resp = await client.delete(attrs + "/precipitation?datasetId=urn:ngsi-ld:Dataset:radar")
    assert resp.status == 204
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert body["precipitation"]["value"] == 1.0
    await assert_problem(await client.delete(attrs + "/nothing"), 404, "ResourceNotFound")


async def test_tenants_are_isolated(client: TestClient) -> None:
    a = {**JSON, "NGSILD-Tenant": "nagano-city"}
    assert (await client.post(E, json=gauge(1), headers=a)).status == 201
    await assert_problem(await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1"), 404,
                         "ResourceNotFound")
    resp = await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1",
                            headers={"NGSILD-Tenant": "nagano-city"})
    assert resp.status == 200
    await assert_problem(
        await client.get(E, params={"type": "WeatherObserved"},
                         headers={"NGSILD-Tenant": "never-written"}),
        404, "NonexistentTenant",
    )


async def test_order_by_and_linked_entities(client: TestClient) -> None:
    for i, mm in enumerate([5.0, 1.0, 3.0]):
        ent = {**gauge(i, mm), "refCity": {"type": "Relationship", "object": "urn:ngsi-ld:City:n"}}
        await client.post(E, json=ent, headers=JSON)
    city = {"id": "urn:ngsi-ld:City:n", "type": "City", "name": {"type": "Property",
                                                                  "value": "Nagano"}}
    await client.post(E, json=city, headers=JSON)
    resp = await client.get(E, params={"type": "WeatherObserved", "orderBy": "precipitation;desc",
                                       "count": "true"})
    assert [e["precipitation"]["value"] for e in await resp.json()] == [5.0, 3.0, 1.0]
    assert resp.headers["NGSILD-Results-Count"] == "3"
    url = f"{E}/urn:ngsi-ld:WeatherObserved:g0"
    inline = await (await client.get(url, params={"join": "inline"})).json()
    assert inline["refCity"]["entity"]["name"]["value"] == "Nagano"
    flat = await (await client.get(url, params={"join": "flat", "pick": "id,refCity{name}"})).json()
    assert flat == [{"id": "urn:ngsi-ld:WeatherObserved:g0",
                     "refCity": {"type": "Relationship", "object": "urn:ngsi-ld:City:n"}},
                    {"name": {"type": "Property", "value": "Nagano"}}]
    for bad in ("id;name", "id,refCity{name", "id,,name", "id,refCity{}"):
        await assert_problem(await client.get(url, params={"pick": bad}), 400, "BadRequestData")
    await assert_problem(await client.get(url, params={"pick": "unknown"}), 404,
                         "ResourceNotFound")
    await assert_problem(await client.get(url, params={"bogus": "1"}), 400, "InvalidRequest")


async def test_ngsi_ld_null_deletes_instances(client: TestClient) -> None:
    ent = {**gauge(1), "name": [
        {"type": "Property", "value": "a"},
        {"type": "Property", "value": "b", "datasetId": "urn:ngsi-ld:Dataset:b"}]}
    await client.post(E, json=ent, headers=JSON)
    url = f"{E}/urn:ngsi-ld:WeatherObserved:g1"
    null_b = {"name": {"type": "Property", "value": "urn:ngsi-ld:null",
                       "datasetId": "urn:ngsi-ld:Dataset:b"}}
    assert (await client.patch(url + "/attrs", json=null_b, headers=JSON)).status == 204
    body = await (await client.get(url)).json()
    assert body["name"] == {"type": "Property", "value": "a"}
    geo_null = {"type": "GeoProperty", "value": "urn:ngsi-ld:null"}
    resp = await client.patch(url + "/attrs/location", json=geo_null, headers=JSON)
    assert resp.status == 204
    assert "location" not in await (await client.get(url)).json()
    wrong_type = {"type": "Relationship", "object": "urn:x:1"}
    await assert_problem(await client.patch(url + "/attrs/precipitation", json=wrong_type,
                                            headers=JSON), 400, "BadRequestData")
    await assert_problem(await client.patch(f"{E}//attrs", json=null_b, headers=JSON), 400,
                         "BadRequestData")


async def test_purge_keep_and_drop(client: TestClient) -> None:
    for i in range(3):
        ent = {**gauge(i), "note": {"type": "Property", "value": i}}
        await client.post(E, json=ent, headers=JSON)
    assert (await client.delete(E, params={"type": "WeatherObserved", "drop": "note"})).status \
        == 204
    body = await (await client.get(f"{E}/urn:ngsi-ld:WeatherObserved:g1")).json()
    assert "note" not in body and "precipitation" in body
    await assert_problem(await client.delete(E, params={"type": "WeatherObserved", "keep": "a",
                                                       "drop": "b"}), 400, "BadRequestData")
    assert (await client.delete(E, params={"q": "precipitation==1.0"})).status == 204
    resp = await client.get(E, params={"type": "WeatherObserved", "count": "true"})
    assert resp.headers["NGSILD-Results-Count"] == "0"


async def test_deleting_entities_leaves_no_index_rows(client: TestClient,
                                                       database_url: str) -> None:
    import asyncpg

    for i in range(3):
        await client.post(E, json=gauge(i, float(i)), headers=JSON)
    assert (await client.delete(f"{E}/urn:ngsi-ld:WeatherObserved:g0")).status == 204
    assert (await client.delete(E, params={"type": "WeatherObserved"})).status == 204
    con = await asyncpg.connect(database_url)
    try:
        values = await con.fetchval("SELECT count(*) FROM ngsild.entity_values")
        geo = await con.fetchval("SELECT count(*) FROM ngsild.entity_geo")
    finally:
        await con.close()
    assert (values, geo) == (0, 0)


async def test_replace_attribute_takes_the_attribute_or_it_wrapped_in_its_name(
        client: TestClient) -> None:
    """5.6.19 takes the attribute itself; a body wrapping it in the path's name (sent by
    some clients and the ETSI distributed tests) is the same replacement. Anything else
    without an attribute's members stays an error, and leaves the stored value."""
    await client.post(E, json=gauge(1, 1.0), headers=JSON)
    url = f"{E}/urn:ngsi-ld:WeatherObserved:g1/attrs/precipitation"
    entity = f"{E}/urn:ngsi-ld:WeatherObserved:g1"
    bare = {"type": "Property", "value": 7.0, "unitCode": "MMT"}
    assert (await client.put(url, json=bare, headers=JSON)).status == 204
    body = await (await client.get(entity)).json()
    assert body["precipitation"]["value"] == 7.0
    wrapped = {"precipitation": {"type": "Property", "value": 8.0}}
    assert (await client.put(url, json=wrapped, headers=JSON)).status == 204
    body = await (await client.get(entity)).json()
    assert body["precipitation"]["value"] == 8.0 and "unitCode" not in body["precipitation"]
    # another attribute's name is not a wrapper: no type, no value -> 400, nothing changed
    other = {"temperature": {"type": "Property", "value": 9.0}}
    await assert_problem(await client.put(url, json=other, headers=JSON), 400, "BadRequestData")
    body = await (await client.get(entity)).json()
    assert body["precipitation"]["value"] == 8.0 and "temperature" not in body
