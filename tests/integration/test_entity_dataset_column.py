"""The ``dataset`` column (tenant migration 0090) is access control's view of an entity's
dataset in SQL (``catalogue.dataset_in``): it must name the same dataset as
``catalogue.entity_dataset`` reads from the loaded entity, for every shape a
``refDataset`` stamp can take, or a query would filter on one rule and a retrieve decide
on another. Also: the primary key covers (types, dataset), so an exact count of a dense
match reads no entity row (docs/architecture.md "Query plans")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.service.catalogue import DATASET_IRI, dataset_in, entity_dataset
from hub.store import entities as store

NOW = "2026-12-06T00:00:00Z"
STAMPS: list[Any] = [
    "urn:ngsi-ld:Dataset:ueda-rain",
    "urn:ngsi-ld:Dataset:",  # an empty id: the empty string, as in Python
    "urn:ngsi-ld:Datasetueda",  # no separator: not a dataset name
    "urn:ngsi-ld:Organisation:ueda",
    42,
    None,
    ["urn:ngsi-ld:Dataset:x"],
    {"id": "urn:ngsi-ld:Dataset:x"},
]


def _entity(i: int, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:T:ds{i}", "types": ["https://example.org/T"], "scopes": None,
            "attrs": attrs, "createdAt": NOW, "modifiedAt": NOW}


def _shapes() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}]  # no stamp at all
    for obj in STAMPS:
        out.append({DATASET_IRI: [{"type": "Relationship", "object": obj}]})
    out.append({DATASET_IRI: [{"type": "Relationship", "value": "urn:ngsi-ld:Dataset:v"}]})
    out.append({DATASET_IRI: []})
    # several instances: the first decides, as in Python
    out.append({DATASET_IRI: [{"type": "Relationship", "object": "urn:ngsi-ld:Dataset:a",
                               "datasetId": "urn:x:1"},
                              {"type": "Relationship", "object": "urn:ngsi-ld:Dataset:b"}]})
    return out


@pytest.mark.parametrize("catch_all", [None, "catch"])
async def test_the_column_names_the_dataset_python_reads(client: TestClient,
                                                         catch_all: str | None) -> None:
    shapes = _shapes()
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i, a) for i, a in enumerate(shapes)],
                                   create_only=False, history=False)
        rows = await con.fetch("SELECT e.dataset AS ds, e.attrs"
                               " FROM ngsild.entities e WHERE e.id LIKE 'urn:ngsi-ld:T:ds%'"
                               " ORDER BY e.id")
    assert len(rows) == len(shapes)
    for r in rows:
        # a NULL column is the catch-all's (``dataset_in``)
        ds = catch_all if r["ds"] is None else r["ds"]
        assert ds == entity_dataset({"attrs": r["attrs"]}, catch_all), r["attrs"]
    assert {r["ds"] for r in rows} >= {"ueda-rain", "a", ""}


async def test_a_replace_that_changes_the_stamp_moves_the_entity(client: TestClient) -> None:
    a = {DATASET_IRI: [{"type": "Relationship", "object": "urn:ngsi-ld:Dataset:a"}]}
    b = {DATASET_IRI: [{"type": "Relationship", "object": "urn:ngsi-ld:Dataset:b"}]}
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(0, a)], create_only=False,
                                   history=False)
        await store.write_entities(con, "ngsild", [_entity(0, b)], create_only=False,
                                   history=False)
        assert await con.fetchval("SELECT dataset FROM ngsild.entities"
                                  " WHERE id = 'urn:ngsi-ld:T:ds0'") == "b"


async def test_a_dense_count_reads_the_key_index_not_the_rows(client: TestClient) -> None:
    """With the visibility map set (autovacuum's work; VACUUM here), counting the
    entities of a type under an access condition on the dataset is an index-only scan of
    the primary key or of the dataset's (migration 0102): no entity row is read."""
    stamp = {DATASET_IRI: [{"type": "Relationship", "object": "urn:ngsi-ld:Dataset:a"}]}
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i, stamp) for i in range(300)],
                                   create_only=False, history=False)
        await con.execute("VACUUM ANALYZE ngsild.entities")
        await con.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        try:
            plan = "\n".join(r[0] for r in await con.fetch(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM ngsild.entities e"
                " WHERE e.types && $1::text[] AND "
                + dataset_in("e.dataset", "catch", ["a", "catch"]).format("$2"),
                ["https://example.org/T"], ["a", "catch"]))
        finally:
            await con.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    assert ("Index Only Scan using entities_pkey" in plan
            or "Index Only Scan using entities_dataset" in plan), plan
    assert "Heap Fetches: 0" in plan, plan


@pytest.mark.parametrize("catch_all", [None, "catch"])
@pytest.mark.parametrize("ids", [["ueda-rain"], ["catch"], ["catch", "a"], [""], []])
async def test_membership_is_the_datasets_python_reads(
        client: TestClient, catch_all: str | None, ids: list[str]) -> None:
    """``dataset_in`` (what access conditions are written with) selects exactly the
    entities whose dataset, as Python reads it, is one of ``ids``: a stamp-less entity is
    the catch-all's when ``ids`` holds it, and nobody's otherwise."""
    shapes = _shapes()
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i, a) for i, a in enumerate(shapes)],
                                   create_only=False, history=False)
        sql = dataset_in("e.dataset", catch_all, ids).format("$1")
        rows = await con.fetch(f"SELECT e.attrs FROM ngsild.entities e WHERE {sql}", ids)
        everything = await con.fetch("SELECT e.attrs FROM ngsild.entities e")
    expected = [r["attrs"] for r in everything
                if entity_dataset({"attrs": r["attrs"]}, catch_all) in ids]
    assert sorted(map(json.dumps, (r["attrs"] for r in rows))) == sorted(
        map(json.dumps, expected))


async def test_the_planner_knows_how_much_a_caller_sees(client: TestClient) -> None:
    """Ten datasets of 300 entities and the catch-all's 300 stamp-less ones: the condition
    a caller of one dataset, or of the catch-all, reads through is estimated near its 300
    rows (from the column's statistics). A page's plan depends on it: written on
    ``coalesce(dataset, catch_all)`` it had no statistics (0.5 % estimated, and 50 % once
    held at even odds), and a firm's dense pages merged every entity's value rows into
    the walk instead of probing the visible ones (~30 % more buffers)."""
    ents = [_entity(i, {DATASET_IRI: [{"type": "Relationship",
                                       "object": f"urn:ngsi-ld:Dataset:d{i % 10}"}]})
            for i in range(3000)]
    ents += [_entity(3000 + i, {}) for i in range(300)]
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", ents, create_only=False, history=False)
        await con.execute("ANALYZE ngsild.entities")
        for ids in (["d3"], ["catch"]):
            sql = dataset_in("e.dataset", "catch", ids).format("$1")
            plan = await con.fetchval(
                f"EXPLAIN (FORMAT JSON) SELECT e.pk FROM ngsild.entities e WHERE {sql}", ids)
            rows = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
            assert 150 <= rows <= 600, (ids, rows)
