"""A descending ``orderBy`` read backwards along the value index must sort as jsonb sorts.

``store.entities._walk_sql`` walks ``entity_values (attr, num, eid)`` backwards for
``orderBy=n;desc`` (issue #13), gated by the attribute having no marker row
(``values.sorts_above_numbers``: a boolean, array or object value, which jsonb sorts above
every number). The pages are compared with an oracle that sorts in Python, under every
plan (the walk, the walk filtered by a candidate set, bounds too small to fill the page,
the plain sort), over values chosen to trip it: ties (ints equal to floats), entities
without the attribute, strings, several instances, and booleans, arrays and objects. The
migrations that back-fill the markers of entities stored before (0092, and 0094 for
attributes with several numbers) are run again on entities whose markers were deleted.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query.values import index_rows
from hub.store import entities as store
from tests.integration.helpers import JSON, assert_problem, rerun_migrations, stored_index_rows
from tests.integration.order_oracle import Walked, create, every_plan, oracle, page_plan

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
MIGRATIONS = ["0092_order_markers.sql", "0094_multi_value_markers.sql"]
PAGES = ((0, 5), (3, 7), (18, 20), (100, 30), (0, 1000), (590, 20))
ORDERS = ("n;desc", "n;desc,m", "n;desc,m;desc")
N = 600


def _instances(rnd: random.Random, i: int, above: bool) -> list[dict[str, Any]] | None:
    """``n``'s instances: mostly numbers with many ties, some strings, some without the
    attribute, several instances (the first decides the order), and — with ``above`` —
    booleans, arrays and objects, and two instances with different numbers (which mark
    the attribute too: the ``q`` range driver's marker, ``values.index_rows``)."""
    kind = i % 12
    if kind == 6:
        return None
    if kind == 7:
        return [{"type": "Property", "value": rnd.choice(["a", "b", "c"])}]
    if kind == 8:  # the first instance's number is the key; the other's row is not
        first = rnd.choice([1, 2.5, 7])  # two distinct numbers mark the attribute too
        return [{"type": "Property", "value": first},
                {"type": "Property", "value": 1000 if above else first,
                 "datasetId": "urn:ngsi-ld:d:1"}]
    if kind == 9:  # a string first: its number row (of the other instance) is not the key
        return [{"type": "Property", "value": "b"},
                {"type": "Property", "value": 999, "datasetId": "urn:ngsi-ld:d:1"}]
    if kind == 10 and above:  # a geometry: no marker row, its geo row stands for it
        if rnd.random() < 0.2:
            return [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}]
        return [{"type": "Property",
                 "value": rnd.choice([True, False, [1, 2], {"x": 1}, [500]])}]
    if kind == 11:
        return [{"type": "Property", "value": rnd.choice([1e300, -1e300, 0.5, 1])}]
    return [{"type": "Property", "value": rnd.choice([0, 1, 1.0, 1.5, 2, 3, -1, 2.0, 7])}]


def _entities(above: bool) -> list[dict[str, Any]]:
    rnd = random.Random(92)
    out = []
    for i in range(N):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                               "q": {"type": "Property", "value": rnd.randint(0, 9)}}
        n = _instances(rnd, i, above)
        if n is not None:
            ent["n"] = n if len(n) > 1 else n[0]
        if i % 5:
            ent["m"] = {"type": "Property", "value": rnd.randint(0, 3)}
        out.append(ent)
    return out




def _matches(ent: dict[str, Any], q: str | None) -> bool:
    if q is None:
        return True
    op, x = (">=", q[3:]) if q.startswith("q>=") else ("==", q[3:])
    v = ent["q"]["value"]
    return v >= int(x) if op == ">=" else v == int(x)


async def _check_every_plan(client: TestClient, ents: list[dict[str, Any]],
                            pks: dict[str, int], q: str | None,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    matching = [e for e in ents if _matches(e, q)]
    assert matching
    base = {"type": "T", **({"q": q} if q else {})}
    for order in ORDERS:
        ordered = oracle(matching, pks, order)
        want = [ordered[offset:offset + limit] for offset, limit in PAGES]
        params = {**base, "orderBy": order}
        got = await every_plan(client, params, PAGES, monkeypatch)
        for plan, answer in got.items():
            assert answer == want, (order, q, plan)


@pytest.mark.parametrize("q", [None, "q>=0", "q>=5", "q==3"])
@pytest.mark.parametrize("above", [False, True])
async def test_descending_pages_agree_with_python(client: TestClient, above: bool,
                                                  q: str | None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidate sets of ~600 and ~300 (walked, filtered by the set), ~60 (sorted), none;
    without and with values that sort above numbers (marker rows: always sorted)."""
    ents = _entities(above)
    pks = await create(client, ents)
    walked = Walked(monkeypatch)
    await _check_every_plan(client, ents, pks, q, monkeypatch)
    # which plan answered a first page by default: the walk, unless a marker forbids it
    # or the candidate set is small enough to sort
    walked.take()
    r = await client.get(E, params={"type": "T", "orderBy": "n;desc", "limit": "20",
                                    **({"q": q} if q else {})})
    assert r.status == 200
    assert walked.take() == (0 if above or q == "q==3" else 20), (above, q)


async def test_a_descending_walk_answers_a_page_of_each_shape(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """One key, two keys (the tie group at the boundary sorted by the second), and the
    walk filtered by a candidate set each fill the page from the walk; a marker row makes
    the same queries sort, and removing the value that caused it walks again."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
             "n": {"type": "Property", "value": i // 10},
             "m": {"type": "Property", "value": -i}} for i in range(100)]
    await create(client, ents)
    walked = Walked(monkeypatch)

    async def page(**params: str) -> list[str]:
        r = await client.get(E, params={"type": "T", "limit": "15", **params})
        assert r.status == 200, await r.text()
        return [e["id"][-2:] for e in await r.json()]

    # n = 9 (ids 90-99, by pk), then n = 8's first five by pk
    assert await page(orderBy="n;desc") == [f"{i}" for i in [*range(90, 100), *range(80, 85)]]
    assert walked.take() == 15
    # n = 9 by m descending (-90 first), then n = 8's by m: 80..84
    assert await page(orderBy="n;desc,m;desc") == [
        f"{i}" for i in [*range(90, 100), *range(80, 85)]]
    assert walked.take() == 15
    assert await page(orderBy="n;desc,m") == [
        f"{i}" for i in [*range(99, 89, -1), *range(89, 84, -1)]]
    assert walked.take() == 15
    monkeypatch.setattr(store, "WALK_AMONG", 1)
    monkeypatch.setattr(store, "WALK_AMONG_DEPTH", 0)
    assert await page(orderBy="n;desc", q="n<=5") == [
        f"{i:02d}" for i in [*range(50, 60), *range(40, 45)]]
    assert walked.take() == 15
    point = {"type": "Point", "coordinates": [138.2, 36.6]}
    for n in ({"type": "Property", "value": True},  # a marker row
              {"type": "GeoProperty", "value": point}):  # its geo row
        flag = {"id": "urn:ngsi-ld:T:flag", "type": "T", "n": n}
        assert (await client.post(CREATE, json=[flag], headers=JSON)).status == 201
        assert (await page(orderBy="n;desc"))[0] == "ag"  # the boolean or object leads
        assert walked.take() == 0
        assert (await client.delete(E + "/urn:ngsi-ld:T:flag")).status == 204
        assert (await page(orderBy="n;desc"))[0] == "90"
        assert walked.take() == 15


async def test_the_descending_walk_reads_the_index_backwards(client: TestClient) -> None:
    """The plan: a backward scan of ``entity_values_num_eid``, gated by one probe of the
    marker index, whose rows fetch their entities by pk until the page is full — not a
    sort of every match."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
             "n": {"type": "Property", "value": i % 250}} for i in range(1000)]
    await create(client, ents)
    pool = client.app[keys.POOL]
    async with pool.acquire() as con:
        await con.execute("ANALYZE ngsild.entities; ANALYZE ngsild.entity_values")
    vocab = "https://uri.etsi.org/ngsi-ld/default-context/"
    flt = store.Filter(conditions=["e.types @> ARRAY[$1::text]"], params=[vocab + "T"],
                       order=["(e.attrs -> $2::text -> 0 -> 'value') DESC NULLS LAST"],
                       order_params=[vocab + "n"], walk=vocab + "n")
    found = await page_plan(client, flt, lambda sql: "v.num AS val" in sql
                            and "ORDER BY val DESC, v.eid" in sql)
    # the walk reads backwards; a forward scan is one probe (whether numbers exist, the
    # string walk's gate); the boundary group's size check, unrun here, is a bitmap scan
    scans = [n for n in found if n.get("Index Name") == "entity_values_num_eid"
             and "Scan Direction" in n and n["Actual Loops"]]
    walks = [n for n in scans if n["Scan Direction"] == "Backward"]
    assert walks and max(n["Actual Rows"] for n in walks) >= 20, found
    assert all(n["Actual Rows"] <= 1 for n in scans if n not in walks), found
    assert any(n.get("Index Name") == "entity_values_marker" for n in found), found
    # the walk fetches the page's entities by pk and stops: not every one of the type
    fetched = [n for n in found if n.get("Relation Name") == "entities"]
    assert fetched and all(n["Node Type"] == "Index Scan" for n in fetched), found
    assert sum(n["Actual Loops"] for n in fetched) < 100, found


async def test_the_migration_back_fills_the_markers(client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities stored before 0092 and 0094 (markers deleted) get exactly ``index_rows``'
    markers back — none for ``NOT_INDEXED`` attributes — with their fingerprints reset; a
    second run adds nothing; attributes stay as stored; the descending order is right
    again."""
    ents = _entities(above=True)
    for ent in ents:  # on n, only marker rows close the walk (no geo rows)
        if isinstance(ent.get("n"), dict) and ent["n"]["type"] == "GeoProperty":
            ent["n"] = {"type": "Property", "value": False}
    ents[1]["obj"] = [{"type": "Property", "value": 3},
                      {"type": "Property", "value": {"a": [1]}, "datasetId": "urn:ngsi-ld:d:2"}]
    ents[2]["geo"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}
    pks = await create(client, ents)
    pool = client.app[keys.POOL]

    provider = "https://uri.etsi.org/ngsi-ld/default-context/dataProvider"
    async with pool.acquire() as con:
        # provenance is the hub's to write (a client's is refused): a NOT_INDEXED attribute
        # with a value that would otherwise be marked, as a stored entity might have it
        await con.execute("UPDATE ngsild.entities SET attrs = attrs || jsonb_build_object("
                          "$1::text, '[{\"type\": \"Property\", \"value\": true}]'::jsonb)"
                          " WHERE id = $2", provider, ents[0]["id"])
        attrs0, rows0 = await stored_index_rows(con)
        for pk, a in attrs0.items():
            assert rows0[pk] == sorted(index_rows(a), key=repr)
        markers = await con.fetchval("SELECT count(*) FROM ngsild.entity_values"
                                     " WHERE num IS NULL AND txt IS NULL")
        assert markers >= 30  # most kind-10 entities (not the geometries), and "obj"
        await con.execute("DELETE FROM ngsild.entity_values WHERE num IS NULL AND txt IS NULL")
    # without its markers the walk would answer, wrongly: numbers before the booleans
    r = await client.get(E, params={"type": "T", "orderBy": "n;desc", "limit": "20"})
    assert [e["id"] for e in await r.json()] != oracle(ents, pks, "n;desc")[:20]
    async with pool.acquire() as con:
        assert await rerun_migrations(con, *MIGRATIONS) == 2
        attrs1, rows1 = await stored_index_rows(con)
        assert attrs1 == attrs0  # nothing stored is lost or changed
        assert rows1 == rows0
        reset = {r["pk"] for r in await con.fetch(
            "SELECT pk FROM ngsild.entities WHERE index_fp IS NULL")}
        assert reset == {pk for pk, r in rows0.items()
                         if any(x[1] is None and x[2] is None for x in r)}
        assert provider in attrs1[pks[ents[0]["id"]]]
        assert not [x for x in rows1[pks[ents[0]["id"]]] if x[0] == provider]
        await con.execute("UPDATE ngsild.entities SET index_fp = '\\x00'::bytea")
        assert await rerun_migrations(con, *MIGRATIONS) == 2  # again: nothing to add, nothing reset
        assert await stored_index_rows(con) == (attrs1, rows1)
        assert await con.fetchval("SELECT count(*) FROM ngsild.entities"
                                  " WHERE index_fp IS NULL") == 0
    await _check_every_plan(client, ents, pks, None, monkeypatch)


@pytest.mark.parametrize("order", ["n;down", "n;DESC", "n;desc;asc", "n;desc,"])
async def test_a_bad_direction_is_bad_request_data(client: TestClient, order: str) -> None:
    r = await client.get(E, params={"type": "T", "orderBy": order})
    await assert_problem(r, 400, "BadRequestData")
