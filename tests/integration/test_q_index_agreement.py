"""The value index must give exactly the answers of the jsonpath over ``attrs``.

The compiler skips re-reading ``attrs`` when the index holds exactly the compared values;
this test runs the same queries with that shortcut on and off over varied stored values
(numbers, arrays, strings, vocab terms, language maps, typed DateTimes, relationships).
"""

from __future__ import annotations

import random

import pytest
from aiohttp.test_utils import TestClient

from hub.query import qlang_sql
from hub.store import entities as store
from tests.integration.helpers import JSON
from tests.integration.order_oracle import driven_plans_agree

E = "/ngsi-ld/v1/entities"


def _entities(n: int) -> list[dict]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        ent: dict = {"id": f"urn:ngsi-ld:T:{i}", "type": "T"}
        kind = i % 6
        if kind == 0:
            ent["a"] = {"type": "Property", "value": rnd.choice([1, 2.5, 3, 40, -2])}
        elif kind == 1:
            ent["a"] = {"type": "Property", "value": [rnd.randint(0, 50), rnd.randint(0, 50)]}
        elif kind == 2:
            ent["a"] = {"type": "Property", "value": rnd.choice(["x", "y", "urn:r:1"])}
        elif kind == 3:
            ent["a"] = {"type": "Relationship", "object": rnd.choice(["urn:r:1", "urn:r:2"])}
        elif kind == 4:
            ent["a"] = {"type": "LanguageProperty", "languageMap": {"en": "x", "ja": "y"}}
        else:
            ent["a"] = [{"type": "Property", "value": rnd.randint(0, 50)},
                        {"type": "Property", "value": True, "datasetId": "urn:d:1"}]
        out.append(ent)
    return out


QUERIES = ["a>10", "a>=40", "a<3", "a<=2.5", "a==3", "a==2.5", "a==1..20", "a==1,40",
           'a=="x"', 'a=="y"', "a==urn:r:1", 'a=="x","urn:r:2"', "a>-1;a<30", "a==40|a==\"y\""]


@pytest.mark.parametrize("q", QUERIES)
async def test_index_shortcut_agrees(client: TestClient, q: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=_entities(60),
                             headers=JSON)
    assert resp.status == 201

    async def ids() -> set[str]:
        r = await client.get(E, params={"type": "T", "q": q, "limit": "1000"})
        assert r.status == 200, await r.text()
        return {e["id"] for e in await r.json()}

    fast = await ids()
    # the oracle: the jsonpath over attrs alone, no value index at all
    monkeypatch.setattr(qlang_sql, "USE_VALUE_INDEX", False)
    exact = await ids()
    assert fast == exact
    assert fast, "each query is chosen to match some of the stored values"


# issue #13: the two plans of a driven query (store.entities._driven) — the candidate set
# taken from the value index, and the walk along the pk — must give the oracle's answers,
# pages and counts, for single terms, string ranges (byte order) and several terms.
PLAN_QUERIES = [*QUERIES, 'a>"x"', 'a<"y"', 'a>="urn:r:1"', "a>5;a<45", "a>=0;a<=50;a>1",
                "a==1..20;a>3"]


@pytest.mark.parametrize("q", PLAN_QUERIES)
async def test_driven_plans_agree(client: TestClient, q: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=_entities(90),
                             headers=JSON)
    assert resp.status == 201

    exact = await driven_plans_agree(client, q, monkeypatch)
    assert exact, "each query is chosen to match some of the stored values"


async def test_driven_candidates_are_bounded(client: TestClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate set larger than the bound is not used as complete: with a bound of 2,
    a query matching more entities still returns all of them (the walking branch)."""
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=_entities(60),
                             headers=JSON)
    assert resp.status == 201
    monkeypatch.setattr(store, "CANDIDATES", 2)
    r = await client.get(E, params={"type": "T", "q": "a>=0", "limit": "1000",
                                    "count": "true"})
    bounded = {e["id"] for e in await r.json()}
    monkeypatch.setattr(qlang_sql, "USE_VALUE_INDEX", False)
    r2 = await client.get(E, params={"type": "T", "q": "a>=0", "limit": "1000"})
    assert bounded == {e["id"] for e in await r2.json()}
    assert len(bounded) > 2 and r.headers["NGSILD-Results-Count"] == str(len(bounded))
