"""``count=true`` from the value index alone, proved exact by ``entity_shapes`` (issue #13).

``entity_shapes`` holds a superset of the (types, dataset, attribute) combinations stored;
the one write statement adds them. A count whose filter is only type and access
conditions plus ``q`` terms answered by their index rows counts those rows without
looking each match's key up, when every ``entity_shapes`` row of a driver's attribute
passes the type and access conditions (``store.entities._shaped_count``). What could go
wrong, and is tested here:

- a write path that stores a combination without its row, so the proof holds for an
  entity it never saw (every write the API offers, then the table against the entities);
- an attribute another type holds too, a combination left behind by a delete or a
  re-typing, several drivers, a disjunction (each item's attribute proved), an attribute
  with several rows per entity (counted once), a string driver: each count against
  Python's and against the count without the proof;
- the plan: the proved count reads no entity, the unproved one still does;
- access: a firm's count never includes what it may not read (another city's dataset,
  an unowned entity whose NULL dataset neither passes nor fails its condition);
- what a process remembers of the table to leave ``ins_s`` out: nothing from a
  rolled-back write, an entity a create left alone, or a table made again.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.jsonld.process import core_active_context
from hub.service.selection import build_filter, selection_from_query
from hub.store import entities as store
from tests.conftest import CATCH_ALL, TEST_PREFECTURE
from tests.integration.authz_world import GAUGE, World, world
from tests.integration.helpers import JSON
from tests.integration.order_oracle import count_plan, create_analyzed
from tests.integration.registry_helpers import REG, dataset

E = "/ngsi-ld/v1/entities"
OPS = "/ngsi-ld/v1/entityOperations"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"

__all__ = ["world"]

#: every stored (types, dataset, attribute) without its ``entity_shapes`` row
MISSING = """
SELECT e.id, k.attr FROM ngsild.entities e CROSS JOIN LATERAL jsonb_object_keys(e.attrs) k(attr)
WHERE NOT EXISTS (SELECT FROM ngsild.entity_shapes s WHERE s.attr = k.attr
                  AND s.types = e.types AND s.dataset IS NOT DISTINCT FROM e.dataset)"""


def _prop(v: Any) -> dict[str, Any]:
    return {"type": "Property", "value": v}


async def _ok(resp: Any) -> None:
    assert resp.status in (200, 201, 204, 207), await resp.text()


async def test_every_write_path_records_what_it_stores(client: TestClient) -> None:
    """Each write adds a combination no earlier one did (a new attribute, a new type, a
    dataset stamp), and afterwards every stored combination has its row."""
    # datasets instead of the catch-all (whose entities carry no stamp)
    assert (await client.delete(f"{REG}/datasets/{CATCH_ALL}")).status == 204
    for ds in (dataset("d0", TEST_PREFECTURE, ["T", "V", "W", "Y"], ["urn:ngsi-ld:T:"]),
               dataset("d1", TEST_PREFECTURE, ["T"], ["urn:ngsi-ld:Z:"])):
        await _ok(await client.post(f"{REG}/datasets", headers=JSON, json=ds))
    u = "urn:ngsi-ld:T:1"
    await _ok(await client.post(E, json={"id": u, "type": "T", "a": _prop(1)}, headers=JSON))
    await _ok(await client.post(OPS + "/create", json=[
        {"id": "urn:ngsi-ld:T:2", "type": "T", "b": _prop(2)}], headers=JSON))
    await _ok(await client.post(OPS + "/upsert", json=[
        {"id": "urn:ngsi-ld:T:2", "type": ["T", "V"], "c": _prop(3)}], headers=JSON))
    await _ok(await client.post(OPS + "/upsert?options=update", json=[
        {"id": "urn:ngsi-ld:T:2", "type": "T", "d": _prop(4)}], headers=JSON))
    await _ok(await client.post(OPS + "/update", json=[
        {"id": u, "type": "T", "e": _prop(5)}], headers=JSON))
    await _ok(await client.post(f"{E}/{u}/attrs", json={"f": _prop(6)}, headers=JSON))
    await _ok(await client.patch(f"{E}/{u}/attrs", json={"a": _prop(7)}, headers=JSON))
    await _ok(await client.put(f"{E}/{u}/attrs/a", json={"type": "Relationship",
                                                         "object": "urn:ngsi-ld:X:1"},
                               headers=JSON))
    await _ok(await client.patch(f"{E}/{u}", json={"g": _prop(8)}, headers=JSON))
    await _ok(await client.put(f"{E}/{u}", json={"type": "W", "h": _prop(9)}, headers=JSON))
    await _ok(await client.post(f"{E}/{u}/attrs", json={"i": _prop(10)}, headers=JSON))
    await _ok(await client.post(OPS + "/upsert", json=[
        {"id": "urn:ngsi-ld:Z:1", "type": "T", "a": _prop(11)}], headers=JSON))
    await _ok(await client.delete(f"{E}/{u}/attrs/h"))
    # another type, no new attribute: a row of its own too
    await _ok(await client.put(f"{E}/{u}", json={"type": "Y", "i": _prop(12)}, headers=JSON))
    async with client.app[keys.POOL].acquire() as con:
        assert await con.fetch(MISSING) == []
        rows = {(tuple(r["types"]), r["dataset"], r["attr"][len(VOCAB):]) for r in
                await con.fetch("SELECT types, dataset, attr FROM ngsild.entity_shapes")}
    t, w, tv = (VOCAB + "T",), (VOCAB + "W",), (VOCAB + "T", VOCAB + "V")
    # what each write added, and what stays behind (never removed)
    assert {(t, "d0", "a"), (t, "d0", "b"), (tv, "d0", "c"), (tv, "d0", "d"),
            (t, "d0", "e"), (t, "d0", "f"), (t, "d0", "g"), (w, "d0", "h"),
            (w, "d0", "i"), ((VOCAB + "Y",), "d0", "i"), (t, "d1", "a")} <= rows, rows
    # a write of an entity read for it, with another stamp and no new attribute (the API
    # refuses to move an entity between datasets; the store does what it is told)
    async with client.app[keys.POOL].acquire() as con:
        ent = await store.fetch_entity(con, '"ngsild"', u, versioned=True)
        assert ent is not None
        ent["attrs"][VOCAB + "refDataset"][0]["object"] = "urn:ngsi-ld:Dataset:d9"
        assert await store.write_entities(con, '"ngsild"', [ent], create_only=False,
                                          versioned=True, history=False) == {u: False}
        assert await con.fetch(MISSING) == []
        assert await con.fetchval("SELECT count(*) FROM ngsild.entity_shapes"
                                  " WHERE dataset = 'd9'") == len(ent["attrs"])


def _entities() -> list[dict[str, Any]]:
    """T: ``n`` (T's alone), ``s`` (shared with U), ``m`` (arrays: several rows an
    entity), ``k`` (a string); U: ``s``; ``gone`` and ``n2`` on T's deleted later;
    ``p``, a number and a string an entity."""
    ents = [{"id": f"urn:ngsi-ld:T:{i:04d}", "type": "T", "n": _prop(i % 100),
             "s": _prop(i % 50), "m": _prop([i % 7, i % 7 + 1, i % 7 + 2]),
             "k": _prop(f"K{i % 40:03d}")} for i in range(400)]
    ents += [{"id": f"urn:ngsi-ld:U:{i:04d}", "type": "U", "s": _prop(i % 50),
              "n2": _prop(i)} for i in range(100)]
    ents += [{"id": f"urn:ngsi-ld:T:gone{i}", "type": "T", "gone": _prop(i),
              "n2": _prop(i)} for i in range(5)]
    # a number and a string, one each (no marker): a list of both finds two rows
    ents += [{"id": f"urn:ngsi-ld:T:p{i}", "type": "T", "p": [
        _prop(i), {**_prop(str(i)), "datasetId": "urn:ngsi-ld:d:2"}]} for i in range(10)]
    return ents


#: q, the T entities (of 0..399) it matches
COUNTS: list[tuple[str, Any]] = [
    ("n>=90", lambda i: i % 100 >= 90),
    ("n==7", lambda i: i % 100 == 7),
    ("s>=45", lambda i: i % 50 >= 45),  # U holds s too: U's 10 % never counted
    ("m==3", lambda i: 1 <= i % 7 <= 3),  # three rows an entity, counted once
    ("m>=8", lambda i: i % 7 == 6),
    ("m>=5", lambda i: i % 7 >= 3),  # up to three rows an entity in the range
    ("k>=\"K035\"", lambda i: i % 40 >= 35),
    ("k==\"K001\"", lambda i: i % 40 == 1),
    ("n>=50;m>=7", lambda i: i % 100 >= 50 and i % 7 >= 5),
    ("n>=50;s<10", lambda i: i % 100 >= 50 and i % 50 < 10),
    ("n2>=0", lambda i: False),  # only U's and deleted T's entities have n2
    # disjunctions: every item's attribute must be proved (s is U's too)
    ("n>=90|k==\"K001\"", lambda i: i % 100 >= 90 or i % 40 == 1),  # k: not exact
    ("n>=90|m==3", lambda i: i % 100 >= 90 or 1 <= i % 7 <= 3),
    ("n>=95|s>=49", lambda i: i % 100 >= 95 or i % 50 >= 49),
    ("n>=98|m>=8", lambda i: i % 100 >= 98 or i % 7 == 6),
]


async def _count(client: TestClient, q: str, t: str = "T") -> int:
    r = await client.get(E, params={"type": t, "q": q, "count": "true", "limit": "0"})
    assert r.status == 200, await r.text()
    return int(r.headers["NGSILD-Results-Count"])


def _filter(q: str, t: str = "T") -> store.Filter:
    ctx = core_active_context()
    return build_filter(selection_from_query({"type": t, "q": q}, ctx, attrs=None), ctx,
                        '"ngsild"')


async def _count_plan(client: TestClient, q: str) -> list[dict[str, Any]]:
    """The executed nodes of the count statement for ``type=T&q=<q>``."""
    return [n for n in await count_plan(client, _filter(q)) if n.get("Actual Loops")]


async def test_counts_agree_with_python_proved_or_not(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_analyzed(client, _entities())
    for i in range(5):  # their (T, gone) and (T, n2) rows stay behind
        await _ok(await client.delete(f"{E}/urn:ngsi-ld:T:gone{i}"))
    for q, match in COUNTS:
        want = sum(1 for i in range(400) if match(i))
        assert await _count(client, q) == want, q
        with monkeypatch.context() as m:
            m.setattr(store, "_shaped_count", lambda flt, schema: None)
            assert await _count(client, q) == want, (q, "without the proof")
    assert await _count(client, "n2>=0", "U") == 100
    assert await _count(client, "s>=45", "T,U") == 40 + 10
    assert await _count(client, 'p==3,"3",4') == 2
    # a driver reading numbers and strings at once (q's lists are not exact, so none is
    # proved today): an entity with one of each is counted once
    rows = 'SELECT v.eid FROM "ngsild".entity_values v WHERE v.attr = $2 AND' \
        ' (v.num = ANY($3::float8[]) OR v.txt = ANY($4::text[]))'
    probe = f"EXISTS ({rows} AND v.eid = e.pk)"
    both = store.Filter(conditions=["e.types && $1::text[]", probe],
                        params=[[VOCAB + "T"], VOCAB + "p", [3.0], ["3"]], drivers=[rows],
                        probes={rows: probe}, driver_attrs={rows: VOCAB + "p"},
                        key_conditions=["e.types && $1::text[]"], schema='"ngsild"')
    async with client.app[keys.POOL].acquire() as con:
        assert await store.count_entities(con, '"ngsild"', both) == 1
    # ids are no key condition: the count looks them up
    r = await client.get(E, params={"id": "urn:ngsi-ld:T:0001,urn:ngsi-ld:T:0090",
                                    "q": "n>=90", "count": "true", "limit": "0"})
    assert r.status == 200 and r.headers["NGSILD-Results-Count"] == "1", await r.text()


async def test_a_proved_count_reads_no_entity(client: TestClient) -> None:
    """n is T's alone: the count reads n's index rows (and the shapes table), never the
    entities; s is U's too, and m has several rows an entity: those still join or count
    distinct, and give the same numbers as Python (above)."""
    await create_analyzed(client, _entities())
    found = await _count_plan(client, "n>=90")
    assert not [n for n in found if n.get("Relation Name") == "entities"], found
    values = [n for n in found if n.get("Relation Name") == "entity_values"
              and n.get("Index Name") == "entity_values_num_eid"]
    assert sum(n["Actual Rows"] for n in values) == 40, found
    assert not [n for n in found if n["Node Type"] in ("Hash", "Sort")], found
    shared = await _count_plan(client, "s>=45")
    assert [n for n in shared if n.get("Relation Name") == "entities"], shared
    several = await _count_plan(client, "m>=8")
    assert not [n for n in several if n.get("Relation Name") == "entities"], several
    either = await _count_plan(client, "n>=90|m==3")
    assert not [n for n in either if n.get("Relation Name") == "entities"], either
    either_shared = await _count_plan(client, "n>=95|s>=49")
    assert [n for n in either_shared if n.get("Relation Name") == "entities"], either_shared


async def test_a_retyped_entity_leaves_its_old_combination_behind(client: TestClient) -> None:
    """Replacing an entity with another type keeps the old row (a superset is never
    shrunk): the count for the old type is still right, and for the new one too."""
    await create_analyzed(client, [{"id": f"urn:ngsi-ld:T:{i}", "type": "T",
                                    "n": _prop(i)} for i in range(30)])
    assert not [n for n in await _count_plan(client, "n>=0")
                if n.get("Relation Name") == "entities"]
    await _ok(await client.put(f"{E}/urn:ngsi-ld:T:3", json={"type": "U", "n": _prop(3)},
                               headers=JSON))
    assert await _count(client, "n>=0") == 29
    assert await _count(client, "n>=0", "U") == 1
    # the proof now fails for T (a U row holds n): the entities are read
    assert [n for n in await _count_plan(client, "n>=0")
            if n.get("Relation Name") == "entities"]


async def test_a_firm_counts_only_what_it_may_read(world: World) -> None:
    """Enforced: the access condition is part of the proof. ``snow`` first only in
    Nagano's gauges (the firm's grant): the proof holds and the count is the firm's;
    then one of Ueda's gauges gains it (a dataset the firm may not read): the proof
    fails and the count stays the firm's, while the prefecture counts both."""
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "firm")
    await world.refresh()
    for n in range(3):
        resp = await world.http.post(f"{E}/urn:ngsi-ld:Gauge:nagano-{n}/attrs",
                                     json={"snow": _prop(10 * n)},
                                     headers=world.auth("nagano", **JSON))
        assert resp.status == 204, await resp.text()

    async def count(who: str) -> int:
        r = await world.http.get(E, params={"type": "Gauge", "q": "snow>=0", "count": "true",
                                            "limit": "0"}, headers=world.auth(who))
        assert r.status == 200, await r.text()
        return int(r.headers["NGSILD-Results-Count"])

    assert (await count("firm"), await count("pref")) == (3, 3)
    # an unowned gauge (no dataset stamp: written before the registry, say) holding snow:
    # its dataset is NULL, which the firm's condition neither passes nor fails
    legacy = {"id": "urn:ngsi-ld:Gauge:legacy-1", "types": [GAUGE], "scopes": None,
              "attrs": {VOCAB + "snow": [_prop(1)]}, "createdAt": "2026-12-06T00:00:00Z",
              "modifiedAt": "2026-12-06T00:00:00Z"}
    async with world.http.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [legacy], create_only=True, history=False)
    assert await count("firm") == 3
    resp = await world.http.post(f"{E}/urn:ngsi-ld:Gauge:ueda-1/attrs",
                                 json={"snow": _prop(5)}, headers=world.auth("ueda", **JSON))
    assert resp.status == 204, await resp.text()
    assert (await count("firm"), await count("pref")) == (3, 4)
    assert await count("ueda") == 1  # its own gauge: Nagano's are not Ueda's to read


def _stored(i: int, attr: str, t: str = "T") -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:{t}:k{i}", "types": [VOCAB + t], "scopes": None,
            "attrs": {VOCAB + attr: [_prop(i)]}, "createdAt": "2026-12-06T00:00:00Z",
            "modifiedAt": "2026-12-06T00:00:00Z"}


async def test_what_a_process_remembers_it_checks(client: TestClient) -> None:
    """A write whose combinations this process saw committed leaves ``ins_s`` out: but
    not after a rolled-back write (nothing committed), not for an entity a create left
    alone (its combination was never recorded), and not once the table is another one
    (dropped and made again under the running hub)."""
    await _ok(await client.post(E, json={"id": "urn:ngsi-ld:T:0", "type": "T",
                                         "a": _prop(1)}, headers=JSON))
    async with client.app[keys.POOL].acquire() as con:
        with pytest.raises(RuntimeError):
            async with con.transaction():  # rolled back: x's row with it
                await store.write_entities(con, '"ngsild"', [_stored(1, "x")],
                                           create_only=True)
                raise RuntimeError("roll back")
    async with client.app[keys.POOL].acquire() as con:
        await store.write_entities(con, '"ngsild"', [_stored(2, "x")], create_only=True)
        assert await con.fetch(MISSING) == []
        # a create of an existing id writes nothing and records nothing (beside one that
        # is written): y stays unknown
        assert await store.write_entities(con, '"ngsild"', [_stored(2, "y"), _stored(5, "w")],
                                          create_only=True) == {"urn:ngsi-ld:T:k5": True}
        assert await con.fetchval("SELECT count(*) FROM ngsild.entity_shapes"
                                  " WHERE attr = $1", VOCAB + "y") == 0
        await store.write_entities(con, '"ngsild"', [_stored(3, "y")], create_only=True)
        assert await con.fetch(MISSING) == []
        # the table made again, empty: the known combinations are not in it
        await con.execute("DROP TABLE ngsild.entity_shapes")
        await con.execute("CREATE TABLE ngsild.entity_shapes (types text[] NOT NULL,"
                          " dataset text, attr text NOT NULL)")
        await con.execute("CREATE UNIQUE INDEX ON ngsild.entity_shapes (attr, dataset, types)"
                          " NULLS NOT DISTINCT")
        await store.write_entities(con, '"ngsild"', [_stored(4, "y")], create_only=True)
        assert await con.fetchval("SELECT count(*) FROM ngsild.entity_shapes") == 1
