"""Every value row and geo row carries its entity's dataset (tenant migrations 0104,
0106).

A firm's candidate sets read only the value rows of its datasets, and where
``entity_shapes`` proves the rest of the filter a count trusts those rows without looking
at any entity (``store.entities.Filter.bind_datasets``). A value row left with a dataset
its entity no longer has would therefore count, for a firm granted the old dataset, an
entity it may no longer read. What could leave one behind, tested here: a replace that
changes only the ``refDataset`` stamp (its other rows keep their values), the same as a
versioned write (which keeps unchanged rows, ``_STALE_CHANGED``), a stamp removed, and
the migration's backfill of rows written before the column existed. The geo rows are
rebuilt only when the geo half of the fingerprint changes: it covers the dataset."""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from hub import keys
from hub.db.migrations import quote_ident
from hub.service.catalogue import DATASET_IRI, DATASET_PREFIX, datasets_bound, text_array
from hub.store import entities as store

NOW = "2026-12-06T00:00:00Z"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"


def _entity(i: int, dataset: str | None, level: float = 1.0) -> dict[str, Any]:
    attrs: dict[str, Any] = {VOCAB + "level": [{"type": "Property", "value": level}],
                             VOCAB + "name": [{"type": "Property", "value": f"n{i}"}],
                             VOCAB + "tags": [{"type": "Property", "value": [1, "a"]}],
                             LOCATION: [{"type": "GeoProperty", "value": {
                                 "type": "Point", "coordinates": [138 + i / 100, 36.5]}}]}
    if dataset is not None:
        attrs[DATASET_IRI] = [{"type": "Relationship", "object": DATASET_PREFIX + dataset}]
    return {"id": f"urn:ngsi-ld:T:v{i}", "types": [VOCAB + "T"], "scopes": None,
            "attrs": attrs, "createdAt": NOW, "modifiedAt": NOW}


async def _astray(con: asyncpg.Connection) -> list[tuple[str, str, str | None, str | None]]:
    """The value and geo rows whose dataset is not their entity's (and entities without
    such rows)."""
    out = []
    for table in ("entity_values", "entity_geo"):
        rows = await con.fetch(
            f"SELECT e.id, e.dataset AS entity, v.dataset AS row FROM ngsild.entities e"
            f" LEFT JOIN ngsild.{table} v ON v.eid = e.pk"
            f" WHERE v.eid IS NULL OR v.dataset IS DISTINCT FROM e.dataset ORDER BY 1")
        out += [(table, r["id"], r["entity"], r["row"]) for r in rows]
    return out


async def _rows(con: asyncpg.Connection, i: int, table: str = "entity_values"
                ) -> dict[str | None, int]:
    found = await con.fetch(
        f"SELECT v.dataset, count(*) AS n FROM ngsild.{table} v"
        " JOIN ngsild.entities e ON e.pk = v.eid WHERE e.id = $1 GROUP BY 1",
        f"urn:ngsi-ld:T:v{i}")
    return {r["dataset"]: r["n"] for r in found}


async def test_the_rows_follow_the_stamp(client: TestClient) -> None:
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i, "a") for i in range(4)],
                                   create_only=True, history=False)
        assert await _astray(con) == []
        # level, name, tags (two numbers, one string, a marker) and the stamp's string
        rows = sum((await _rows(con, 0)).values())
        assert await _rows(con, 0) == {"a": rows} and rows >= 5
        assert await _rows(con, 0, "entity_geo") == {"a": 1}
        # a replace (a batch upsert) changing only the stamp: every row moves
        await store.write_entities(con, "ngsild", [_entity(0, "b")], create_only=False,
                                   history=False)
        assert await _rows(con, 0) == {"b": rows}
        assert await _rows(con, 0, "entity_geo") == {"b": 1}
        # a versioned write (PATCH's) changing only the stamp, then only one value
        for i, dataset, level in ((1, "b", 1.0), (2, "a", 7.0), (3, None, 1.0)):
            ent = await store.fetch_entity(con, "ngsild", f"urn:ngsi-ld:T:v{i}",
                                           versioned=True)
            assert ent is not None
            moved = _entity(i, dataset, level)
            moved[store.VERSION] = ent[store.VERSION]
            assert await store.write_entities(con, "ngsild", [moved], create_only=False,
                                              history=False, versioned=True) == {
                moved["id"]: False}
        assert await _rows(con, 1) == {"b": rows}
        assert await _rows(con, 2) == {"a": rows}
        assert await _rows(con, 3) == {None: rows - 1}  # the stamp's own row is gone
        for i, dataset in ((1, "b"), (2, "a"), (3, None)):
            assert await _rows(con, i, "entity_geo") == {dataset: 1}
        # two stamps, the first deciding, swapped: the same index rows (and fingerprint),
        # another dataset
        first, second = ({"type": "Relationship", "object": DATASET_PREFIX + d,
                          "datasetId": f"urn:x:{d}"} for d in ("a", "c"))
        for order, want in (([first, second], "a"), ([second, first], "c")):
            ent = _entity(4, None)
            ent["attrs"][DATASET_IRI] = order
            await store.write_entities(con, "ngsild", [ent], create_only=False,
                                       history=False)
            assert set(await _rows(con, 4)) == {want}
            assert await _rows(con, 4, "entity_geo") == {want: 1}
        assert await _astray(con) == []


async def test_the_migration_fills_rows_written_before_it(client: TestClient) -> None:
    async with client.server.app[keys.POOL].acquire() as con:
        await store.write_entities(con, "ngsild", [_entity(i, "a" if i % 2 else None)
                                                   for i in range(6)],
                                   create_only=True, history=False)
        await con.execute("UPDATE ngsild.entity_values SET dataset = NULL")
        polygon = _entity(9, "a")
        polygon["attrs"][LOCATION] = [{"type": "GeoProperty", "value": {
            "type": "Polygon", "coordinates": [[[138, 36], [138.1, 36], [138, 36.1], [138, 36]]]}}]
        await store.write_entities(con, "ngsild", [polygon], create_only=True, history=False)
        points = await con.fetch("SELECT eid, attr, point FROM ngsild.entity_geo ORDER BY 1, 2")
        assert sum(r["point"] for r in points) == 6 and len(points) == 7, points
        await con.execute("UPDATE ngsild.entity_geo SET dataset = NULL, point = false")
        assert {a[0] for a in await _astray(con)} == {"entity_values", "entity_geo"}
        for name in ("0104_value_rows_dataset.sql", "0106_geo_rows_dataset.sql"):
            sql = (resources.files("hub.db") / "migrations" / "tenant" / name
                   ).read_text("utf-8")
            await con.execute(sql.replace("{schema}", quote_ident("ngsild")))
        assert await _astray(con) == []
        # the backfill marks the Points as the write statement does
        assert await con.fetch(
            "SELECT eid, attr, point FROM ngsild.entity_geo ORDER BY 1, 2") == points
        covered = await con.fetch(
            "SELECT c.relname, i.indnatts - i.indnkeyatts AS included FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname LIKE 'entity_values_%' OR c.relname LIKE 'entity_geo_%'"
            " ORDER BY 1")
        assert {r["relname"]: r["included"] for r in covered} == {
            "entity_values_eid": 0, "entity_values_marker": 1, "entity_values_num_eid": 1,
            "entity_values_txt_eid": 1, "entity_geo_attr": 0, "entity_geo_eid": 0,
            "entity_geo_bbox_attr_eid": 4, "entity_geo_sample": 1}


async def test_the_bound_literal_is_the_datasets_it_names(client: TestClient) -> None:
    """The firm's bound goes into SQL as a literal (``catalogue.text_array``): whatever a
    municipality names its dataset, PostgreSQL reads back exactly those ids."""
    ids = ["m3-traffic", "o'brien", "a\\'b", "長野-雨量", "x]::text[]; DROP TABLE t; --", ""]
    async with client.server.app[keys.POOL].acquire() as con:
        assert await con.fetchval(f"SELECT {text_array(ids)}") == ids
        assert await con.fetchval(f"SELECT {text_array([])}") == []
        # the bound names its column apart from the ids: an id that spells a column, or
        # a format placeholder, is an id
        odd = ["v.dataset", "{}", "{0}", "g.dataset"]
        bound = datasets_bound(None, odd)
        for column in ("v.dataset", "g.dataset", "e.dataset"):
            sql = bound(column)
            assert sql.startswith(f"{column} = ANY(")
            picked = await con.fetch(
                f"SELECT {column.split('.')[0]}.dataset FROM unnest($1::text[])"
                f" AS {column.split('.')[0]}(dataset) WHERE {sql}", [*odd, "x", "a"])
            assert [r[0] for r in picked] == odd
