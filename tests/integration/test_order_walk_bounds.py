"""An ordered walk starts at ``q``'s bound on the walked attribute.

``q=n>=X&orderBy=n`` used to walk every number below X before its first match (or give
up at ``WALK_ROWS`` and sort every match: 304 ms at 200,000 entities). The walk now starts
at the bound (``Filter.bounds``, ``store.entities._walk_sql``), which is right only when
each entity has at most one distinct number for the attribute: ascending, the bound
applies only while the attribute has no marker row (``values.index_rows``), and a
descending walk runs only then. These tests hold every plan's pages to the plain sort's
over values chosen to trip it — an entity whose first value is below the bound and its
second above, arrays, ints equal to floats, integers beyond 2**53 that share a float8,
bounds between two floats — and the sort's to a Python oracle.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.store import entities as store
from tests.integration.order_oracle import Walked, bounded_walks_agree, create

BIG = 2**53
QUERIES = ["n>=3", "n>3", "n>2.5", "n<=7", "n<7", "n==2..8", "n>=2.5;n<40", "n>=1;n>=4",
           f"n>={BIG + 1}", "n>=3;m==1", "n>=40|n<1", "n>=3;(n<1|m==2)"]


def _entities(marked: bool) -> list[dict[str, Any]]:
    """``n`` one number each (and some without it); with ``marked``, some entities hold
    two numbers — a first instance below the bounds and another above, or an array —
    which writes the attribute's marker rows."""
    rnd = random.Random(53)
    out = []
    for i in range(240):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
                               "m": {"type": "Property", "value": rnd.randint(0, 2)}}
        kind = i % 10
        if kind == 9:
            pass  # no n
        elif kind == 8:
            ent["n"] = {"type": "Property", "value": rnd.choice([BIG, BIG + 1, BIG + 2, BIG + 3])}
        elif kind == 7 and marked:
            ent["n"] = [{"type": "Property", "value": rnd.choice([0, 1, 2])},
                        {"type": "Property", "value": rnd.choice([30, 50]),
                         "datasetId": "urn:ngsi-ld:d:1"}]
        elif kind == 6 and marked:
            ent["n"] = {"type": "Property", "value": [rnd.randint(0, 2), rnd.randint(20, 60)]}
        else:
            ent["n"] = {"type": "Property",
                        "value": rnd.choice([0, 1, 2, 2.5, 2.5000001, 3, 3.0, 4, 7, 7.5, 8,
                                             39.9, 40, 41])}
        out.append(ent)
    return out


@pytest.mark.parametrize("marked", [False, True])
async def test_bounded_walks_agree_with_the_sort(client: TestClient, marked: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    await bounded_walks_agree(client, _entities(marked), QUERIES, "n", monkeypatch)


async def test_the_bound_is_where_the_walk_starts(client: TestClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Matches far past the first numbers: without the bound the walk gives up at its
    row limit and the sort answers; with it the walk answers, ascending and descending.
    A marker row (an entity with two numbers) takes the ascending bound away."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
             "n": {"type": "Property", "value": i}} for i in range(400)]
    await create(client, ents)
    walked = Walked(monkeypatch)

    async def page(q: str, order: str) -> list[int]:
        r = await client.get("/ngsi-ld/v1/entities",
                             params={"type": "T", "q": q, "orderBy": order, "limit": "5"})
        assert r.status == 200, await r.text()
        return [int(e["id"][-3:]) for e in await r.json()]

    # q's only candidate set reads the walked attribute's rows: counted only up to
    # WALK_AMONG (200) — a set that small is sorted, a larger one (250 here, under the
    # usual bound of 4,000) walked from the bound
    caps: list[str] = []
    real_cap = store._candidate_cap

    def cap(flt: store.Filter) -> str:
        caps.append(real_cap(flt))
        return caps[-1]

    monkeypatch.setattr(store, "_candidate_cap", cap)
    assert await page("n>=150", "n") == [150, 151, 152, 153, 154]
    assert walked.take() == 5 and caps == [str(store.WALK_AMONG)]
    assert await page("n>=390", "n") == [390, 391, 392, 393, 394]
    assert walked.take() == 0
    caps.clear()
    assert await page("n>=150", "id") == [150, 151, 152, 153, 154]  # no walk: as always
    assert caps and str(store.WALK_AMONG) not in caps, caps
    monkeypatch.setattr(store, "CANDIDATES", 0)  # never a small candidate set: the walk
    monkeypatch.setattr(store, "WALK_ROWS", 50)
    assert await page("n>=150", "n") == [150, 151, 152, 153, 154]
    assert walked.take() == 5
    assert await page("n<=300", "n;desc") == [300, 299, 298, 297, 296]
    assert walked.take() == 5
    two = {"id": "urn:ngsi-ld:T:two", "type": "T",
           "n": [{"type": "Property", "value": 1},
                 {"type": "Property", "value": 500, "datasetId": "urn:ngsi-ld:d:1"}]}
    await create(client, [two])
    # its first value, 1, sorts it first; its other, 500, makes it match
    r = await client.get("/ngsi-ld/v1/entities",
                         params={"type": "T", "q": "n>=150", "orderBy": "n", "limit": "3"})
    assert [e["id"][-3:] for e in await r.json()] == ["two", "150", "151"]
    assert walked.take() == 0  # no bound with a marker: the walk gives up, the sort answers
