"""``count=true`` over a candidate set: one primary-key lookup per candidate (issue #13).

When a query's one driver (``q``'s index subquery) yields its complete set, each member
already passes that driver's ``EXISTS``, so the count's candidate branch leaves it out
(``Filter.where_among``) and reads up to ``COUNT_SHARE`` of the tenant's entities that
way. Everything else still applies to each candidate: the type (other types carry the
same attribute), the exact condition where the index is not exact (numbers beyond 2**53
share a float8), and the other terms of ``q`` when their sets were not complete.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.store import entities as store
from tests.integration.helpers import JSON
from tests.integration.order_oracle import count_plan, create_analyzed, typed_q_filter

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
BIG = 2**53  # float8 cannot tell BIG from BIG + 1


def _x(i: int) -> Any:
    """Mostly integers; some strings, booleans and arrays, which a numeric bound skips
    or matches by an element, and two integers float8 cannot tell apart."""
    return {7: str(i), 11: i % 2 == 0, 13: [i - 50, i]}.get(i % 17, i) if i < 200 else (
        BIG + i - 200)


def _entities() -> list[dict[str, Any]]:
    ents = [{"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
             "x": {"type": "Property", "value": _x(i)},
             "y": {"type": "Property", "value": i % 3}} for i in range(202)]
    # another type with the same attribute: in every driver's set, never counted
    ents += [{"id": f"urn:ngsi-ld:U:{i:03d}", "type": "U",
              "x": {"type": "Property", "value": i * 2}} for i in range(100)]
    return ents


def _holds(value: Any, op: str, bound: int) -> bool:
    values = value if isinstance(value, list) else [value]
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return any(v >= bound if op == ">=" else v == bound for v in numbers)


def _expected(q: str) -> int:
    n = 0
    for i in range(202):
        ok = True
        for term in q.split(";"):
            name, op, bound = (term.partition(">=") if ">=" in term else term.partition("=="))
            ok = ok and _holds(_x(i) if name == "x" else i % 3, op, int(bound))
        n += ok
    return n


QUERIES = ("x>=100", "x>=190", "x==8", "x==64", "x==34", f"x>={BIG + 1}",
           "x>=180;y>=1", "y>=1;x>=180")


async def _count(client: TestClient, q: str) -> int:
    r = await client.get(E, params={"type": "T", "q": q, "count": "true", "limit": "0"})
    assert r.status == 200, await r.text()
    return int(r.headers["NGSILD-Results-Count"])


async def test_counts_agree_with_python_in_every_plan(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post(CREATE, json=_entities(), headers=JSON)
    assert resp.status == 201, await resp.text()
    for q in QUERIES:
        want = _expected(q)
        assert want, q
        with monkeypatch.context() as m:  # the candidate sets, read whole
            assert await _count(client, q) == want, (q, "candidates")
            m.setattr(store, "CANDIDATES", 0)  # no set complete: the hash join
            m.setattr(store, "COUNT_SHARE", 0)
            assert await _count(client, q) == want, (q, "joined")
            # x>=180's set under the bound, y>=1's over it: y's probe must stay
            m.setattr(store, "CANDIDATES", 40)
            assert await _count(client, q) == want, (q, "one of two complete")


async def test_a_count_looks_each_candidate_up_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 entities, ``q=n==7`` (300 match), the base bound at 100 but the count's
    share (20 %, 600) above the set: the set is read once from the value index and each
    member looked up by pk — the value index is not probed or joined again, and the
    entities are not walked."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T",
             "n": {"type": "Property", "value": i % 10}} for i in range(3000)]
    await create_analyzed(client, ents)
    monkeypatch.setattr(store, "CANDIDATES", 100)
    assert await _count(client, "n==7") == 300
    found = [n for n in await count_plan(client, typed_q_filter("T", "n==7")) if n["Actual Loops"]]
    values = [n for n in found if n.get("Relation Name") == "entity_values"]
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in values) == 300, found
    assert all(n.get("Index Name") == "entity_values_num_eid" for n in values), found
    looked_up = [n for n in found if n.get("Relation Name") == "entities"]
    assert looked_up and all(n.get("Index Name") == "entities_pkey" for n in looked_up), found
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in looked_up) == 300, found
