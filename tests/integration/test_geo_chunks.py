"""Geo-queries read candidates in pk-ordered chunks until the page is full (issue #13):
every page and count must equal the unchunked evaluation, whatever the chunk size, the
offset, and whether the candidate set comes from the bbox index or the pk walk."""

from __future__ import annotations

import random

import pytest
from aiohttp.test_utils import TestClient

from hub.service import entities as svc
from hub.store import entities as store
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"


def _entities(n: int) -> list[dict]:
    rnd = random.Random(11)
    out = []
    for i in range(n):
        # a grid of points, some lines and polygons crossing the query's edges
        x, y = 138 + rnd.random() * 2, 35 + rnd.random() * 2
        kind = i % 5
        if kind == 3:
            value = {"type": "LineString", "coordinates": [[x, y], [x + 0.5, y + 0.1]]}
        elif kind == 4:
            value = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.2, y], [x + 0.2, y + 0.2],
                                                         [x, y + 0.2], [x, y]]]}
        else:
            value = {"type": "Point", "coordinates": [x, y]}
        out.append({"id": f"urn:ngsi-ld:G:{i:03d}", "type": "G",
                    "location": {"type": "GeoProperty", "value": value}})
    return out


QUERIES = [
    {"georel": "within", "geometry": "Polygon",
     "coordinates": "[[[138.5,35.5],[139.5,35.5],[139.5,36.5],[138.5,36.5],[138.5,35.5]]]"},
    {"georel": "intersects", "geometry": "Polygon",
     "coordinates": "[[[138.5,35.5],[139.2,35.6],[139,36.4],[138.5,35.5]]]"},
    {"georel": "near;maxDistance==40000", "geometry": "Point", "coordinates": "[139,36]"},
    {"georel": "near;minDistance==60000", "geometry": "Point", "coordinates": "[139,36]"},
]


@pytest.mark.parametrize("geo", QUERIES)
async def test_geo_chunks_equal_unchunked(client: TestClient, geo: dict[str, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=_entities(150),
                             headers=JSON)
    assert resp.status == 201

    async def pages() -> list[list[str]]:
        out = []
        for offset, limit in ((0, 5), (7, 3), (0, 1000), (40, 20)):
            r = await client.get(E, params={"type": "G", "limit": str(limit),
                                            "offset": str(offset), **geo})
            assert r.status == 200, await r.text()
            out.append([e["id"] for e in await r.json()])
        r = await client.get(E, params={"type": "G", "limit": "1", "count": "true", **geo})
        out.append([r.headers["NGSILD-Results-Count"]])
        return out

    monkeypatch.setattr(svc, "GEO_MARGIN", 10**6)  # one chunk: the unchunked evaluation
    whole = await pages()
    assert whole[2] == sorted(whole[2]) and 10 < len(whole[2]) < 150, whole[2]
    assert whole[0] == whole[2][:5] and whole[1] == whole[2][7:10]
    assert whole[4] == [str(len(whole[2]))]
    monkeypatch.setattr(svc, "GEO_MARGIN", 1)  # short chunks (a page and a quarter), doubling
    assert await pages() == whole
    monkeypatch.setattr(store, "CANDIDATES", 0)  # the pk walk instead of the bbox set
    assert await pages() == whole


@pytest.mark.parametrize("geo", QUERIES[:3])
async def test_geo_pages_carry_the_stored_entities(client: TestClient,
                                                   geo: dict[str, str]) -> None:
    """A page is cut from the refined candidates' own rows: each entity is the one a
    retrieval by id answers, system attributes included."""
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=_entities(150),
                             headers=JSON)
    assert resp.status == 201
    r = await client.get(E, params={"type": "G", "limit": "7", "offset": "2",
                                    "options": "sysAttrs", **geo})
    page = await r.json()
    assert r.status == 200 and len(page) == 7, page
    for ent in page:
        one = await client.get(f"{E}/{ent['id']}", params={"options": "sysAttrs"})
        assert ent == await one.json()
