"""History recorded by every write (issue #16): each write path that changes an attribute
carrying ``observedAt`` adds a temporal instance in the writing statement, a re-sent
reading adds none, a rolled-back write records nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from hub.db.migrations import _files
from hub.db.pool import create_pool
from hub.service import history as history_service
from hub.settings import Settings
from hub.store import entities as store
from registry import RegistryRepository
from registry.errors import Invalid
from registry.model import retention_days
from tests.conftest import CATCH_ALL
from tests.integration.helpers import JSON

E = "/ngsi-ld/v1/entities"
OPS = "/ngsi-ld/v1/entityOperations"
RAIN = "https://uri.etsi.org/ngsi-ld/default-context/precipitation"
ID = "urn:ngsi-ld:WeatherObserved:h1"


def reading(mm: float, hour: int) -> dict[str, Any]:
    return {"type": "Property", "value": mm, "observedAt": f"2026-11-22T{hour:02d}:00:00Z"}


def station(mm: float = 1.0, hour: int = 0, n: int = 1) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:WeatherObserved:h{n}", "type": "WeatherObserved",
            "precipitation": reading(mm, hour),
            "name": {"type": "Property", "value": "no observedAt: current state only"}}


async def history(settings: Settings, eid: str = ID) -> list[tuple[str, float]]:
    """(observedAt, value) of the recorded precipitation, in time order."""
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    try:
        if await con.fetchval("SELECT to_regclass('ngsild.temporal_instances')") is None:
            return []
        rows = await con.fetch(
            "SELECT data FROM ngsild.temporal_instances WHERE entity_id = $1 AND attr = $2"
            " ORDER BY observed_at, pk", eid, RAIN)
        attrs = await con.fetchval("SELECT count(DISTINCT attr) FROM ngsild.temporal_instances"
                                   " WHERE entity_id = $1", eid)
        assert attrs <= 1  # an attribute without observedAt is not history
    finally:
        await con.close()
    out = []
    for r in rows:
        data = orjson.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
        out.append((data["observedAt"], data["value"]))
    return out


async def test_create_then_resend_then_new_reading(client: TestClient,
                                                   settings: Settings) -> None:
    assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.0)]
    # the same reading again (an adapter re-sending) is not a change: nothing recorded
    resp = await client.post(OPS + "/upsert", json=[station(1.0, 0)], headers=JSON)
    assert resp.status in (201, 204)
    assert len(await history(settings)) == 1
    resp = await client.post(OPS + "/upsert", json=[station(2.0, 1)], headers=JSON)
    assert resp.status in (201, 204)
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.0),
                                       ("2026-11-22T01:00:00Z", 2.0)]
    # visible through the temporal API, owned like the entity
    body = await (await client.get(f"/ngsi-ld/v1/temporal/entities/{ID}")).json()
    assert [i["value"] for i in body["precipitation"]] == [1.0, 2.0]


@pytest.mark.parametrize("path", ["create", "upsert", "update", "merge"])
async def test_batch_paths_record(client: TestClient, settings: Settings, path: str) -> None:
    if path in ("update", "merge"):
        assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    resp = await client.post(f"{OPS}/{path}", json=[station(5.0, 3)], headers=JSON)
    assert resp.status in (201, 204), await resp.text()
    got = await history(settings)
    assert got[-1] == ("2026-11-22T03:00:00Z", 5.0)
    assert len(got) == (1 if path in ("create", "upsert") else 2)


@pytest.mark.parametrize("how", ["patch_attrs", "patch_attr", "merge_patch", "append", "put"])
async def test_single_paths_record(client: TestClient, settings: Settings, how: str) -> None:
    assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    new = {"precipitation": reading(4.0, 2)}
    if how == "patch_attrs":
        resp = await client.patch(f"{E}/{ID}/attrs", json=new, headers=JSON)
    elif how == "patch_attr":
        resp = await client.patch(f"{E}/{ID}/attrs/precipitation", json=reading(4.0, 2),
                                  headers=JSON)
    elif how == "merge_patch":
        resp = await client.patch(f"{E}/{ID}", json=new, headers=JSON)
    elif how == "append":
        resp = await client.post(f"{E}/{ID}/attrs", json=new, headers=JSON)
    else:
        resp = await client.put(f"{E}/{ID}", json={"type": "WeatherObserved", **new},
                                headers=JSON)
    assert resp.status in (201, 204), await resp.text()
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.0),
                                       ("2026-11-22T02:00:00Z", 4.0)]


async def test_corrected_reading_replaces_the_recorded_one(client: TestClient,
                                                          settings: Settings) -> None:
    assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    resp = await client.patch(f"{E}/{ID}/attrs", json={"precipitation": reading(1.5, 0)},
                              headers=JSON)
    assert resp.status == 204
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.5)]


async def test_rolled_back_write_records_nothing(client: TestClient,
                                                 settings: Settings) -> None:
    assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    try:
        await con.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(),
                                 decoder=orjson.loads, schema="pg_catalog")
        ent = await store.fetch_entity(con, "ngsild", ID)
        assert ent is not None
        ent["attrs"][RAIN] = [reading(9.0, 5)]
        with pytest.raises(RuntimeError):
            async with con.transaction():
                await store.fetch_entity(con, "ngsild", ID, for_update=True)
                written = await store.write_entities(con, "ngsild", [ent], create_only=False)
                assert written == {ID: False}
                inside = await con.fetchval(
                    "SELECT count(*) FROM ngsild.temporal_instances WHERE entity_id = $1", ID)
                assert inside == 2  # recorded by the write statement itself ...
                raise RuntimeError("the request fails after the write")
    finally:
        await con.close()
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.0)]  # ... and undone


async def test_refused_request_records_nothing(client: TestClient,
                                               settings: Settings) -> None:
    assert (await client.post(E, json=station(1.0, 0), headers=JSON)).status == 201
    bad = {"precipitation": reading(3.0, 4), "bad name!": {"type": "Property", "value": 1}}
    resp = await client.patch(f"{E}/{ID}/attrs", json=bad, headers=JSON)
    assert resp.status >= 400
    assert await history(settings) == [("2026-11-22T00:00:00Z", 1.0)]


# -- storage: partitions, retention, the migration -----------------------------------------

async def _tables(con: asyncpg.Connection) -> set[str]:
    return {r["relname"] for r in await con.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'ngsild.temporal_instances'::regclass")}


async def test_late_readings_get_their_partition_and_retention_drops_it(
        client: TestClient, settings: Settings) -> None:
    old = {**station(1.0, 0), "precipitation": {"type": "Property", "value": 3.0,
                                                "observedAt": "2020-01-15T00:00:00Z"}}
    assert (await client.post(E, json=old, headers=JSON)).status == 201
    now = datetime(2027, 6, 15, tzinfo=UTC)  # the housekeeping's clock
    new = {"precipitation": {"type": "Property", "value": 4.0,
                             "observedAt": "2026-11-22T00:00:00Z"}}
    assert (await client.patch(f"{E}/{ID}/attrs", json=new, headers=JSON)).status == 204
    assert settings.database_url
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        async with pool.acquire() as con:
            # a reading older than every partition waits in the default partition ...
            assert await con.fetchval(
                "SELECT count(*) FROM ngsild.temporal_instances_default") == 1
            done = await history_service.run_once(pool, ahead=2, default_days=0, now=now)
            assert "temporal_instances_202001" in done["created"]
            assert "temporal_instances_202708" in done["created"]  # two months ahead
            assert done["dropped"] == []  # no retention anywhere: kept for ever
            # ... and is moved into its own month's partition
            assert await con.fetchval(
                "SELECT count(*) FROM ngsild.temporal_instances_default") == 0
            assert await con.fetchval(
                "SELECT count(*) FROM ngsild.temporal_instances_202001") == 1
            repo = RegistryRepository(pool)
            for ds in await repo.list_datasets():
                await repo.save_dataset(replace(ds, history_retention_days=365))
            done = await history_service.run_once(pool, ahead=2, default_days=0, now=now)
            assert "temporal_instances_202001" in done["dropped"]
            assert "temporal_instances_202611" not in done["dropped"]  # within a year
            assert "temporal_instances_202001" not in await _tables(con)
    finally:
        await pool.close()
    assert await history(settings) == [("2026-11-22T00:00:00Z", 4.0)]


def test_expiry_waits_for_the_longest_retention() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    ds = [SimpleNamespace(history_retention_days=30), SimpleNamespace(history_retention_days=90)]
    assert history_service.expiry_cutoff(ds, 0, now) == now - timedelta(days=90)  # type: ignore[arg-type]
    ds.append(SimpleNamespace(history_retention_days=None))
    assert history_service.expiry_cutoff(ds, 0, now) is None  # type: ignore[arg-type]
    assert history_service.expiry_cutoff(ds, 400, now) == now - timedelta(days=400)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "days"), [(30, 30), ("P90D", 90), ("P2W", 14),
                                           ("P1Y6M", 545), (None, None)])
def test_history_retention_field(raw: Any, days: int | None) -> None:
    assert retention_days(raw) == days


@pytest.mark.parametrize("raw", ["90", "P", "PT1H", 0, -3, True, "P200Y"])
def test_history_retention_field_refused(raw: Any) -> None:
    with pytest.raises(Invalid):
        retention_days(raw)


async def test_migration_keeps_existing_history(settings: Settings) -> None:
    """0050 moves the rows of the unpartitioned table into the partitioned one."""
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    schema = '"t_hist_migration"'
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        files = [(n, s) for n, s in _files("tenant") if "temporal" in n]
        assert files[-1][0].startswith("0050")
        for _, sql in files[:-1]:
            await con.execute(sql.replace("{schema}", schema))
        await con.execute(f"INSERT INTO {schema}.temporal_entities (id, types, dataset)"
                          " VALUES ('urn:x:1', '{T}', 'd1')")
        await con.execute(
            f"INSERT INTO {schema}.temporal_instances"
            " (entity_id, attr, instance_id, observed_at, data) VALUES"
            " ('urn:x:1', 'a', 'urn:i:1', '2019-05-01T00:00:00Z', '{\"value\": 1}'),"
            " ('urn:x:1', 'a', 'urn:i:2', NULL, '{\"value\": 2}'),"
            " ('urn:x:1', 'a', 'urn:i:3', now(), '{\"value\": 3}')")
        before = await con.fetch(f"SELECT pk, instance_id, observed_at, data::text"
                                 f" FROM {schema}.temporal_instances ORDER BY pk")
        await con.execute(files[-1][1].replace("{schema}", schema))
        after = await con.fetch(f"SELECT pk, instance_id, observed_at, data::text"
                                f" FROM {schema}.temporal_instances ORDER BY pk")
        assert [tuple(r) for r in after] == [tuple(r) for r in before]
        assert await con.fetchval(
            f"SELECT count(*) FROM {schema}.temporal_instances_201905") == 1
        # new rows continue the numbering (the tie-break of equal observedAt)
        pk = await con.fetchval(
            f"INSERT INTO {schema}.temporal_instances (entity_id, attr, instance_id, data)"
            " VALUES ('urn:x:1', 'a', 'urn:i:4', '{}') RETURNING pk")
        assert pk > max(r["pk"] for r in before)
    finally:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await con.close()


async def test_history_retention_through_the_registry_api(client: TestClient) -> None:
    url = f"/registry/v1/datasets/{CATCH_ALL}"
    body = await (await client.get(url)).json()
    assert "historyRetention" not in body  # kept for ever unless said otherwise
    resp = await client.put(url, json={**body, "historyRetention": "P1Y"})
    assert resp.status == 200, await resp.text()
    assert (await (await client.get(url)).json())["historyRetention"] == "P365D"
    resp = await client.put(url, json={**body, "historyRetention": "a while"})
    assert resp.status == 400
    # the refused change changed nothing
    assert (await (await client.get(url)).json())["historyRetention"] == "P365D"
    resp = await client.put(url, json={**body, "historyRetention": 30})
    assert resp.status == 200
    assert (await (await client.get(url)).json())["historyRetention"] == "P30D"
