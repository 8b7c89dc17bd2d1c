"""A dense string ``q`` page in a tenant of several types walks the key (issue #13).

A prefecture's tenant holds many types. Where another type's strings share the value
index with the queried attribute's, PostgreSQL misjudged how many entities a string
``q`` selects: it multiplied the index estimate (already low: the ``attr`` and ``txt``
columns are correlated) by its guess for the jsonpath recheck (0.05 %), planned a page
of a handful of rows, and read and sorted every candidate: 310 ms for a page of 20 at
200,000 entities. The recheck is now estimated at even odds (``hub/query/estimates``),
and a page whose candidate set is over the bound walks the primary key until it is full.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.store import entities as store
from tests.integration.helpers import JSON
from tests.integration.order_oracle import page_plan, typed_q_filter

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
OTHERS = ("WaterLevelObserved", "WeatherObserved", "ParkingSpot", "BookLoan")
N = 6000  # a fifth of them of type T


def _entity(i: int) -> dict[str, Any]:
    if i % 5 == 0:
        # wider than the 1 kB ANALYZE samples: the queried type's documents are then
        # missing from the sample the recheck's estimate comes from, as six-attribute
        # entities with metadata were at 200,000
        return {"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T",
                "lane": {"type": "Property", "value": f"L{i:05d}"},
                "note": {"type": "Property", "value": "x" * 1100}}
    kind = OTHERS[i % 4]
    return {"id": f"urn:ngsi-ld:{kind}:{i:05d}", "type": kind,
            "code": {"type": "Property", "value": f"C{i:05d}"}}


async def test_a_dense_string_page_walks_the_key(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """6,000 entities of T among 30,000, ``q=lane>="L"`` (all of T), the candidate bound
    at 100: the page comes from the walk along the primary key, which reads about the
    page's entities ÷ T's share, not from all 6,000 candidates read and sorted."""
    ents = [_entity(i) for i in range(N)]
    for start in range(0, N, 500):
        resp = await client.post(CREATE, json=ents[start:start + 500], headers=JSON)
        assert resp.status == 201, await resp.text()
    async with client.app[keys.POOL].acquire() as con:
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_values")
    monkeypatch.setattr(store, "CANDIDATES", 100)
    q = 'lane>="L"'
    r = await client.get(E, params={"type": "T", "q": q, "limit": "20"})
    assert r.status == 200, await r.text()
    assert [e["id"] for e in await r.json()] == [
        f"urn:ngsi-ld:T:{i:05d}" for i in range(0, 100, 5)]
    found = [n for n in await page_plan(client, typed_q_filter("T", q)) if n["Actual Loops"]]
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in found
               if n.get("Relation Name") == "entities")
    assert read <= 200, found
