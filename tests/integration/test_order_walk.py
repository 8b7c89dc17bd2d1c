"""``orderBy`` on a numeric attribute read along the value index must sort as the jsonb sort.

``store.entities.fetch_entities`` walks ``entity_values (attr, num, eid)`` for an ascending
``orderBy`` on one attribute (issue #13) instead of sorting every match. These tests compare
its pages with the plain sort (the walk switched off) over values chosen to trip it: ties,
ints equal to floats, negatives, several instances, arrays, booleans, objects, entities
without the attribute, strings in the attribute (jsonb puts them before numbers), a walk
bound too small to fill the page, and both branches of a driven query.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient

from hub.store import entities as store
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"


def _entities(n: int, *, strings: bool) -> list[dict]:
    rnd = random.Random(13)
    out = []
    for i in range(n):
        ent: dict = {"id": f"urn:ngsi-ld:T:{i:03d}", "type": "T",
                     "q": {"type": "Property", "value": rnd.randint(0, 9)}}
        kind = i % 9
        if kind in (0, 1, 2):
            ent["n"] = {"type": "Property", "value": rnd.choice([1, 2.5, 3, 3.0, -7, 40, 0])}
        elif kind == 3:
            ent["n"] = [{"type": "Property", "value": rnd.randint(-5, 50)},
                        {"type": "Property", "value": rnd.randint(-5, 50), "datasetId": "urn:d:1"}]
        elif kind == 4:
            ent["n"] = {"type": "Property", "value": [rnd.randint(0, 50), rnd.randint(0, 50)]}
        elif kind == 5:
            ent["n"] = {"type": "Property", "value": rnd.choice([True, False])}
        elif kind == 6:
            ent["n"] = {"type": "Property", "value": {"x": rnd.randint(0, 5)}}
        elif kind == 7 and strings:
            ent["n"] = {"type": "Property", "value": rnd.choice(["a", "zz"])}
        out.append(ent)  # kind 8 (and 7 without strings): no attribute n
    return out


@dataclass
class _Seen:
    calls: int = 0  # statements built by the walk (``_walk_sql``)
    walked: int = 0  # entities a walk answered with


def _watch(monkeypatch: pytest.MonkeyPatch) -> _Seen:
    """Count the walk's statements and the entities it answered with."""
    seen = _Seen()
    real, real_row = store._walk_sql, store.row_to_entity

    def counting(*args: object, **kwargs: object) -> str:
        seen.calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    def row(r: object) -> dict:
        seen.walked += bool(r.get("walked"))  # type: ignore[attr-defined]
        return real_row(r)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_walk_sql", counting)
    monkeypatch.setattr(store, "_KIND_HINTS", {})  # numbers are walked first
    monkeypatch.setattr(store, "row_to_entity", row)
    return seen


async def _pages(client: TestClient, params: dict[str, str]) -> list[list[str]]:
    out = []
    for offset, limit in ((0, 5), (3, 7), (10, 20), (0, 200)):
        r = await client.get(E, params={"type": "T", "orderBy": "n", **params,
                                        "offset": str(offset), "limit": str(limit)})
        assert r.status == 200, await r.text()
        out.append([e["id"] for e in await r.json()])
    return out


@pytest.mark.parametrize("strings", [False, True])
@pytest.mark.parametrize("q", [None, "q>=0", "q>=7", "n>=3"])
async def test_order_walk_agrees_with_sort(client: TestClient, strings: bool, q: str | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await client.post("/ngsi-ld/v1/entityOperations/create",
                             json=_entities(120, strings=strings), headers=JSON)
    assert resp.status == 201, await resp.text()
    params = {"q": q} if q else {}
    seen = _watch(monkeypatch)
    monkeypatch.setattr(store, "CANDIDATES", 0)  # drivers never small: the walk branch
    walked = await _pages(client, params)
    # one statement a page; with strings stored, the first statement (numbers) finds them
    # leading and the string walk follows, first for this attribute from then on
    # (unless that statement's candidate branch answered: n>=3's small set, sorted)
    assert seen.calls == 4 + (strings and q != "n>=3")
    # the walk answers the pages it can fill: along the numbers, or with strings stored
    # (which jsonb sorts first) along the strings, which fill the first pages unless the
    # query passes few of them (q>=7) or none (n>=3); n>=3 bounds the walked attribute
    # itself, whose set is then sorted when as small as here (``_walk``: WALK_AMONG)
    want = (not strings or q in (None, "q>=0")) and q != "n>=3"
    assert (seen.walked > 0) == want, seen.walked
    monkeypatch.setattr(store, "CANDIDATES", 10**6)  # always the candidate branch
    candidates = await _pages(client, params)
    monkeypatch.setattr(store, "WALK_ROWS", 3)  # a walk that cannot fill the page
    bounded = await _pages(client, params)
    monkeypatch.setattr(store, "WALK_PAGE", 0)  # no walk: the plain sort
    sorted_ = await _pages(client, params)
    assert walked == candidates == bounded == sorted_
    assert sorted_[0], "each query matches some entities"


async def test_nested_orders_are_not_walked_and_markers_close_descending_walks(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-attributes and system keys are never walked. jsonb sorts booleans, arrays and
    objects above numbers: with such values stored the attribute has marker rows
    (``values.sorts_above_numbers``), and a descending walk along the numbers answers
    nothing — the sort does (tests/integration/test_order_desc_walk.py walks without)."""
    resp = await client.post("/ngsi-ld/v1/entityOperations/create",
                             json=_entities(40, strings=False), headers=JSON)
    assert resp.status == 201
    seen = _watch(monkeypatch)
    for order in ("n.x", "id"):
        r = await client.get(E, params={"type": "T", "orderBy": order, "limit": "5"})
        assert r.status == 200, (order, await r.text())
    assert seen.calls == 0
    for order in ("n;desc", "n;desc,q"):
        r = await client.get(E, params={"type": "T", "orderBy": order, "limit": "3"})
        assert r.status == 200, (order, await r.text())
        first = (await r.json())[0]
        assert not isinstance(first["n"]["value"], int | float)  # an object or boolean leads
    assert seen.calls == 2 and seen.walked == 0


@pytest.mark.parametrize("q", ["q>=2;q<=3", "n>=0;q>=5", "q>=0;q<=9;n<=40", "q==1..2;q>1"])
async def test_terms_sparse_together_agree(client: TestClient, q: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Several terms, each with a large candidate set: the pk walk cut at
    ``WALK_ENTITIES`` and the intersection of the complete sets give the same pages as
    the unbounded walk and the candidate branch."""
    resp = await client.post("/ngsi-ld/v1/entityOperations/create",
                             json=_entities(120, strings=False), headers=JSON)
    assert resp.status == 201

    async def pages() -> list[list[str]]:
        out = []
        for offset, limit in ((0, 5), (4, 9), (0, 200)):
            r = await client.get(E, params={"type": "T", "q": q, "offset": str(offset),
                                            "limit": str(limit)})
            assert r.status == 200, await r.text()
            out.append([e["id"] for e in await r.json()])
        return out

    monkeypatch.setattr(store, "CANDIDATES", 0)  # every set large: the walk
    walked = await pages()
    for cut in (0, 3, 30):  # the walk cut early: pages from the complete intersection
        monkeypatch.setattr(store, "WALK_ENTITIES", cut)
        assert await pages() == walked, cut
    monkeypatch.setattr(store, "CANDIDATES", 10**6)
    assert await pages() == walked
    assert walked[2], "each query matches some entities"


async def test_system_keys_descending_sort_as_python(client: TestClient) -> None:
    """``id``, ``createdAt`` and ``modifiedAt`` are never NULL: descending, they are
    ordered by plain ``DESC`` (the order of a backward scan of the id index), which must
    give the same pages as NULLS LAST did; a final descending timestamp's ties run newest
    created first (``orderby.tie_break``: a backward scan of the creation index), so
    ``createdAt;desc`` is ``createdAt`` reversed."""
    rnd = random.Random(7)
    ids = [f"urn:ngsi-ld:T:{rnd.randrange(10**6):06d}-{i}" for i in range(40)]
    ents = [{"id": i, "type": "T", "n": {"type": "Property", "value": 1}} for i in ids]
    resp = await client.post("/ngsi-ld/v1/entityOperations/create", json=ents, headers=JSON)
    assert resp.status == 201, await resp.text()
    touched = ids[5:12]
    for i in touched:  # later modifiedAt, in this order
        r = await client.patch(f"{E}/{i}/attrs", json={"n": {"type": "Property", "value": 2}},
                               headers=JSON)
        assert r.status == 204, await r.text()

    async def order(key: str, offset: int, limit: int) -> list[str]:
        r = await client.get(E, params={"type": "T", "orderBy": key, "offset": str(offset),
                                        "limit": str(limit)})
        assert r.status == 200, await r.text()
        return [e["id"] for e in await r.json()]

    for offset, limit in ((0, 7), (5, 10), (0, 100)):
        page = slice(offset, offset + limit)
        assert await order("id;desc", offset, limit) == sorted(ids, reverse=True)[page]
        # one batch: one creation instant, ties in reverse creation order
        assert await order("createdAt;desc", offset, limit) == ids[::-1][page]
        assert await order("createdAt", offset, limit) == ids[page]
        newest = [*reversed(touched), *(i for i in reversed(ids) if i not in touched)]
        assert await order("modifiedAt;desc", offset, limit) == newest[page]
