"""A firm's ``count=true`` joins the keys of what it may read (issue #13, migration 0102).

A firm granted some datasets of a tenant counts a term's matches among its visible
entities. The count once looked up every candidate's key to read its dataset; now the
keys of the visible datasets come from ``entities_dataset`` (index-only) and are joined
with the candidate set (``store.entities.count_entities``). What could go wrong, and is
tested here:

- the count includes an entity the firm may not read (another city's, an unowned one
  whose dataset is NULL) or misses one it may: every count against Python's, for dense
  and sparse numbers, an array (several index rows an entity), a string, a disjunction;
- an attribute-limited grant: its dataset counts only for terms on the attributes it
  allows (``access_condition`` unites whole datasets and such grants into one list);
- who joins: a caller reading at most half of the catalogue's datasets (the firm); the
  prefecture, reading all but personal data, looks its candidates up;
- the plan: the firm's keys are read through ``entities_dataset``, no candidate's key
  is looked up in the primary key, and the keys are what is hashed when they are fewer
  than the candidates' rows (a semi join hashed every candidate row); a page still walks
  its candidates along the primary key (with ``pk`` a key column of the new index, it
  probed that index with each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub import keys
from hub.service.catalogue import DATASET_IRI, DATASET_PREFIX
from hub.store import entities as store
from tests.integration.authz_world import GAUGE, JSON, World, world
from tests.integration.order_oracle import count_plan, page_plan
from tests.integration.test_count_shapes import VOCAB

__all__ = ["world"]

OPS = "/ngsi-ld/v1/entityOperations/upsert"
E = "/ngsi-ld/v1/entities"
N = 240


def _gauge(city: str, i: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Gauge:{city}-x{i}", "type": "Gauge",
            "rain": {"type": "Property", "value": i % 40},
            "battery": {"type": "Property", "value": i},
            "levels": {"type": "Property", "value": [i % 5, i % 7]},
            "code": {"type": "Property", "value": f"C{i % 20:03d}"}}


#: (q, which of a city's gauges ``_gauge(city, i)`` match, by i)
TERMS: list[tuple[str, Callable[[int], bool]]] = [
    ("rain>=2", lambda i: i % 40 >= 2),
    ("rain>=39", lambda i: i % 40 >= 39),
    ("battery<12", lambda i: i < 12),
    ("levels==6", lambda i: i % 7 == 6),
    ("levels>=4", lambda i: i % 5 >= 4 or i % 7 >= 4),
    ('code>="C015"', lambda i: i % 20 >= 15),
    ("rain>=38|battery<5", lambda i: i % 40 >= 38 or i < 5),
]


async def _load(world: World, n: int = N) -> None:
    for city in ("nagano", "ueda"):
        for start in range(0, n, 1000):
            resp = await world.http.post(
                OPS, json=[_gauge(city, i) for i in range(start, min(n, start + 1000))],
                headers=world.auth(city, **JSON))
            assert resp.status in (201, 204), await resp.text()
    # an unowned gauge (no dataset stamp): nobody's but the catch-all's
    legacy = {"id": "urn:ngsi-ld:Gauge:legacy-1", "types": [GAUGE], "scopes": None,
              "attrs": {VOCAB + "rain": [{"type": "Property", "value": 39}],
                        VOCAB + "battery": [{"type": "Property", "value": 1}]},
              "createdAt": "2026-12-06T00:00:00Z", "modifiedAt": "2026-12-06T00:00:00Z"}
    async with world.http.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [legacy], create_only=True, history=False)
        await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_values")


async def _count(world: World, who: str, q: str) -> int:
    r = await world.http.get(E, params={"type": "Gauge", "q": q, "count": "true",
                                        "limit": "0"}, headers=world.auth(who))
    assert r.status == 200, await r.text()
    return int(r.headers["NGSILD-Results-Count"])


def _want(match: Callable[[int], bool], cities: int = 1) -> int:
    # the world's own gauges (rain 5, 15, 25; battery 80) match none of the terms but
    # rain>=2, which all three of a city's do
    return cities * sum(1 for i in range(N) if match(i))


async def test_a_firm_counts_what_it_may_read(world: World) -> None:
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    await _load(world)
    for bound in (store.CANDIDATES, 50):  # candidates looked up, or the keys joined
        with pytest.MonkeyPatch.context() as m:
            m.setattr(store, "CANDIDATES", bound)
            for q, match in TERMS:
                extra = 3 if q == "rain>=2" else 0
                assert await _count(world, "firm", q) == _want(match) + extra, (q, bound)
                assert await _count(world, "pref", q) == _want(match, 2) + 2 * extra, q
    # the page agrees with its count
    r = await world.http.get(E, params={"type": "Gauge", "q": "levels==6", "limit": "1000",
                                        "count": "true"}, headers=world.auth("firm"))
    assert r.status == 200, await r.text()
    ids = [e["id"] for e in await r.json()]
    assert len(ids) == int(r.headers["NGSILD-Results-Count"]) == _want(lambda i: i % 7 == 6)
    assert all(i.startswith("urn:ngsi-ld:Gauge:nagano-") for i in ids)
    # a gauge moved to a dataset the firm may not read by a versioned write (PATCH's): its
    # value rows move with it, or the firm's count, which reads them alone where the
    # firm's dataset holds gauges only, would still include it
    moved = "urn:ngsi-ld:Gauge:nagano-x3"
    before = await _count(world, "firm", "battery<12")
    async with world.http.app[keys.POOL].acquire() as con:
        ent = await store.fetch_entity(con, "ngsild", moved, versioned=True)
        assert ent is not None
        ent["attrs"][DATASET_IRI] = [{"type": "Relationship",
                                      "object": DATASET_PREFIX + "ueda-rain"}]
        assert await store.write_entities(con, "ngsild", [ent], create_only=False,
                                          history=False, versioned=True) == {moved: False}
    assert await _count(world, "firm", "battery<12") == before - 1
    assert await _count(world, "pref", "battery<12") == _want(lambda i: i < 12, 2)


async def test_an_attribute_limited_grant_counts_for_its_attributes(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ueda grants ``battery`` only: a term on battery counts Ueda's gauges too, one on
    rain does not (the dataset is not readable for it), one on both neither."""
    for dataset, attrs in (("nagano-rain", None), ("ueda-rain", [VOCAB + "battery"])):
        body: dict[str, Any] = {"dataset": dataset, "actions": ["read"],
                                "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                                "valid_until": "2099-01-01T00:00:00Z"}
        if attrs:
            body["attributes"] = attrs
        await world.grant(body, "firm")
    await world.refresh()
    await _load(world)
    assert await _count(world, "firm", "battery<12") == _want(lambda i: i < 12, 2)
    # both datasets in one list, which an index scan answers alone (an OR of two lists
    # took a bitmap scan of the heap)
    flt = await _firm_filter(world, monkeypatch, "battery<60")
    access = [c for c in flt.key_conditions if "e.dataset" in c]
    assert len(access) == 1 and " OR " not in access[0], flt.key_conditions
    lists = [p for p in flt.params if isinstance(p, list) and "ueda-rain" in p]
    assert lists == [["nagano-rain", "nagano-rivers", "ueda-rain"]], flt.params
    assert await _count(world, "firm", "rain>=39") == _want(lambda i: i % 40 >= 39)
    assert await _count(world, "firm", "rain>=39;battery>=0") == _want(
        lambda i: i % 40 >= 39)


async def test_the_firm_reads_its_keys_not_each_candidates(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    await _load(world)
    # the firm's dataset holds gauges only: its candidates, read from the value index
    # with their dataset (migration 0104), are its matches, and the count reads them
    # alone, no key of any entity; the other city's rows are left in the index
    flt = await _firm_filter(world, monkeypatch, "battery>=0")
    assert flt.datasets is not None and all("v.dataset" in d for d in flt.drivers), flt
    ran = [n for n in await count_plan(world.http, flt) if n.get("Actual Loops")]
    assert "entities" not in {n.get("Relation Name") for n in ran}, ran
    read = [n for n in ran if n.get("Relation Name") == "entity_values"]
    assert read and all(n["Node Type"] == "Index Only Scan" for n in read), read
    assert sum(n["Actual Rows"] for n in read) == N + 3, read  # nagano's gauges
    assert sum(n.get("Rows Removed by Filter", 0) for n in read) >= N, read
    # a sensor of another type in the firm's dataset also holds ``battery``: the type
    # condition no longer holds for every candidate, so the keys are joined. Beyond
    # CANDIDATES (below it, looking each candidate up was about as fast: 2,000
    # candidates of 200,000 entities)
    sensor = {"id": "urn:ngsi-ld:Sensor:nagano-s1", "types": [VOCAB + "Sensor"],
              "scopes": None, "createdAt": "2026-12-06T00:00:00Z",
              "modifiedAt": "2026-12-06T00:00:00Z",
              "attrs": {VOCAB + "battery": [{"type": "Property", "value": 50}],
                        DATASET_IRI: [{"type": "Relationship",
                                       "object": DATASET_PREFIX + "nagano-rain"}]}}
    async with world.http.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [sensor], create_only=True, history=False)
    assert await _count(world, "firm", "battery>=0") == N + 3
    with monkeypatch.context() as m:
        m.setattr(store, "CANDIDATES", 100)
        assert await _keys_read(world, monkeypatch, "battery>=0") == {"entities_dataset"}
        # an inner join, so that PostgreSQL may hash the smaller side: here the firm's
        # 243 keys, with 487 members streamed past them (a semi join could hash only the
        # members: at 200,000 entities, 180,000 of them against 20,000 keys)
        flt = await _firm_filter(world, monkeypatch, "battery>=0")
        ran = [n for n in await count_plan(world.http, flt) if n.get("Actual Loops")]
        assert [n["Join Type"] for n in ran if "Join Type" in n] == ["Inner"], ran
        hashed = next(i for i, n in enumerate(ran) if n["Node Type"] == "Hash")
        assert ran[hashed + 1].get("Index Name") == "entities_dataset", ran
    # the base bound, not the one grown to 20 % of the tenant (``COUNT_SHARE``), which
    # a caller reading most datasets keeps: 20,000 lookups took 2-4 times the join's
    # time for the firm, the join of every key 2-3 times the lookups' for the prefecture
    sent: list[str] = []

    class Recording:
        async def fetchval(self, sql: str, *args: Any) -> int:
            sent.append(sql)
            return 0

    for who, grown in (("firm", False), ("pref", True)):
        flt = await _firm_filter(world, monkeypatch, "battery<25", who)
        assert (flt.access is None) == grown, who
        await store.count_entities(Recording(), '"ngsild"', flt)  # type: ignore[arg-type]
        assert ("reltuples" in sent[-1]) == grown, (who, sent)
    # a page of a sparse term walks its candidates along the primary key and stops at
    # the 20th visible one; it never probes the dataset index with every candidate
    found = await _firm_page_plan(world, monkeypatch, {"q": "battery>=100"})
    assert {n.get("Index Name") for n in found if n.get("Relation Name") == "entities"
            } == {"entities_pkey"}, found
    # which PostgreSQL chose at 200,000 entities, estimating the candidates' array at a
    # few elements, when pk was a key column of the dataset's index: it is carried only
    async with world.http.app[keys.POOL].acquire() as con:
        assert await con.fetchval(
            "SELECT i.indnkeyatts FROM pg_index i"
            " WHERE i.indexrelid = 'ngsild.entities_dataset'::regclass") == 1


async def _firm_filter(world: World, monkeypatch: pytest.MonkeyPatch, q: str,
                       who: str = "firm") -> store.Filter:
    """The filter the count for ``q`` of ``who`` is given."""
    seen: list[store.Filter] = []
    counting = store.count_entities

    async def recording(con: Any, schema: str, flt: store.Filter) -> int:
        seen.append(flt)
        return await counting(con, schema, flt)

    with monkeypatch.context() as m:
        m.setattr(store, "count_entities", recording)
        await _count(world, who, q)
    assert seen
    return seen[-1]


async def _keys_read(world: World, monkeypatch: pytest.MonkeyPatch, q: str) -> set[str]:
    """The indexes through which the firm's count for ``q`` reads ``entities`` (None for
    a scan of the heap)."""
    found = [n for n in await count_plan(world.http, await _firm_filter(world, monkeypatch, q))
             if n.get("Actual Rows") or n.get("Rows Removed by Filter")]
    return {n.get("Index Name") for n in found if n.get("Relation Name") == "entities"}


async def test_the_firms_ordered_walk_reads_its_own_rows(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """``orderBy`` without ``q`` walks the value index in order (``store._walk_sql``):
    the firm's walk reads only its datasets' rows, so it looks up its own gauges, not
    Ueda's that lie between them, and its pages are the ones Python sorts."""
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    await _load(world)
    for order, offset, want in (("battery", 0, range(20)), ("battery", 40, range(40, 60)),
                                ("battery;desc", 0, range(N - 1, N - 21, -1))):
        r = await world.http.get(E, params={"type": "Gauge", "orderBy": order, "limit": "20",
                                            "offset": str(offset)}, headers=world.auth("firm"))
        assert r.status == 200, await r.text()
        assert [e["id"] for e in await r.json()] == [
            f"urn:ngsi-ld:Gauge:nagano-x{i}" for i in want], (order, offset)
    found = await _firm_page_plan(world, monkeypatch, {"orderBy": "battery"})
    looked = sum(n["Actual Loops"] for n in found if n.get("Relation Name") == "entities")
    # Ueda's gauges hold the same batteries, one beside each of Nagano's: read along
    # the index they would be looked up too (~40)
    assert 20 <= looked <= 22, found


async def _firm_page_plan(world: World, monkeypatch: pytest.MonkeyPatch,
                          params: dict[str, str], rows: int = 20) -> list[dict[str, Any]]:
    """The executed nodes of the statement for a page of the firm's gauges (``rows``
    of them)."""
    seen: list[store.Filter] = []
    paging = store.fetch_entities

    async def recording(con: Any, schema: str, flt: store.Filter, limit: int,
                        offset: int) -> list[dict[str, Any]]:
        seen.append(flt)
        return await paging(con, schema, flt, limit, offset)

    with monkeypatch.context() as m:
        m.setattr(store, "fetch_entities", recording)
        r = await world.http.get(E, params={"type": "Gauge", **params},
                                 headers=world.auth("firm"))
    assert r.status == 200 and len(await r.json()) == rows, await r.text()
    return [n for n in await page_plan(world.http, seen[-1]) if n.get("Actual Loops")]


async def test_the_firms_candidates_are_its_own_within_a_read_of_index_rows(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The firm's drivers keep its rows only (``Filter.bind_datasets``); its candidate
    branch runs when the driver's read of index rows, Ueda's included, stopped within
    ``OWN_READ`` times the bound and its own rows are within the bound
    (``store._driven_own``). Ueda's gauges hold the same batteries as Nagano's, so
    ``battery<k`` reads 2k rows, k of them the firm's. With the bound at 10: k = 8 picks
    the candidates; k = 15 (its own over the bound) and k = 30 (60 rows read, over 40)
    walk. With a second term (every gauge's ``rain``), the intersection is picked where
    one read stopped short, as without a bound on datasets: k = 8 and 15. Pages and
    counts match Python's either way."""
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    await _load(world)
    monkeypatch.setattr(store, "CANDIDATES", 10)
    for k, one, two in ((8, True, True), (15, False, True), (30, False, False)):
        for q, picked in ((f"battery<{k}", one), (f"battery<{k};rain>=0", two)):
            r = await world.http.get(E, params={"type": "Gauge", "q": q, "count": "true",
                                                "limit": "20"}, headers=world.auth("firm"))
            assert r.status == 200, await r.text()
            assert [e["id"] for e in await r.json()] == [
                f"urn:ngsi-ld:Gauge:nagano-x{i}" for i in range(min(k, 20))], q
            assert r.headers["NGSILD-Results-Count"] == str(k), q
            found = await _firm_page_plan(world, monkeypatch, {"q": q}, rows=min(k, 20))
            scans = [n for n in found if "pk = ANY" in n.get("Index Cond", "")]
            assert sum(n.get("Actual Rows", 0) for n in scans) == (
                min(k, 20) if picked else 0), (q, found)
            # the firm's candidates only: no Ueda gauge is looked up to be dropped
            assert sum(n.get("Rows Removed by Filter", 0) for n in scans) == 0, (q, found)
    # 100 of Ueda's gauges and 5 of Nagano's run flat (battery -1): ``battery<0`` is 5 of
    # the firm's, few enough, but its driver reads 105 rows, over 40: the walk
    flat = [{"id": f"urn:ngsi-ld:Gauge:{city}-flat{i}", "types": [GAUGE], "scopes": None,
             "createdAt": "2026-12-06T00:00:00Z", "modifiedAt": "2026-12-06T00:00:00Z",
             "attrs": {VOCAB + "battery": [{"type": "Property", "value": -1}],
                       DATASET_IRI: [{"type": "Relationship",
                                      "object": f"{DATASET_PREFIX}{city}-rain"}]}}
            for city, n in (("ueda", 100), ("nagano", 5)) for i in range(n)]
    async with world.http.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", flat, create_only=True, history=False)
    found = await _firm_page_plan(world, monkeypatch, {"q": "battery<0"}, rows=5)
    assert not [n for n in found if "pk = ANY" in n.get("Index Cond", "")
                and n.get("Actual Rows")], found
