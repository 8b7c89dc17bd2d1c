"""``orderBy`` on the system timestamps: the right order under every plan, and the
creation index read in order instead of a sort of every match (issue #13).

``orderBy=createdAt`` (``;desc``) is served by the index ``(created_at, pk)`` (migration
0098), forwards or backwards; ties after a final descending ``createdAt`` or
``modifiedAt`` key run in descending pk order (``orderby.tie_break``), so a backward
scan is the page. The pages are compared with the order computed from the stored
timestamps and pks, for entities created in several requests (a request's entities share
one ``createdAt``) and some updated since, under the candidate plan (a small set, sorted)
and the walking plan (a dense ``q``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query.orderby import compile_order_by, tie_break
from hub.store import entities as store
from tests.integration.helpers import JSON
from tests.integration.order_oracle import page_plan, plan_nodes

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
PAGES = ((0, 7), (5, 13), (60, 20), (0, 1000), (230, 20))
N = 240


def _entity(i: int) -> dict[str, Any]:
    ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{(i * 7919) % N:04d}", "type": "T"}
    if i % 11:  # some lack n: they sort last on it
        ent["n"] = {"type": "Property", "value": i % 9}
    return ent


async def _stored(client: TestClient) -> dict[str, dict[str, Any]]:
    async with client.app[keys.POOL].acquire() as con:
        rows = await con.fetch("SELECT id, pk, created_at, modified_at,"
                               " (attrs -> $1::text -> 0 -> 'value')::int AS n"
                               " FROM ngsild.entities", VOCAB + "n")
    return {r["id"]: dict(r) for r in rows}


def _expected(stored: dict[str, dict[str, Any]], order: str, ids: set[str]) -> list[str]:
    """The order the hub must give: each key in turn (n's missing values last both
    ways), then the pk, descending after a final descending timestamp key."""
    column = {"createdAt": "created_at", "modifiedAt": "modified_at", "n": "n"}
    rows = [stored[i] for i in ids]
    items = [(k.partition(";")[0], k.endswith(";desc")) for k in order.split(",")]
    last_desc_time = items[-1][1] and items[-1][0] in ("createdAt", "modifiedAt")
    rows.sort(key=lambda r: r["pk"], reverse=last_desc_time)
    for name, desc in reversed(items):  # stable sorts, least significant key first
        present = [r for r in rows if r[column[name]] is not None]
        missing = [r for r in rows if r[column[name]] is None]
        present.sort(key=lambda r, c=column[name]: r[c], reverse=desc)
        rows = present + missing
    return [r["id"] for r in rows]


async def _pages(client: TestClient, params: dict[str, str]) -> list[list[str]]:
    out = []
    for offset, limit in PAGES:
        r = await client.get(E, params={**params, "offset": str(offset), "limit": str(limit)})
        assert r.status == 200, (params, await r.text())
        out.append([e["id"] for e in await r.json()])
    return out


async def test_timestamp_orders_under_every_plan(client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ents = [_entity(i) for i in range(N)]
    for start in range(0, N, 40):  # six requests: six createdAt values, ties within each
        resp = await client.post(CREATE, json=ents[start:start + 40], headers=JSON)
        assert resp.status == 201, await resp.text()
    for i in (3, 77, 150):  # updated since: modifiedAt moves, createdAt stays
        eid = f"urn:ngsi-ld:T:{i:04d}"
        resp = await client.patch(f"{E}/{eid}/attrs", json={"n": {"type": "Property",
                                                                  "value": 4}}, headers=JSON)
        assert resp.status == 204, await resp.text()
    stored = await _stored(client)
    assert len({r["created_at"] for r in stored.values()}) >= 2  # ties and groups both
    filters = {"every": (None, set(stored)),
               "dense": ("n>=1", {i for i, r in stored.items() if (r["n"] or 0) >= 1}),
               "sparse": ("n==8", {i for i, r in stored.items() if r["n"] == 8})}
    orders = ("createdAt", "createdAt;desc", "modifiedAt;desc", "n,createdAt;desc",
              "createdAt;desc,n", "modifiedAt,n;desc")
    for order in orders:
        for name, (q, ids) in filters.items():
            params = {"type": "T", "orderBy": order, **({"q": q} if q else {})}
            want = _expected(stored, order, ids)
            expected = [want[o:o + n] for o, n in PAGES]
            assert await _pages(client, params) == expected, (order, name)
            with monkeypatch.context() as m:
                m.setattr(store, "WALK_AMONG", 1)  # any candidate set: walked among
                m.setattr(store, "WALK_AMONG_DEPTH", 0)
                assert await _pages(client, params) == expected, (order, name, "among")
                m.setattr(store, "WALK_AMONG_ROWS", 12)  # ... too short: sorted after all
                assert await _pages(client, params) == expected, (order, name, "short")
            with monkeypatch.context() as m:
                m.setattr(store, "CANDIDATES", 0)  # never a small candidate set: the walk
                assert await _pages(client, params) == expected, (order, name, "walk")


async def _load(client: TestClient, ents: list[dict[str, Any]]) -> None:
    """Create ``ents`` in requests of 500 (six creation instants), then vacuum: the
    visibility map an index-only scan needs, and statistics."""
    for start in range(0, len(ents), 500):
        resp = await client.post(CREATE, json=ents[start:start + 500], headers=JSON)
        assert resp.status == 201, await resp.text()
    async with client.app[keys.POOL].acquire() as con:
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_values")


@pytest.mark.parametrize(("order", "direction"), [("createdAt", "Forward"),
                                                  ("createdAt;desc", "Backward")])
async def test_the_page_is_read_along_the_creation_index(client: TestClient, order: str,
                                                         direction: str) -> None:
    """The plan of ``type=T&orderBy=createdAt[;desc]&limit=20``: the creation index in
    the key's direction, stopping with the page — no sort of every entity of the type."""
    await _load(client, [{"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T"} for i in range(3000)])
    exprs, params = compile_order_by(order, lambda term: VOCAB + term, 2)
    flt = store.Filter(conditions=["e.types @> ARRAY[$1::text]"], params=[VOCAB + "T"],
                       order=exprs, order_params=list(params), tie=tie_break(order))
    found = await page_plan(client, flt)
    scans = [n for n in found if n.get("Index Name") == "entities_created"]
    assert scans and all(n["Scan Direction"] == direction for n in scans), found
    assert sum(n["Actual Rows"] for n in scans) <= 21, found
    assert not [n for n in found if "Sort" in n["Node Type"]], found


async def test_a_large_candidate_set_is_walked_index_only(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``q`` matching 10 % (a candidate set of 300, under the bound) with
    ``orderBy=createdAt;desc``: the creation index is read index-only, backwards, until
    the page's members are found (~190 rows for 20 matches), and only members' entities
    are fetched — not all 300 candidates read and sorted."""
    await _load(client, [{"id": f"urn:ngsi-ld:T:{i:05d}", "type": "T",
                          "n": {"type": "Property", "value": i % 10}} for i in range(3000)])
    pool = client.app[keys.POOL]
    captured: list[tuple[str, tuple[Any, ...]]] = []
    real = asyncpg.connection.Connection.fetch

    async def recording(self: Any, sql: str, *args: Any, **kw: Any) -> Any:
        if "c.created_at" in sql:
            captured.append((sql, args))
        return await real(self, sql, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetch", recording)
    resp = await client.get(E, params={"type": "T", "q": "n==7", "orderBy": "createdAt;desc",
                                       "limit": "20"})
    assert resp.status == 200, await resp.text()
    page = [e["id"] for e in await resp.json()]
    assert page == [f"urn:ngsi-ld:T:{i:05d}" for i in range(2997, 2997 - 200, -10)]
    assert len(captured) == 1, captured
    sql, args = captured[0]
    async with pool.acquire() as con:
        raw = await real(con, f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    found = plan_nodes(raw[0][0])
    walks = [n for n in found if n.get("Index Name") == "entities_created"
             and n["Actual Loops"]]  # the branch for sets over the bound is not run
    assert walks and all(n["Node Type"] == "Index Only Scan" for n in walks), found
    assert all(n["Scan Direction"] == "Backward" for n in walks), found
    assert 190 <= sum(n["Actual Rows"] for n in walks) <= 400, found
    fetched = [n for n in found if n.get("Relation Name") == "entities"
               and n.get("Index Name") != "entities_created"]
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in fetched) <= 40, found
