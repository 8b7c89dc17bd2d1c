"""A geo-query's ``orderBy`` orders its matches (it was ignored: the exact geo test pages
its candidates in pk order, and the page came in that order).

Gauges inside and outside a box, their precipitation with ties and gaps, queried with
``georel=within`` and ``near`` plus ``orderBy``, on GET and on the batch query (whose
``orderBy`` parameter was accepted and ignored), paged and counted; each page is compared
with the order computed here from the stored pks.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from hub import keys
from tests.integration.helpers import JSON, assert_problem, gauge

E = "/ngsi-ld/v1/entities"
BOX = "[[[138.0,36.0],[138.5,36.0],[138.5,36.5],[138.0,36.5],[138.0,36.0]]]"
PAGES = ((0, 4), (3, 5), (10, 100), (0, 0))


def _gauges() -> list[dict[str, Any]]:
    out = []
    for i in range(40):
        inside = i % 3 != 0
        lon, lat = (138.1 + i * 0.005, 36.2) if inside else (139.2, 37.0 + i * 0.01)
        g = gauge(i, mm=float((i * 7) % 5), lon=lon, lat=lat)
        if i % 8 == 1:
            del g["precipitation"]  # no value: last both ways
        out.append(g)
    return out


def _expected(ents: list[dict[str, Any]], pks: dict[str, int], desc: bool) -> list[str]:
    inside = [e for e in ents if e["location"]["value"]["coordinates"][0] < 139]
    valued = sorted((e for e in inside if "precipitation" in e),
                    key=lambda e: pks[e["id"]])
    valued.sort(key=lambda e: e["precipitation"]["value"], reverse=desc)
    missing = sorted((e for e in inside if "precipitation" not in e),
                     key=lambda e: pks[e["id"]])
    return [e["id"] for e in valued + missing]


async def test_geo_queries_follow_order_by(client: TestClient) -> None:
    ents = _gauges()
    r = await client.post("/ngsi-ld/v1/entityOperations/create", json=ents, headers=JSON)
    assert r.status == 201, await r.text()
    async with client.app[keys.POOL].acquire() as con:
        pks = {r["id"]: r["pk"] for r in await con.fetch("SELECT id, pk FROM ngsild.entities")}
    geos = {"within": {"georel": "within", "geometry": "Polygon", "coordinates": BOX},
            "near": {"georel": "near;maxDistance==40000", "geometry": "Point",
                     "coordinates": "[138.2,36.2]"}}
    for desc in (False, True):
        want = _expected(ents, pks, desc)
        order = "precipitation;desc" if desc else "precipitation"
        for name, geo in geos.items():
            for offset, limit in PAGES:
                params = {"type": "WeatherObserved", "orderBy": order, "count": "true",
                          "offset": str(offset), "limit": str(limit), **geo}
                got = await client.get(E, params=params)
                assert got.status == 200, await got.text()
                assert [e["id"] for e in await got.json()] == want[offset:offset + limit], (
                    name, order, offset)
                assert got.headers["NGSILD-Results-Count"] == str(len(want))
        query = {"type": "Query", "entities": [{"type": "WeatherObserved"}],
                 "geoQ": {"georel": "within", "geometry": "Polygon",
                          "coordinates": [[[138.0, 36.0], [138.5, 36.0], [138.5, 36.5],
                                           [138.0, 36.5], [138.0, 36.0]]]}}
        got = await client.post("/ngsi-ld/v1/entityOperations/query", json=query,
                                headers=JSON, params={"orderBy": order, "limit": "6"})
        assert got.status == 200, await got.text()
        assert [e["id"] for e in await got.json()] == want[:6], order
    got = await client.post("/ngsi-ld/v1/entityOperations/query", json=query, headers=JSON,
                            params={"orderBy": "precipitation;sideways"})
    await assert_problem(got, 400, "BadRequestData")
