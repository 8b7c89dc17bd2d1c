"""``orderBy`` and ``count=true`` answers against the same answers computed in Python.

``store.entities`` reads an ordered page along the value index when the first key is
ascending (for several keys it sorts the page's prefix and the group tied with its last
entity by all keys), and takes ``NGSILD-Results-Count`` from the page when the page
already shows every match (issue #13). Whatever plan runs, the answer must be the one of
``ORDER BY`` over all matches: entities lacking a key last, jsonb's order between types
(booleans, arrays and objects above numbers), ties broken by the next key and then by
creation (pk), and an exact count. The oracle below sorts every entity in Python; pages
are asked of each plan (candidate sets, the walk, a walk too short, no walk), at several
selectivities, and as a caller whose grants hide some entities and some attributes.
"""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.store import entities as store
from tests.integration.authz_world import BASE, BATTERY, GAUGE, RAIN, UEDA, World, gauge, world
from tests.integration.helpers import JSON
from tests.integration.order_oracle import oracle

__all__ = ["world"]

E = BASE + "/entities"
LATER = "2099-01-01T00:00:00Z"
PAGES = ((0, 5), (3, 7), (18, 20), (0, 1000), (140, 30), (500, 5))
ORDERS = ("n", "n;desc", "n,m", "n,m;desc", "n;desc,m", "m,n")
QUERIES = (None, "q>=0", "q>=5", "q>=9", "q==3", "q>=8;n>=2")


def _value(rnd: random.Random, i: int) -> Any:
    """Mostly numbers with many ties (ints equal to floats too), some of every other
    jsonb kind an ``orderBy`` meets, or nothing (the attribute is left out)."""
    kind = i % 11
    if kind == 7:
        return rnd.choice([True, False])
    if kind == 8:
        return [rnd.randint(0, 3), rnd.randint(0, 3)]
    if kind == 9:
        return {"x": rnd.randint(0, 3)}
    if kind == 10:
        return None
    return rnd.choice([0, 1, 1.0, 1.5, 2, 3, -1, 2.0, 7])


def _entities(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(1313)
    out = []
    for i in range(n):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                               "q": {"type": "Property", "value": rnd.randint(0, 9)}}
        for name, shift in (("n", 0), ("m", 5)):
            v = _value(rnd, i + shift)
            if v is not None:
                ent[name] = {"type": "Property", "value": v}
        out.append(ent)
    return out




def _matches(ent: dict[str, Any], q: str | None) -> bool:
    if q is None:
        return True
    ok = True
    for term in q.split(";"):
        name, op, x = (term.partition(">=") if ">=" in term else term.partition("=="))
        v = ent.get(name, {}).get("value")
        if not isinstance(v, int | float) or isinstance(v, bool):
            # booleans never compare with numbers; a [a, b] array matches when an
            # element does (jsonpath's lax mode); objects never
            vals = [y for y in v if isinstance(y, int | float)] if isinstance(v, list) else []
        else:
            vals = [v]
        ok = ok and any((y >= float(x)) if op == ">=" else (y == float(x)) for y in vals)
    return ok


async def _pks(pool: asyncpg.Pool, schema: str = "ngsild") -> dict[str, int]:
    async with pool.acquire() as con:
        return {r["id"]: r["pk"] for r in await con.fetch(f"SELECT id, pk FROM {schema}.entities")}


async def _answers(client: TestClient, headers: dict[str, str], params: dict[str, str]
                   ) -> list[tuple[list[str], int]]:
    out = []
    for offset, limit in PAGES:
        r = await client.get(E, params={**params, "offset": str(offset), "limit": str(limit),
                                        "count": "true"}, headers=headers)
        assert r.status == 200, (params, await r.text())
        out.append(([e["id"] for e in await r.json()], int(r.headers["NGSILD-Results-Count"])))
    return out


def _expected(ordered: list[str]) -> list[tuple[list[str], int]]:
    return [(ordered[offset:offset + limit], len(ordered)) for offset, limit in PAGES]


@pytest.mark.parametrize("q", QUERIES)
async def test_order_and_count_agree_with_python(client: TestClient, q: str | None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ents = _entities(160)
    resp = await client.post(E.replace("entities", "entityOperations/create"), json=ents,
                             headers=JSON)
    assert resp.status == 201, await resp.text()
    pks = await _pks(client.app[keys.POOL])
    matching = [e for e in ents if _matches(e, q)]
    assert matching, "each query matches some entities"
    base = {"type": "T", **({"q": q} if q else {})}
    # no orderBy: pk order, and the count
    assert await _answers(client, {}, base) == _expected(
        [e["id"] for e in sorted(matching, key=lambda e: pks[e["id"]])])
    for order in ORDERS:
        want = _expected(oracle(matching, pks, order))
        params = {**base, "orderBy": order}
        got = {"default": await _answers(client, {}, params)}
        monkeypatch.setattr(store, "WALK_AMONG", 1)  # the walk filtered by candidates
        monkeypatch.setattr(store, "WALK_AMONG_DEPTH", 0)
        got["filtered walk"] = await _answers(client, {}, params)
        monkeypatch.setattr(store, "WALK_AMONG_ROWS", 12)  # ... too short: sorted after all
        got["short filtered walk"] = await _answers(client, {}, params)
        monkeypatch.undo()
        monkeypatch.setattr(store, "CANDIDATES", 0)  # never a small candidate set: walk
        got["walk"] = await _answers(client, {}, params)
        monkeypatch.setattr(store, "WALK_ROWS", 12)  # tie groups and pages beyond the bound
        got["short walk"] = await _answers(client, {}, params)
        monkeypatch.setattr(store, "WALK_PAGE", 0)  # the plain sort
        got["sort"] = await _answers(client, {}, params)
        monkeypatch.undo()
        for plan, answer in got.items():
            assert answer == want, (order, q, plan)


async def test_multi_key_walk_reads_only_the_boundary_group(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``n,m`` is answered by the walk (rows flagged ``walked``) when the first key's tie
    group at the page boundary fits the bound, and not when it does not."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
             "n": {"type": "Property", "value": i // 10},
             "m": {"type": "Property", "value": -i}} for i in range(100)]
    resp = await client.post(E.replace("entities", "entityOperations/create"), json=ents,
                             headers=JSON)
    assert resp.status == 201, await resp.text()
    walked = 0
    real_row = store.row_to_entity

    def row(r: Any) -> dict[str, Any]:
        nonlocal walked
        walked += bool(r.get("walked"))
        return real_row(r)

    monkeypatch.setattr(store, "row_to_entity", row)
    r = await client.get(E, params={"type": "T", "orderBy": "n,m", "limit": "15"})
    # n = 0 (ids 0-9, m descending: 9..0), then n = 1's first five by m: 19..15
    assert [e["id"][-2:] for e in await r.json()] == [f"{i:02d}" for i in
                                                      [*range(9, -1, -1), 19, 18, 17, 16, 15]]
    assert walked == 15
    walked = 0
    # with a candidate set (q), the walk filtered by it answers the same
    monkeypatch.setattr(store, "WALK_AMONG", 1)
    monkeypatch.setattr(store, "WALK_AMONG_DEPTH", 0)
    r = await client.get(E, params={"type": "T", "q": "n>=1", "orderBy": "n,m", "limit": "15"})
    assert [e["id"][-2:] for e in await r.json()] == [f"{i:02d}" for i in
                                                      [*range(19, 9, -1), 29, 28, 27, 26, 25]]
    assert walked == 15
    walked = 0
    # the page's five rows fit the bound, the boundary group (n = 0, ten rows) does not
    monkeypatch.setattr(store, "WALK_ROWS", 8)
    r = await client.get(E, params={"type": "T", "orderBy": "n,m", "limit": "5"})
    assert [e["id"][-2:] for e in await r.json()] == ["09", "08", "07", "06", "05"]
    assert walked == 0  # the sort answered
    monkeypatch.setattr(store, "WALK_ROWS", 10)  # the group fits: the walk answers
    r = await client.get(E, params={"type": "T", "orderBy": "n,m", "limit": "5"})
    assert [e["id"][-2:] for e in await r.json()] == ["09", "08", "07", "06", "05"]
    assert walked == 5


async def test_count_from_a_short_page_needs_no_statement() -> None:
    """A page that showed every match gave the count; no connection is touched."""
    flt = store.Filter()
    flt.known_total = 7
    assert await store.count_entities(None, "ngsild", flt) == 7  # type: ignore[arg-type]


async def test_hidden_entities_and_withheld_attributes_neither_order_nor_count(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The firm reads Nagano's gauges without ``battery`` and Ueda's whole: ordering by
    ``rain`` covers both, by ``battery`` (or with it as a second key) only Ueda's, and
    the count says the same, in every plan."""
    rnd = random.Random(5)
    for city, who in (("nagano", "nagano"), ("ueda", "ueda")):
        batch = [gauge(city, n, rnd.choice([1.0, 2.0, 2.5, 4.0]), rnd.choice([10.0, 20.0]))
                 for n in range(3, 40)]
        resp = await world.http.post(BASE + "/entityOperations/create", json=batch,
                                     headers=world.auth(who, **JSON))
        assert resp.status == 201, await resp.text()
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "attributes": [RAIN]}, "firm")
    await world.grant({"owner": UEDA, "entity_type": GAUGE, "actions": ["read"],
                       "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER}, "firm")
    await world.refresh()
    pool = world.http.app[keys.POOL]
    pks = await _pks(pool)
    async with pool.acquire() as con:
        rows = await con.fetch("SELECT id, attrs FROM ngsild.entities WHERE $1 = ANY(types)",
                               GAUGE)
    stored = [{"id": r["id"], "rain": r["attrs"][RAIN][0], "battery": r["attrs"][BATTERY][0]}
              for r in rows]
    ueda = [e for e in stored if ":ueda-" in e["id"]]
    nagano = [e for e in stored if ":nagano-" in e["id"]]
    assert len(ueda) == len(nagano) == 40
    cases = [("rain", None, ueda + nagano), ("rain", "rain>=2.5", ueda + nagano),
             ("rain,battery", None, ueda), ("battery;desc", None, ueda),
             ("battery,rain;desc", "rain>=2", ueda),
             # two bounds on one attribute: the range driver and its markers
             ("rain;desc", "rain>=2;rain<4", ueda + nagano)]

    def holds(e: dict[str, Any], q: str | None) -> bool:
        v = e["rain"]["value"]
        for term in (q or "").split(";") if q else []:
            bound = float(term.split("=")[-1].split("<")[-1])
            if not (v >= bound if ">=" in term else v < bound):
                return False
        return True

    for order, q, visible in cases:
        matching = [e for e in visible if holds(e, q)]
        want = _expected(oracle(matching, pks, order))
        params = {"type": "Gauge", "orderBy": order, **({"q": q} if q else {})}
        for candidates, among in ((store.CANDIDATES, 10**6), (store.CANDIDATES, 1), (0, 1)):
            monkeypatch.setattr(store, "CANDIDATES", candidates)
            monkeypatch.setattr(store, "WALK_AMONG", among)
            monkeypatch.setattr(store, "WALK_AMONG_DEPTH", 0)
            assert await _answers(world.http, world.auth("firm"), params) == want, (
                order, q, candidates)
        monkeypatch.undo()
    # the owner of Nagano's gauges sees its own with battery, Ueda's by the default read
    r = await world.http.get(E, params={"type": "Gauge", "orderBy": "battery", "count": "true",
                                        "limit": "1000"}, headers=world.auth("nagano"))
    assert r.status == 200
    ids = [e["id"] for e in await r.json()]
    assert set(i for i in ids if ":nagano-" in i) == {e["id"] for e in nagano}
    assert int(r.headers["NGSILD-Results-Count"]) == len(ids)
