"""Two bounds on one attribute (``q=a>=X;a<Y``) drive the query by one candidate set.

``qlang_sql.compile_q`` puts a range driver first — the index rows of ``a`` in [X, Y] and
the attribute's marker rows — because each term alone may match half the entities while
together they match few (issue #13). ``a>=X;a<Y`` holds when *some* number of ``a`` is at
least X and *some*, possibly another, is below Y: an entity with an array value or several
instances can match with no number in [X, Y], which is why ``values.index_rows`` marks an
attribute with two or more distinct numbers (back-filled by migration 0094). The answers
are compared with a Python oracle under every plan, over single numbers, arrays, several
instances, lists, strings, booleans and entities without the attribute.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.query import qlang_sql
from hub.query.qlang import parse_q
from hub.store import entities as store
from tests.integration.helpers import JSON, assert_problem, backfill_restores, unmarked

E = "/ngsi-ld/v1/entities"
CREATE = "/ngsi-ld/v1/entityOperations/create"
MIGRATION = "0094_multi_value_markers.sql"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
N = 240


def _a(rnd: random.Random, i: int) -> tuple[Any, list[float]]:
    """``a`` as stored (None: absent) and the numbers a comparison on it reads."""
    kind = i % 10
    if kind in (0, 1, 2):
        x = rnd.choice([rnd.randint(0, 100), rnd.randint(0, 1000) / 10])
        return {"type": "Property", "value": x}, [x]
    if kind == 3:  # an array: e.g. [1, 100] matches a>=50;a<10
        xs = [rnd.randint(0, 100), rnd.randint(0, 100)]
        return {"type": "Property", "value": xs}, xs
    if kind == 4:  # several instances with different numbers
        x, y = rnd.randint(0, 100), rnd.randint(0, 100)
        return [{"type": "Property", "value": x},
                {"type": "Property", "value": y, "datasetId": "urn:ngsi-ld:d:1"}], [x, y]
    if kind == 5:
        return {"type": "Property", "value": rnd.choice(["5", "50", "x"])}, []
    if kind == 6:
        return {"type": "Property", "value": rnd.choice([True, False])}, []
    if kind == 7:  # the same number twice (one index row), or a number and a string
        x = rnd.randint(0, 100)
        other = rnd.choice([float(x), str(x + 1)])
        return [{"type": "Property", "value": x},
                {"type": "Property", "value": other, "datasetId": "urn:ngsi-ld:d:2"}], [x]
    if kind == 8:
        xs = [rnd.randint(0, 100), rnd.randint(0, 100), rnd.randint(0, 100)]
        return {"type": "ListProperty", "valueList": xs}, xs
    return None, []  # kind 9: no attribute a


def _entities() -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    rnd = random.Random(94)
    ents, numbers = [], {}
    for i in range(N):
        ent: dict[str, Any] = {"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                               "b": {"type": "Property", "value": i % 3}}
        a, xs = _a(rnd, i)
        if a is not None:
            ent["a"] = a
        ents.append(ent)
        numbers[ent["id"]] = xs
    return ents, numbers


def _holds(xs: list[float], op: str, y: Decimal) -> bool:
    test = {">": lambda x: x > y, ">=": lambda x: x >= y, "<": lambda x: x < y,
            "<=": lambda x: x <= y, "==": lambda x: x == y}[op]
    return any(test(Decimal(str(x))) for x in xs)


def oracle(ents: list[dict[str, Any]], numbers: dict[str, list[float]], q: str) -> list[str]:
    """The ids matching ``q`` — ``;``-joined terms ``name op number`` on ``a`` or ``b``,
    each holding when some number of the attribute satisfies it — in pk (creation) order."""
    out = []
    for ent in ents:
        ok = True
        for term in q.split(";"):
            name, rest = term[0], term[1:]
            op = next(o for o in (">=", "<=", "==", ">", "<") if rest.startswith(o))
            y = Decimal(rest[len(op):])
            xs = numbers[ent["id"]] if name == "a" else [ent["b"]["value"]]
            ok = ok and _holds(xs, op, y)
        if ok:
            out.append(ent["id"])
    return out


QUERIES = ["a>=50;a<10",  # only arrays, instances and lists: no single number in range
           "a>=40;a<45", "a>40;a<=45", "a<45;a>=40", "a<=45;a>40",  # both strictnesses,
           "a>=40;b==1;a<60", "b>=1;a>=40;a<42",  # reversed, a third term on b
           "a>=10;a>30;a<70;a<=35", "a>=20.5;a<20.6", "a>=2.00000000000000000001;a<3",
           "a>=60;a<=60", "a>=0;a<=100", "a>=101;a<200"]


async def _create(client: TestClient, ents: list[dict[str, Any]]) -> None:
    resp = await client.post(CREATE, json=ents, headers=JSON)
    assert resp.status == 201, await resp.text()


async def _answers(client: TestClient, q: str, extra: dict[str, str] | None = None
                   ) -> tuple[list[str], list[list[str]], str]:
    """Every match, pages of it, and the count (from a page that was not the last)."""
    base = {"type": "T", "q": q, **(extra or {})}
    r = await client.get(E, params={**base, "limit": "1000"})
    assert r.status == 200, await r.text()
    everything = [e["id"] for e in await r.json()]
    pages = []
    for offset, limit in ((0, 3), (2, 5), (7, 4)):
        r = await client.get(E, params={**base, "offset": str(offset), "limit": str(limit)})
        assert r.status == 200, await r.text()
        pages.append([e["id"] for e in await r.json()])
    r = await client.get(E, params={**base, "limit": "1", "count": "true"})
    return everything, pages, r.headers["NGSILD-Results-Count"]


@pytest.mark.parametrize("q", QUERIES)
async def test_two_bounds_agree_with_python_under_every_plan(
        client: TestClient, q: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ents, numbers = _entities()
    await _create(client, ents)
    want = oracle(ents, numbers, q)
    expected = (want, [want[o:o + n] for o, n in ((0, 3), (2, 5), (7, 4))], str(len(want)))
    got = {"default": await _answers(client, q)}
    with monkeypatch.context() as m:
        m.setattr(store, "CANDIDATES", 10**6)  # always the candidate branch
        got["candidates"] = await _answers(client, q)
        m.setattr(store, "WALK_AMONG", 1)  # orderBy: the walk filtered by the set
        m.setattr(store, "WALK_AMONG_DEPTH", 0)
        ordered = await _answers(client, q, {"orderBy": "b"})
    with monkeypatch.context() as m:
        m.setattr(store, "CANDIDATES", 0)  # never a small set: the walk along the pk
        got["walk"] = await _answers(client, q)
        m.setattr(store, "WALK_ENTITIES", 3)  # cut: the intersection of complete sets
        got["complete"] = await _answers(client, q)
    with monkeypatch.context() as m:
        m.setattr(qlang_sql, "USE_VALUE_INDEX", False)  # the jsonpath over attrs alone
        got["no index"] = await _answers(client, q)
        plain = await _answers(client, q, {"orderBy": "b"})
    for plan, answer in got.items():
        assert answer == expected, (q, plan)
    assert ordered == plain, q
    if q in ("a>=50;a<10", "a>=40;a<45", "a>=0;a<=100"):
        assert want, "chosen to match some entities"


def test_the_range_driver_comes_first() -> None:
    """One range driver per attribute bounded on both sides, its terms' own drivers last
    (a third term's driver is not crowded out of the store's first few); one-sided,
    equality, nested and non-indexed terms get none."""
    def drivers(q: str) -> list[str]:
        return qlang_sql.compile_q(parse_q(q), lambda s: VOCAB + s).drivers

    first = drivers("a>=1;b==2;a<3")
    assert len(first) == 4
    assert "BETWEEN" in first[0] and "v.num IS NULL AND v.txt IS NULL" in first[0]
    assert "v.num = " in first[1]
    for q in ("a>=1", "a>=1;a==3", "a>=1;b<3", "a.s>=1;a.s<3", "a>=1|a<3", "a==1..3",
              "dataProvider>=1;dataProvider<3", 'a>="x";a<"y"', "a>=1;a<3|b==1"):
        assert not [d for d in drivers(q) if "BETWEEN" in d and "UNION ALL" in d], q


async def test_malformed_bounds_are_invalid_requests(client: TestClient) -> None:
    """Syntax errors in a two-bound query are the parser's problem details, as before."""
    for q in ("a>=;a<5", "a>=1;a<", "a>=1;a<5)", "a>=1,2;a<3", "a>=1..2;a<3"):
        r = await client.get(E, params={"type": "T", "q": q})
        await assert_problem(r, 400, "InvalidRequest")


async def test_the_migration_back_fills_the_markers(client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored rows agree with ``index_rows`` for every entity. Without its markers the
    range driver loses matches (the marker is what makes it a superset); 0094 writes back
    exactly the markers of attributes with several numbers, resetting those entities'
    fingerprints and changing no attribute; 0092 then adds the rest; a second run of 0094
    adds nothing."""
    ents, numbers = _entities()
    await _create(client, ents)
    pool = client.app[keys.POOL]
    async with pool.acquire() as con:
        attrs0, rows0 = await unmarked(con)
    q = "a>=50;a<10"
    want = oracle(ents, numbers, q)
    monkeypatch.setattr(store, "CANDIDATES", 10**6)  # the range driver is the candidate set
    r = await client.get(E, params={"type": "T", "q": q, "limit": "1000"})
    assert want and [e["id"] for e in await r.json()] == []  # every match was lost
    several = {(pk, attr) for pk, rs in rows0.items() for attr in {x[0] for x in rs}
               if len({x[1] for x in rs if x[0] == attr and x[1] is not None}) >= 2}
    assert len(several) >= 60  # arrays, instances and lists of a
    async with pool.acquire() as con:
        await backfill_restores(con, MIGRATION, several, ("0092_order_markers.sql",),
                                (attrs0, rows0))
    r = await client.get(E, params={"type": "T", "q": q, "limit": "1000"})
    assert [e["id"] for e in await r.json()] == want


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for c in node.get("Plans", []) for n in _nodes(c)]


async def test_a_narrow_range_over_two_dense_terms_reads_its_candidates(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each term matches about half the entities (above the candidate bound), the two
    together a handful: the range driver's set is small, so the page is read from it —
    the entities fetched are about the matches, not a walk along the pk."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
             "a": {"type": "Property", "value": i % 500}} for i in range(1000)]
    ents[7]["a"] = {"type": "Property", "value": [1, 900]}  # marked: a candidate too
    for start in range(0, len(ents), 500):
        await _create(client, ents[start:start + 500])
    pool = client.app[keys.POOL]
    async with pool.acquire() as con:
        await con.execute("ANALYZE ngsild.entities; ANALYZE ngsild.entity_values")
    monkeypatch.setattr(store, "CANDIDATES", 100)  # each term alone: ~500 rows
    captured: list[tuple[str, tuple[Any, ...]]] = []
    real = asyncpg.connection.Connection.fetch

    async def fetch(self: asyncpg.Connection, sql: str, *args: Any, **kw: Any) -> Any:
        if "BETWEEN" in sql and "pick AS MATERIALIZED" in sql:
            captured.append((sql, args))
        return await real(self, sql, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetch", fetch)
    r = await client.get(E, params={"type": "T", "q": "a>=250;a<253", "limit": "20"})
    assert r.status == 200
    got = [e["id"] for e in await r.json()]
    assert got == ["urn:ngsi-ld:T:0007", *(f"urn:ngsi-ld:T:{i:04d}"
                                           for i in (250, 251, 252, 750, 751, 752))]
    assert len(captured) == 1
    sql, args = captured[0]
    async with pool.acquire() as con:
        raw = await con.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    found = [n for p in [plan["Plan"]] for n in _nodes(p)]
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in found
               if n.get("Relation Name") == "entities")
    assert read <= 10, plan  # the 7 matches (and nothing walked)
    markers = [n for n in found if n.get("Index Name") == "entity_values_marker"]
    assert markers and markers[0]["Actual Rows"] == 1, plan


async def test_two_bounds_with_a_geo_query_agree(client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The range driver beside the bounding-box driver (``geo_candidates`` reads the same
    candidate sets): pages and counts as the Python oracle says, under every plan."""
    ents, numbers = _entities()
    for i, ent in enumerate(ents):
        ent["location"] = {"type": "GeoProperty",
                           "value": {"type": "Point", "coordinates": [138 + i % 2, 36]}}
    await _create(client, ents)
    q = "a>=30;a<60"
    want = [i for n, i in enumerate(oracle(ents, numbers, q)) if int(i[-4:]) % 2 == 0]
    assert want
    geo = {"georel": "within", "geometry": "Polygon",
           "coordinates": "[[[137.5,35.5],[138.5,35.5],[138.5,36.5],[137.5,36.5],[137.5,35.5]]]"}
    expected = (want, [want[o:o + n] for o, n in ((0, 3), (2, 5), (7, 4))], str(len(want)))
    for candidates in (store.CANDIDATES, 0, 10**6):
        monkeypatch.setattr(store, "CANDIDATES", candidates)
        assert await _answers(client, q, geo) == expected, candidates



@pytest.mark.parametrize("rows", [0, 1, 5])
async def test_a_driver_without_rows_is_an_empty_candidate_set(client: TestClient,
                                                              rows: int) -> None:
    """The candidate set of one driver (``store.entities._driven``, counted and collected
    in one pass) is its rows when they are few, and no rows at all is the empty set, not
    "too many": else every page of a query matching nothing would walk every entity."""
    if rows:
        await _create(client, [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                                "a": {"type": "Property", "value": i}} for i in range(rows)])
    flt = store.Filter(drivers=["SELECT v.eid FROM ngsild.entity_values v"
                                " WHERE v.attr = $1 AND v.num >= $2"])
    async with client.app[keys.POOL].acquire() as con:
        pks = await con.fetchval(store._driven(flt, "SELECT pks FROM pick"),
                                 "https://uri.etsi.org/ngsi-ld/default-context/a", 0)
        stored = await con.fetch("SELECT pk FROM ngsild.entities")
    assert pks is not None and sorted(pks) == sorted(r["pk"] for r in stored)


async def test_the_candidate_bound_grows_with_the_table(client: TestClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A set of the same selectivity grows with the table while a pk walk does not: the
    bound is ``CANDIDATES`` × entities ÷ ``CANDIDATES_AT`` (never less), from the
    planner's row count. 100 entities, 50 matching, a bound of 20: too many at the base
    size, a candidate set once the table counts ten times ``CANDIDATES_AT``."""
    await _create(client, [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T",
                            "a": {"type": "Property", "value": i}} for i in range(100)])
    async with client.app[keys.POOL].acquire() as con:
        await con.execute("ANALYZE ngsild.entities")
        monkeypatch.setattr(store, "CANDIDATES", 20)

        async def pick(at: int, schema: str | None) -> Any:
            monkeypatch.setattr(store, "CANDIDATES_AT", at)
            flt = store.Filter(schema=schema, drivers=[
                "SELECT v.eid FROM ngsild.entity_values v WHERE v.attr = $1 AND v.num >= $2"])
            return await con.fetchval(store._driven(flt, "SELECT pks FROM pick"),
                                      "https://uri.etsi.org/ngsi-ld/default-context/a", 50)

        assert await pick(100, '"ngsild"') is None  # 50 > 20 x max(1, 100 / 100)
        assert await pick(10, None) is None  # no schema: the bound as it is
        assert len(await pick(10, '"ngsild"')) == 50  # 50 <= 20 x 100 / 10
