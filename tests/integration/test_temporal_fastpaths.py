"""The fast paths of the temporal reads (issue #16, migration 0070): ``lastN`` from the
temporal entities' attribute names, newest time range first; aggregates over the generated
``num`` column with ``date_bin`` buckets. Each answer is compared with the same answer
computed in Python over the stored instances, so a fast path that skips a partition, an
attribute, a tie or a non-number shows as a difference."""

from __future__ import annotations

import math
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from hub.db.migrations import _files, apply_global, apply_tenant
from hub.db.pool import HubPool, create_pool
from hub.jsonld.process import core_active_context
from hub.service import temporal_query
from hub.settings import Settings
from hub.store import entities as entities_store
from hub.store import temporal as sql

SCHEMA = "t_fastpaths"
V = "https://uri.etsi.org/ngsi-ld/default-context/"
LEVEL, RAIN, STATE, LINK = V + "level", V + "rain", V + "state", V + "feeds"
TYPES = [V + "Station"]
E1, E2, E3 = (f"urn:ngsi-ld:Station:f{k}" for k in (1, 2, 3))
T0 = datetime(2026, 9, 20, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _prop(value: Any, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": _iso(at),
            "createdAt": "2026-12-01T00:00:00Z", "modifiedAt": "2026-12-01T00:00:00Z", **extra}


def _rel(obj: str, at: datetime) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj, "observedAt": _iso(at),
            "createdAt": "2026-12-01T00:00:00Z", "modifiedAt": "2026-12-01T00:00:00Z"}


def _rows() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Histories across Sep-Nov 2026 (three monthly partitions), a reading in May 2025 and
    one in June 2027 (no partition: the default one), equal instants on two datasetIds,
    strings and a Relationship among the numbers."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {E1: [], E2: [], E3: []}
    for k in range(120):  # every 13 hours: Sep 20 .. Nov 23
        at = T0 + timedelta(hours=13 * k)
        out[E1].append((LEVEL, _prop(round(1 + (k * 7 % 11) / 4, 2), at)))
        out[E1].append((RAIN, _prop(float(k % 5), at + timedelta(minutes=k % 50))))
        if k % 3 == 0:  # a second source at the same instant
            out[E1].append((RAIN, _prop(float(k % 4), at + timedelta(minutes=k % 50),
                                        datasetId="urn:ngsi-ld:Dataset:radar")))
        out[E2].append((LEVEL, _prop("dry" if k % 4 == 0 else k % 6, at)))
        if k < 40:  # E2's state stops in October: its newest is in an older partition
            out[E2].append((STATE, _prop("ok" if k % 2 else "alert", at)))
    out[E2].append((LEVEL, _prop(99, datetime(2025, 5, 3, tzinfo=UTC))))
    out[E2].append((LEVEL, _prop(7, datetime(2027, 6, 1, 12, tzinfo=UTC))))
    out[E3].append((LINK, _rel("urn:ngsi-ld:River:r1", T0 + timedelta(minutes=5))))
    out[E3].append((LINK, _prop(3, T0 + timedelta(minutes=20))))  # same hour, another type
    out[E3].append((LINK, _prop(4, T0 + timedelta(hours=2))))
    return out


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[HubPool]:
    assert settings.database_url
    p = await create_pool(settings.database_url, 1, 2, custom_plans=True)
    async with p.acquire() as con:
        await apply_global(con)
        await con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await con.execute("DELETE FROM renkei.migrations WHERE scope = $1", "tenant:" + SCHEMA)
        await apply_tenant(con, SCHEMA)
        await sql.ensure_partitions(con, SCHEMA, date(2026, 10, 15), 1)  # Sep, Oct, Nov
        for eid, rows in _rows().items():
            async with con.transaction():
                await sql.upsert_entity(con, SCHEMA, eid, TYPES, "d1")
                await sql.add_instances(con, SCHEMA, eid, [
                    (attr, f"urn:ngsi-ld:attribute:instance:{eid[-2:]}-{n}", inst)
                    for n, (attr, inst) in enumerate(rows)])
    try:
        yield p
    finally:
        async with p.acquire() as con:
            await con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            await con.execute("DELETE FROM renkei.migrations WHERE scope = $1",
                              "tenant:" + SCHEMA)
        await p.close()


async def _stored(pool: HubPool) -> list[dict[str, Any]]:
    async with pool.acquire() as con:
        rows = await con.fetch(f"SELECT entity_id, attr, instance_id, dataset_id, observed_at,"
                               f" pk, data, num FROM {SCHEMA}.temporal_instances")
    return [dict(r) for r in rows]


async def _read(pool: HubPool, query: dict[str, str], ids: list[str],
                allowed: frozenset[str] | None = None,
                since: dict[str, datetime | None] | None = None) -> list[dict[str, Any]]:
    ctx = core_active_context()
    params = temporal_query.parse_params(query, ctx)
    async with pool.acquire() as con:
        page = await temporal_query.read_entities(
            con, SCHEMA, [(e, TYPES, allowed) for e in ids], params, ctx, 10_000,
            drop_empty=True, since=since)
    return page.entities


def _window(rel: str | None, start: datetime | None, end: datetime | None,
            t: datetime) -> bool:
    return (rel is None or (rel == "before" and t < start)  # type: ignore[operator]
            or (rel == "after" and t >= start)  # type: ignore[operator]
            or (rel == "between" and start <= t < end))  # type: ignore[operator]


WINDOWS: list[tuple[str | None, datetime | None, datetime | None]] = [
    (None, None, None),
    ("before", datetime(2026, 10, 20, 5, tzinfo=UTC), None),
    ("after", datetime(2026, 10, 3, tzinfo=UTC), None),
    ("between", datetime(2026, 9, 28, tzinfo=UTC), datetime(2026, 11, 2, 7, tzinfo=UTC)),
    ("before", datetime(2025, 6, 1, tzinfo=UTC), None),  # only the May 2025 stray reading
    ("after", datetime(2027, 1, 1, tzinfo=UTC), None),  # only the June 2027 one
]


def _query(rel: str | None, start: datetime | None, end: datetime | None) -> dict[str, str]:
    out = {} if rel is None else {"timerel": rel, "timeAt": _iso(start)}  # type: ignore[arg-type]
    if end is not None:
        out["endTimeAt"] = _iso(end)
    return out


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("last_n", [1, 3, 50])
async def test_last_n_equals_the_newest_instances(pool: HubPool, window: Any,
                                                  last_n: int) -> None:
    stored = await _stored(pool)
    rel, start, end = window
    for allowed, dataset_ids in ((None, None), (frozenset({RAIN, STATE}), None),
                                 (None, ["urn:ngsi-ld:Dataset:radar"]), (None, ["@none"])):
        query = {**_query(rel, start, end), "lastN": str(last_n)}
        if dataset_ids is not None:
            query["datasetId"] = ",".join(dataset_ids)
        got = {(e["id"], a): [i["instanceId"] for i in v]
               for e in await _read(pool, query, [E1, E2, E3], allowed)
               for a, v in e.items() if a not in ("id", "type")}
        want: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        for r in sorted(stored, key=lambda r: (r["observed_at"] or T0, r["pk"]), reverse=True):
            name = r["attr"].removeprefix(V)
            if (r["observed_at"] is None or not _window(rel, start, end, r["observed_at"])
                    or (allowed is not None and r["attr"] not in allowed)
                    or (dataset_ids == ["@none"] and r["dataset_id"] is not None)
                    or (dataset_ids and dataset_ids != ["@none"]
                        and r["dataset_id"] not in dataset_ids)):
                continue
            picked = want.setdefault((r["entity_id"], name), [])
            if len(picked) < last_n:
                # shown oldest first, equal instants newest-stored first (as before)
                picked.insert(0 if not picked or r["observed_at"] != picked[0][0] else 1,
                              (r["observed_at"], r["instance_id"]))
        assert got == {k: [i for _, i in v] for k, v in want.items()}, (query, allowed)
        if allowed is None and dataset_ids is None:
            assert got  # the window selects something: the comparison is not empty


async def test_last_n_ties_and_retention(pool: HubPool) -> None:
    """Equal instants on two datasetIds: the later-stored wins lastN=1, as before; a
    dataset retention (``since``) hides older readings from lastN too."""
    body = await _read(pool, {"lastN": "1", "attrs": "rain", "timerel": "before",
                              "timeAt": _iso(T0 + timedelta(hours=13 * 117, minutes=18))},
                       [E1])
    (inst,) = body[0]["rain"]
    assert inst["datasetId"] == "urn:ngsi-ld:Dataset:radar"  # k = 117, stored after
    late = datetime(2027, 1, 1, tzinfo=UTC)
    body = await _read(pool, {"lastN": "2"}, [E1, E2], since={E1: late, E2: late})
    assert [(e["id"], list(e)) for e in body] == [(E2, ["id", "type", "level"])]
    assert [i["value"] for i in body[0]["level"]] == [7]


async def test_attribute_names_kept_by_every_writer(pool: HubPool) -> None:
    """The names lastN reads its pairs from: filled by the migration's back-fill, by the
    temporal API's inserts and by the core write statement (a new attribute of a known
    temporal entity, and a new temporal entity); deleting instances leaves the name, and
    lastN then shows nothing of it."""
    async with pool.acquire() as con:
        names = await con.fetchval(f"SELECT attrs FROM {SCHEMA}.temporal_entities"
                                   " WHERE id = $1", E2)
        assert sorted(names) == [LEVEL, STATE]
        at = _iso(datetime(2026, 11, 30, tzinfo=UTC))
        ents = [{"id": eid, "types": TYPES, "scopes": None, "createdAt": at, "modifiedAt": at,
                 "attrs": {V + "flow": [_prop(12.5, datetime(2026, 11, 30, tzinfo=UTC))],
                           V + "refDataset": [{"type": "Relationship",
                                               "object": "urn:ngsi-ld:Dataset:d1"}]}}
                for eid in (E2, "urn:ngsi-ld:Station:f4")]
        async with con.transaction():
            await entities_store.write_entities(con, SCHEMA, ents, create_only=False)
        rows = await con.fetch(f"SELECT id, attrs FROM {SCHEMA}.temporal_entities"
                               " WHERE id = ANY($1) ORDER BY id", [E2, "urn:ngsi-ld:Station:f4"])
        assert [(r["id"], sorted(r["attrs"])) for r in rows] == [
            (E2, [V + "flow", LEVEL, STATE]), ("urn:ngsi-ld:Station:f4", [V + "flow"])]
        await sql.delete_attribute(con, SCHEMA, E2, STATE, None, True)
    body = await _read(pool, {"lastN": "1"}, [E2, "urn:ngsi-ld:Station:f4"])
    assert {e["id"]: sorted(k for k in e if k not in ("id", "type")) for e in body} == {
        E2: ["flow", "level"], "urn:ngsi-ld:Station:f4": ["flow"]}
    assert body[0]["flow"][0]["value"] == 12.5


def _figures(values: list[Any], method: str) -> Any:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if method == "totalCount":
        return len(values)
    if method == "distinctCount":
        return len({orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values})
    if not nums:
        return None
    return {"sum": lambda: math.fsum(nums), "avg": lambda: math.fsum(nums) / len(nums),
            "min": lambda: min(nums), "max": lambda: max(nums),
            "stddev": lambda: statistics.stdev(nums) if len(nums) > 1 else None,
            "sumsq": lambda: math.fsum(x * x for x in nums)}[method]()


METHODS = ["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"]


@pytest.mark.parametrize("window", WINDOWS[:4])
@pytest.mark.parametrize("period", ["PT1H", "P1D", "PT7H30M", None])
async def test_aggregates_equal_python(pool: HubPool, window: Any, period: str | None) -> None:
    """Every method over numbers, strings and a Relationship, per datasetId, in buckets
    from the window's start (after, between) or the entity's first selected instant; the
    type is the first bucket's least."""
    stored = await _stored(pool)
    rel, start, end = window
    query = {**_query(rel, start, end), "aggrMethods": ",".join(METHODS),
             "format": "aggregatedValues"}
    if period is not None:
        query["aggrPeriodDuration"] = period
    got = {e["id"]: e for e in await _read(pool, query, [E1, E2, E3])}
    seconds = temporal_query._period(period)
    mine = [r for r in stored if r["observed_at"] is not None
            and _window(rel, start, end, r["observed_at"])]
    for eid in (E1, E2, E3):
        rows = [r for r in mine if r["entity_id"] == eid]
        if not rows:
            assert eid not in got
            continue
        origin = start if rel in ("after", "between") else min(r["observed_at"] for r in rows)
        last = end if rel == "between" else max(r["observed_at"] for r in rows)
        groups: dict[tuple[str, str | None], dict[int, list[dict[str, Any]]]] = {}
        for r in rows:
            b = (int((r["observed_at"] - origin) / timedelta(seconds=seconds))
                 if seconds else 0)
            groups.setdefault((r["attr"], r["dataset_id"]), {}).setdefault(b, []).append(r)
        for (attr, ds), buckets in groups.items():
            shown = got[eid][attr.removeprefix(V)]
            shown = shown if isinstance(shown, list) else [shown]
            (item,) = [s for s in shown if s.get("datasetId") == ds]
            first = min(buckets)
            assert item["type"] == min(r["data"]["type"] for r in buckets[first]), (eid, attr)
            for method in METHODS:
                want = []
                for b in sorted(buckets):
                    values = [r["data"].get("value", r["data"].get("object"))
                              for r in buckets[b]]
                    lo = origin + timedelta(seconds=b * seconds) if seconds else origin
                    hi = lo + timedelta(seconds=seconds) if seconds else last
                    want.append([_figures(values, method), _iso(lo), _iso(hi)])
                assert [[pytest.approx(w[0]) if isinstance(w[0], float) else w[0], *w[1:]]
                        for w in want] == item[method], (eid, attr, ds, method, period)


async def test_num_column_and_migration_back_fill(pool: HubPool) -> None:
    """``num`` is the value when it is a number float8 can hold, for every writer (here a
    raw insert, and a row moved out of the default partition into a new month); the
    migration fills it and the attribute names for rows stored before it."""
    async with pool.acquire() as con:
        await con.execute(
            f"INSERT INTO {SCHEMA}.temporal_instances"
            " (entity_id, attr, instance_id, observed_at, data) VALUES"
            " ($1, $2, 'urn:i:big', '2026-10-01T00:00:00Z', '{\"value\": 1e400}'),"
            " ($1, $2, 'urn:i:str', '2026-10-01T01:00:00Z', '{\"value\": \"7\"}'),"
            " ($1, $2, 'urn:i:num', '2024-02-01T01:00:00Z', '{\"value\": -2.5e-3}')",
            E3, LINK)
        await sql.ensure_partitions(con, SCHEMA, date(2026, 10, 15), 1)  # moves Feb 2024
        nums = dict(await con.fetch(f"SELECT instance_id, num FROM {SCHEMA}.temporal_instances"
                                    " WHERE instance_id LIKE 'urn:i:%'"))
        assert nums == {"urn:i:big": None, "urn:i:str": None, "urn:i:num": -0.0025}
        assert await con.fetchval(f"SELECT count(*) FROM {SCHEMA}.temporal_instances_202402"
                                  " WHERE num = -0.0025") == 1
        schema = '"t_fastpaths_migration"'
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        try:
            files = _files("tenant")
            cut = next(k for k, (name, _) in enumerate(files) if name.startswith("0070"))
            for _, text in files[:cut]:
                await con.execute(text.replace("{schema}", schema))
            await con.execute(f"INSERT INTO {schema}.temporal_entities (id, types, dataset)"
                              " VALUES ('urn:x:1', '{T}', 'd1'), ('urn:x:2', '{T}', 'd1')")
            await con.execute(
                f"INSERT INTO {schema}.temporal_instances"
                " (entity_id, attr, instance_id, observed_at, data) VALUES"
                " ('urn:x:1', 'b', 'urn:i:1', now(), '{\"value\": 4}'),"
                " ('urn:x:1', 'a', 'urn:i:2', NULL, '{\"value\": \"x\"}'),"
                " ('urn:x:1', 'b', 'urn:i:3', now() - interval '1 day', '{\"object\": \"u\"}')")
            await con.execute(files[cut][1].replace("{schema}", schema))
            assert [tuple(r) for r in await con.fetch(
                f"SELECT instance_id, num FROM {schema}.temporal_instances ORDER BY 1")] == [
                ("urn:i:1", 4.0), ("urn:i:2", None), ("urn:i:3", None)]
            assert [tuple(r) for r in await con.fetch(
                f"SELECT id, attrs FROM {schema}.temporal_entities ORDER BY 1")] == [
                ("urn:x:1", ["a", "b"]), ("urn:x:2", [])]
        finally:
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
