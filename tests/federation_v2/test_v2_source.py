"""NgsiV2Source against the local NGSI v2 server (a real socket on a free port).

A plain aiohttp.ClientSession stands in for the hub's egress-checked session, which the
engine passes in production.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from hub.egress import EgressPolicy
from hub.federation.sources import SourceError, SourceQuery, SourceTarget
from hub.federation.v2 import NgsiV2Source
from tests.federation_v2.fixtures import GAUGE, KIOSK, ROOM, SHELF, STORE, TYPES_EXAMPLE
from tests.federation_v2.orion_v2_server import OrionV2Server
from tests.integration.receiver import serve_local

D = "https://uri.etsi.org/ngsi-ld/default-context/"
SOURCE = NgsiV2Source()


def _room(n: int, temperature: float) -> dict[str, Any]:
    return {"id": f"Room{n}", "type": "Room",
            "temperature": {"type": "Number", "value": temperature},
            "name": {"type": "Text", "value": f"room {n}"}}


@pytest.fixture
async def orion(orion: OrionV2Server) -> OrionV2Server:
    """The server of conftest.py, holding the fixture entities and Room2..Room7."""
    for entity in (ROOM, STORE, GAUGE, SHELF, KIOSK):
        orion.add(entity)
    for n in range(2, 8):
        orion.add(_room(n, 10.0 + n))
    return orion


def target(server: OrionV2Server, tenant: str | None = None, timeout: float = 5.0,
           headers: dict[str, str] | None = None) -> SourceTarget:
    return SourceTarget(server.url, headers or {}, tenant, timeout)


# -- query ---------------------------------------------------------------------------------

async def test_query_by_type_translates_and_sends_v2_parameters(
        orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    answer = await SOURCE.query(http, target(orion), SourceQuery(types=(D + "RainGauge",)))
    assert answer.total is None
    assert answer.entities == [{
        "id": "urn:ngsi-ld:RainGauge:gauge-17",
        "type": [D + "RainGauge"],
        D + "precipitation": {"type": "Property", "value": 12.5,
                              "observedAt": "2026-06-01T09:00:00.000Z", "unitCode": "MMT",
                              D + "accuracy": {"type": "Property", "value": 0.5}},
        D + "dateObserved": {"type": "Property", "value": {
            "@type": "DateTime", "@value": "2026-06-01T09:00:00.000Z"}},
        D + "TimeInstant": {"type": "Property", "value": {
            "@type": "DateTime", "@value": "2026-06-01T09:00:00.000Z"}},
        D + "status": {"type": "Property", "value": "ok"},
    }]
    seen = orion.requests[-1]
    assert seen.path == "/v2/entities"
    assert seen.query == {"type": "RainGauge", "limit": "100", "offset": "0"}
    assert seen.headers["Fiware-ServicePath"] == "/"
    assert "Fiware-Service" not in seen.headers


async def test_count_comes_from_fiware_total_count(
        orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        types=(D + "Room",), limit=2, offset=1, count=True))
    assert answer.total == 7
    assert [e["id"] for e in answer.entities] == ["urn:ngsi-ld:Room:Room2",
                                                  "urn:ngsi-ld:Room:Room3"]
    assert orion.requests[-1].query["options"] == "count"
    # count only
    only = await SOURCE.query(http, target(orion), SourceQuery(
        types=(D + "Room",), limit=0, count=True))
    assert only == type(only)([], 7)


async def test_simple_q_is_pushed_down(orion: OrionV2Server,
                                       http: aiohttp.ClientSession) -> None:
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        types=(D + "Room",), q=f"{D}temperature>=15;{D}name!=\"room 7\"", count=True))
    # Room1 (23.5) has no name: != needs the attribute, in v2 as in NGSI-LD (4.9)
    assert [e["id"] for e in answer.entities] == ["urn:ngsi-ld:Room:Room5",
                                                  "urn:ngsi-ld:Room:Room6"]
    assert answer.total == 2
    assert orion.requests[-1].query["q"] == "temperature>=15;name!='room 7'"


async def test_q_v2_cannot_say_is_filtered_here_with_exact_count(
        orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    """``|`` has no v2 form: the candidates are read and the hub's evaluator decides, so
    paging and count stay those of the query as asked."""
    q = f"{D}temperature<13|{D}temperature>16"
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        types=(D + "Room",), q=q, limit=2, offset=1, count=True))
    assert answer.total == 3  # Room2 (12), Room7 (17), Room1 (23.5)
    assert [e["id"] for e in answer.entities] == ["urn:ngsi-ld:Room:Room2",
                                                  "urn:ngsi-ld:Room:Room7"]
    assert "q" not in orion.requests[-1].query


async def test_partial_pushdown_narrows_the_scan(orion: OrionV2Server,
                                                 http: aiohttp.ClientSession) -> None:
    q = f"{D}temperature>14;{D}name~=\"room [67]\""
    answer = await SOURCE.query(http, target(orion), SourceQuery(q=q, count=True))
    assert {e["id"] for e in answer.entities} == {"urn:ngsi-ld:Room:Room6",
                                                  "urn:ngsi-ld:Room:Room7"}
    assert orion.requests[-1].query["q"] == "temperature>14"


async def test_query_by_ids_and_id_pattern(orion: OrionV2Server,
                                           http: aiohttp.ClientSession) -> None:
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        ids=("urn:ngsi-ld:Room:Room3", "urn:ngsi-ld:Store:001", "urn:ngsi-ld:Nothing:x")))
    assert {e["id"] for e in answer.entities} == {"urn:ngsi-ld:Room:Room3",
                                                  "urn:ngsi-ld:Store:001"}
    pattern = await SOURCE.query(http, target(orion), SourceQuery(
        id_pattern="^urn:ngsi-ld:Room:Room[1-3]$", count=True))
    assert pattern.total == 3


async def test_attrs_select_entities_and_project(orion: OrionV2Server,
                                                 http: aiohttp.ClientSession) -> None:
    one = await SOURCE.query(http, target(orion), SourceQuery(attrs=(D + "refStore",)))
    assert sorted(e["id"] for e in one.entities) == ["urn:ngsi-ld:Kiosk:kiosk-3",
                                                     "urn:ngsi-ld:Shelf:unit001"]
    assert all(set(e) == {"id", "type", D + "refStore"} for e in one.entities)
    assert orion.requests[-1].query["attrs"] == "refStore"
    two = await SOURCE.query(http, target(orion), SourceQuery(
        attrs=(D + "pressure", D + "location"), count=True))
    assert two.total == 3  # Room1, the store, the kiosk
    assert {e["id"] for e in two.entities} == {
        "urn:ngsi-ld:Room:Room1", "urn:ngsi-ld:Store:001", "urn:ngsi-ld:Kiosk:kiosk-3"}
    kiosk = next(e for e in two.entities if e["id"].endswith("kiosk-3"))
    assert set(kiosk) == {"id", "type", D + "location"}


async def test_nothing_asked_for_names_v2_cannot_have(orion: OrionV2Server,
                                                      http: aiohttp.ClientSession) -> None:
    before = len(orion.requests)
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        types=("https://smartdatamodels.org/x/WaterObserved",), count=True))
    assert (answer.entities, answer.total) == ([], 0)
    assert len(orion.requests) == before


async def test_scan_is_bounded(orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    small = NgsiV2Source(page_size=2, max_scan=4)
    with pytest.raises(SourceError, match="more than 4"):
        await small.query(http, target(orion), SourceQuery(q=f"{D}a>1|{D}b>1"))
    # the pushed-down path pages through v2 up to the limit asked, no scan bound
    before = len(orion.requests)
    paged = await small.query(http, target(orion), SourceQuery(types=(D + "Room",), limit=5))
    assert len(paged.entities) == len({e["id"] for e in paged.entities}) == 5
    assert [(r.query["offset"], r.query["limit"]) for r in orion.requests[before:]] == [
        ("0", "2"), ("2", "2"), ("4", "1")]


# -- retrieve ------------------------------------------------------------------------------

async def test_retrieve_short_and_literal_ids(orion: OrionV2Server,
                                              http: aiohttp.ClientSession) -> None:
    room = await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Room:Room1", ())
    assert room is not None and room[D + "pressure"] == {"type": "Property", "value": 720}
    assert orion.requests[-1].path == "/v2/entities/Room1"
    assert orion.requests[-1].query == {"type": "Room"}
    store = await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Store:001",
                                  (D + "name",))
    assert store == {"id": "urn:ngsi-ld:Store:001", "type": [D + "Store"],
                     D + "name": {"type": "Property", "value": "Marunouchi Store"}}
    assert orion.requests[-1].query == {"attrs": "name"}


async def test_retrieve_missing_is_none(orion: OrionV2Server,
                                        http: aiohttp.ClientSession) -> None:
    assert await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Room:Room99", ()) is None
    # Room1 exists, but not as an Office: its NGSI-LD id is another one
    assert await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Office:Room1", ()) is None
    assert await SOURCE.retrieve(http, target(orion), "urn:x:has space", ()) is None


# -- types, attributes ---------------------------------------------------------------------

async def test_types_and_attributes(orion: OrionV2Server, http: aiohttp.ClientSession) -> None:
    assert await SOURCE.types(http, target(orion)) == sorted(
        D + t for t in ("Kiosk", "RainGauge", "Room", "Shelf", "Store"))
    attrs = await SOURCE.attributes(http, target(orion))
    assert attrs == sorted(D + a for a in (
        "TimeInstant", "address", "dateObserved", "location", "name", "numberOfItems",
        "precipitation", "pressure", "refStore", "status", "temperature"))
    paged = NgsiV2Source(page_size=2)
    assert await paged.types(http, target(orion)) == await SOURCE.types(http, target(orion))


async def test_attributes_from_documented_types_answer(http: aiohttp.ClientSession) -> None:
    """The GET /v2/types body exactly as Orion's API document shows it."""
    app = web.Application()

    async def types(_: web.Request) -> web.Response:
        return web.json_response(TYPES_EXAMPLE)

    app.router.add_get("/v2/types", types)
    runner, port = await serve_local(app)
    try:
        t = SourceTarget(f"http://127.0.0.1:{port}", {}, None, 5.0)
        assert await SOURCE.attributes(http, t) == [
            D + "fuel", D + "humidity", D + "pressure", D + "speed"]
    finally:
        await runner.cleanup()


# -- tenants and service paths -------------------------------------------------------------

async def test_tenant_isolation_through_fiware_service(orion: OrionV2Server,
                                                       http: aiohttp.ClientSession) -> None:
    orion.add(_room(100, 30.0), service="city_a")
    orion.add(_room(200, 31.0), service="city_b")
    a = await SOURCE.query(http, target(orion, "City_A"), SourceQuery(types=(D + "Room",)))
    b = await SOURCE.query(http, target(orion, "city_b"), SourceQuery(types=(D + "Room",)))
    default = await SOURCE.query(http, target(orion), SourceQuery(types=(D + "Room",)))
    assert [e["id"] for e in a.entities] == ["urn:ngsi-ld:Room:Room100"]
    assert [e["id"] for e in b.entities] == ["urn:ngsi-ld:Room:Room200"]
    assert len(default.entities) == 7
    assert orion.requests[-3].headers["Fiware-Service"] == "city_a"
    assert await SOURCE.retrieve(http, target(orion, "city_b"),
                                 "urn:ngsi-ld:Room:Room100", ()) is None
    with pytest.raises(SourceError):  # refused before any call, never the default service
        await SOURCE.query(http, target(orion, "city-a"), SourceQuery())


async def test_service_path_root_unless_registration_says(orion: OrionV2Server,
                                                          http: aiohttp.ClientSession) -> None:
    orion.add(_room(300, 5.0), path="/water")
    orion.add(_room(301, 5.0), path="/water/north")
    q = SourceQuery(types=(D + "Room",), q=f"{D}temperature<6")
    root = await SOURCE.query(http, target(orion), q)
    assert root.entities == []
    water = await SOURCE.query(http, target(orion, headers={"Fiware-ServicePath": "/water"}), q)
    assert [e["id"] for e in water.entities] == ["urn:ngsi-ld:Room:Room300"]
    tree = await SOURCE.query(http, target(orion, headers={"Fiware-ServicePath": "/water/#"}), q)
    assert [e["id"] for e in tree.entities] == ["urn:ngsi-ld:Room:Room300",
                                                "urn:ngsi-ld:Room:Room301"]


# -- failures ------------------------------------------------------------------------------

async def test_stopped_server_is_a_source_error(orion: OrionV2Server,
                                                http: aiohttp.ClientSession) -> None:
    t = target(orion)
    await orion.stop()
    with pytest.raises(SourceError) as info:
        await SOURCE.query(http, t, SourceQuery())
    assert info.value.status is None
    assert "127.0.0.1" in info.value.detail


async def test_500_carries_status_and_v2_error(orion: OrionV2Server,
                                               http: aiohttp.ClientSession) -> None:
    orion.fail_status = 500
    with pytest.raises(SourceError) as info:
        await SOURCE.query(http, target(orion), SourceQuery())
    assert info.value.status == 500
    assert "InternalServerError: database is down" in info.value.detail
    with pytest.raises(SourceError) as info:
        await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Room:Room1", ())
    assert info.value.status == 500
    with pytest.raises(SourceError):
        await SOURCE.types(http, target(orion))


async def test_4xx_other_than_missing_is_an_error(orion: OrionV2Server,
                                                  http: aiohttp.ClientSession) -> None:
    orion.fail_status = 401
    with pytest.raises(SourceError) as info:
        await SOURCE.retrieve(http, target(orion), "urn:ngsi-ld:Room:Room1", ())
    assert info.value.status == 401


async def test_html_body_is_a_source_error(orion: OrionV2Server,
                                           http: aiohttp.ClientSession) -> None:
    orion.html = True
    with pytest.raises(SourceError) as info:
        await SOURCE.query(http, target(orion), SourceQuery())
    assert info.value.status == 200
    assert "not JSON" in info.value.detail and "text/html" in info.value.detail


async def test_slow_source_times_out(orion: OrionV2Server,
                                     http: aiohttp.ClientSession) -> None:
    orion.delay = 2.0
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"within 0\.3 s"):
        await SOURCE.query(http, target(orion, timeout=0.3), SourceQuery())
    assert time.monotonic() - started < 1.5


async def test_answers_that_are_not_v2_entities(http: aiohttp.ClientSession) -> None:
    bodies: list[Any] = [{"not": "a list"}, [{"type": "NoId"}], [["nested"]]]
    app = web.Application()

    async def entities(_: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(bodies[0]), content_type="application/json")

    app.router.add_get("/v2/entities", entities)
    runner, port = await serve_local(app)
    try:
        t = SourceTarget(f"http://127.0.0.1:{port}", {}, None, 5.0)
        while bodies:
            with pytest.raises(SourceError):
                await SOURCE.query(http, t, SourceQuery())
            bodies.pop(0)
    finally:
        await runner.cleanup()


async def test_redirects_are_not_followed(http: aiohttp.ClientSession) -> None:
    """A source cannot send the hub elsewhere (the egress check is per connection, but a
    redirect would also carry the registration's credentials to another host)."""
    app = web.Application()

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:9/v2/entities")

    app.router.add_get("/v2/entities", moved)
    runner, port = await serve_local(app)
    try:
        t = SourceTarget(f"http://127.0.0.1:{port}", {}, None, 5.0)
        with pytest.raises(SourceError) as info:
            await SOURCE.query(http, t, SourceQuery())
        assert info.value.status == 302
    finally:
        await runner.cleanup()


async def test_credentials_in_the_endpoint_never_reach_an_error(orion: OrionV2Server,
                                                                http: aiohttp.ClientSession
                                                                ) -> None:
    t = SourceTarget(f"http://city:s3cret@127.0.0.1:{orion.port}", {}, None, 5.0)
    await orion.stop()
    with pytest.raises(SourceError) as info:
        await SOURCE.query(http, t, SourceQuery())
    assert "s3cret" not in info.value.detail and "s3cret" not in str(info.value)


async def test_the_hub_egress_policy_applies(orion: OrionV2Server) -> None:
    """With the hub's egress-checked session (enforce mode), a source on loopback is
    refused unless ``egress_allow`` names it, and the refusal is a SourceError."""
    refusing = EgressPolicy(enforce=True)
    async with aiohttp.ClientSession(connector=refusing.connector()) as http:
        with pytest.raises(SourceError) as info:
            await SOURCE.query(http, target(orion), SourceQuery())
        assert info.value.status is None
    allowing = EgressPolicy(enforce=True, allow=f"127.0.0.1:{orion.port}")
    async with aiohttp.ClientSession(connector=allowing.connector()) as http:
        answer = await SOURCE.query(http, target(orion), SourceQuery(types=(D + "Room",)))
        assert len(answer.entities) == 7


async def test_scope_q_matches_nothing_on_v2(orion: OrionV2Server,
                                             http: aiohttp.ClientSession) -> None:
    """v2 entities have no scopes, so a scopeQ (the engine forwards it as it is) selects
    none of them, without a call."""
    before = len(orion.requests)
    answer = await SOURCE.query(http, target(orion), SourceQuery(
        types=(D + "Room",), count=True, scope_q="/Tokyo/#"))
    assert (answer.entities, answer.total) == ([], 0)
    assert len(orion.requests) == before


async def test_engine_name_for_the_source() -> None:
    from hub.federation import v2
    assert v2.V2Source is NgsiV2Source
