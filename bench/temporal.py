"""History recorded on every write (issue #16; a script, not a test).

Ingests N stations x M readings through the batch upsert's write path — the entities of a
batch locked ``FOR UPDATE``, then the one write statement (``hub.store.entities
.write_entities``), one transaction per batch of N — into two tenant schemas, history on
in one and off in the other, batches alternating so both see the same machine. Each
reading carries two observed attributes (water level, rainfall) beside a location, a name
and the owner stamp, so a write with history records two temporal instances. Prints
entities/s both ways and their ratio (the issue's bar: >= 70 %), the instances recorded,
and storage bytes per instance (heap + indexes + TOAST of the partitions, over the rows).

Then the reads, each through ``hub.service.temporal_query.read_entities`` (the SQL and the
rendering of a temporal answer; the HTTP layer is left out), repeated ``--repeat`` times:
``lastN=1`` for every station in one request (issue's bar: p95 <= 100 ms), hourly sums of
rainfall over 7 days for one station (<= 20 ms) and for 100 stations (<= 200 ms).

The HTTP layer (parse, validate, ownership) costs the same with history on or off, so
the ratio of the statement alone is the conservative one; the hub's figure is closer to 1.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/renkei_h3 \
        .venv/bin/python bench/temporal.py [--stations 1000] [--readings 1000] [--keep]
    # the reads again on a kept history, without ingesting:
    ... bench/temporal.py --stations 1000 --readings 1000 --reads-only [--explain]
    # the reads on a big history: the first 20 readings through the write path, the
    # rest of the history-on schema's instances filled by SQL in the same shape:
    ... bench/temporal.py --stations 1000 --readings 5000 --fill-by-sql 20 --explain

The issue's full size is 10 million instances: ``--stations 1000 --readings 5000`` (two
instances a reading). Through the write path that takes ~3 h on a 2-core machine, so the
reads at that size are measured on a history filled by SQL (``fill``): same entities,
attributes, datasets, instance shape and insertion order, the indexes maintained row by row
as the ingest does; the ingest ratio is then of the path-ingested readings only.
Results: docs/performance.md, "History (issue #16)".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.db.migrations import apply_global, apply_tenant
from hub.db.pool import create_pool
from hub.jsonld.process import core_active_context
from hub.service import temporal_query
from hub.store import entities as store
from hub.store.temporal import ensure_partitions

V = "https://uri.etsi.org/ngsi-ld/default-context/"
START = datetime(2026, 11, 1, tzinfo=UTC)
SCHEMAS = {True: "bench_hist_on", False: "bench_hist_off"}


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def batch(stations: int, reading: int) -> list[dict[str, Any]]:
    """One stored-form entity per station, its reading number ``reading`` (10 min apart)."""
    at = _iso(START + timedelta(minutes=10 * reading))
    now = _iso(datetime.now(UTC))
    out = []
    for s in range(stations):
        attrs = {
            V + "waterLevel": [{"type": "Property", "value": round(1 + (s * 7 + reading) % 97
                                                                   / 31, 2),
                                "observedAt": at, "unitCode": "MTR", "modifiedAt": now}],
            V + "rainfall": [{"type": "Property", "value": float((s + reading) % 13),
                              "observedAt": at, "unitCode": "MMT", "modifiedAt": now}],
            V + "name": [{"type": "Property", "value": f"station {s}"}],
            "https://schema.org/location": [{"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [138 + s / 10_000, 36 + s / 10_000]}}],
            V + "refDataset": [{"type": "Relationship", "object": "urn:ngsi-ld:Dataset:bench"}],
        }
        out.append({"id": f"urn:ngsi-ld:WaterObserved:s{s}", "types": [V + "WaterObserved"],
                    "scopes": None, "attrs": attrs, "createdAt": now, "modifiedAt": now})
    return out


async def write(pool: Any, history: bool, ents: list[dict[str, Any]]) -> float:
    """One batch as batch upsert writes it; seconds taken."""
    schema = SCHEMAS[history]
    t0 = time.perf_counter()
    async with pool.acquire() as con, con.transaction():
        await store.fetch_many(con, schema, [e["id"] for e in ents], for_update=True)
        await store.write_entities(con, schema, ents, create_only=False, history=history)
    return time.perf_counter() - t0


async def storage(pool: Any) -> tuple[int, int]:
    """(instances, bytes) of the history tables of the schema with history on."""
    async with pool.acquire() as con:
        rows = await con.fetchval("SELECT count(*) FROM bench_hist_on.temporal_instances")
        size = await con.fetchval(
            "SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i"
            " WHERE i.inhparent = 'bench_hist_on.temporal_instances'::regclass")
        # partitioned indexes have no storage of their own: their partitions' are counted
        return int(rows), int(size or 0)


class _Recorder:
    """A connection that keeps the statements it runs, to EXPLAIN them afterwards."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self.con.fetch(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


async def explain(con: Any, run: Any) -> None:
    """Print ``EXPLAIN (ANALYZE, BUFFERS)`` of every statement ``run(con)`` makes (long
    lines cut: the id arrays)."""
    recorder = _Recorder(con)
    await run(recorder)
    for sql, args in recorder.statements:
        print("   ", sql[:400] + (" ..." if len(sql) > 400 else ""))
        for row in await con.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args):
            print("     ", row[0][:160])


#: One reading of every station, both observed attributes, as the write path records them:
#: each real row's columns copied (``tpl``: one recorded instance per attribute) with the
#: value, observedAt, modifiedAt, instanceId and pk (the sequence) varied; values as
#: ``batch`` computes them, in the JSON number form Python writes (``1.1``, ``3.0``). Rows go
#: in the ingest's order (reading, station, attribute), so heap, btree and BRIN grow as they
#: do under the ingest.
_FILL_SQL = """
WITH tpl AS (
  SELECT DISTINCT ON (attr) attr, dataset_id, data FROM {schema}.temporal_instances
  WHERE entity_id = 'urn:ngsi-ld:WaterObserved:s0' AND attr = ANY ($5::text[])
  ORDER BY attr, observed_at DESC
), g AS (
  SELECT r, s, a.k, a.attr, $1::timestamptz + make_interval(mins => 10 * r) AS at,
    CASE a.k WHEN 1 THEN round(1 + ((s * 7 + r) % 97) / 31.0, 2)
             ELSE ((s + r) % 13)::numeric END AS v
  FROM generate_series($2::int, $3::int - 1) AS r,
       generate_series(0, $4::int - 1) AS s,
       unnest($5::text[]) WITH ORDINALITY AS a(attr, k)
)
INSERT INTO {schema}.temporal_instances
  (entity_id, attr, instance_id, dataset_id, observed_at, data)
SELECT 'urn:ngsi-ld:WaterObserved:s' || g.s, g.attr,
  'urn:ngsi-ld:attribute:instance:' || gen_random_uuid(), t.dataset_id, g.at,
  t.data || jsonb_build_object(
    'value', CASE WHEN g.v = trunc(g.v) THEN round(g.v, 1) ELSE trim_scale(g.v) END,
    'observedAt', to_char(g.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'modifiedAt', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
FROM g JOIN tpl t USING (attr)
ORDER BY g.r, g.s, g.k
"""


async def fill(pool: Any, stations: int, first: int, readings: int) -> float:
    """Readings ``first`` to ``readings`` of the history-on schema by SQL (``_FILL_SQL``), a
    statement per ~1 M instances (500,000 station readings); then the entities' current
    state brought to the last reading by one write without history (what the ingest would
    have left stored; the temporal entities and their ``attrs`` are the path-ingested ones,
    every attribute already named). Seconds taken."""
    schema = SCHEMAS[True]
    attrs = [V + "waterLevel", V + "rainfall"]
    step = max(1, 500_000 // stations)
    t0 = time.perf_counter()
    async with pool.acquire() as con:
        for lo in range(first, readings, step):
            hi = min(readings, lo + step)
            await con.execute(_FILL_SQL.format(schema=schema), START, lo, hi, stations,
                              attrs, timeout=None)
            print(f"  filled readings {lo}-{hi - 1}: {time.perf_counter() - t0:.0f} s",
                  flush=True)
        async with con.transaction():
            await store.write_entities(con, schema, batch(stations, readings - 1),
                                       create_only=False, history=False)
    return time.perf_counter() - t0


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def reads(url: str, stations: int, readings: int, repeat: int,
                plans: bool = False) -> None:
    """p95 (and median) of the issue's three reads on the recorded history."""
    ctx = core_active_context()
    ids = [f"urn:ngsi-ld:WaterObserved:s{s}" for s in range(stations)]
    # reads as the hub makes them: its query pool plans each statement for its values
    pool = await create_pool(url, 1, 2, custom_plans=True)
    types = [V + "WaterObserved"]
    end = START + timedelta(minutes=10 * readings)
    start = max(START, end - timedelta(days=7))
    window = {"timerel": "between", "timeAt": _iso(start), "endTimeAt": _iso(end),
              "attrs": "rainfall", "aggrMethods": "sum", "aggrPeriodDuration": "PT1H",
              "format": "aggregatedValues"}
    cases = [
        ("lastN=1, every station", ids, {"lastN": "1"}, 100),
        ("hourly sums 7 days, 1 station", ids[:1], window, 20),
        ("hourly sums 7 days, 100 stations", ids[:100], window, 200),
    ]
    for name, chosen, query, bar in cases:
        params = temporal_query.parse_params(query, ctx)
        decided: list[tuple[str, list[str], frozenset[str] | None]] = [
            (eid, types, None) for eid in chosen]
        times: list[float] = []
        shown = 0
        for _ in range(repeat):
            async with pool.acquire() as con, con.transaction(isolation="repeatable_read",
                                                              readonly=True):
                t0 = time.perf_counter()
                page = await temporal_query.read_entities(
                    con, SCHEMAS[True], decided, params, ctx, 10_000, drop_empty=True)
                times.append(time.perf_counter() - t0)
            shown = len(page.entities)
        times_ms = [t * 1000 for t in times]
        p95 = _p95(times_ms)
        print(f"{name}: p95 {p95:.1f} ms, median {sorted(times_ms)[len(times_ms) // 2]:.1f} ms"
              f" ({shown} entities; bar {bar} ms: {'met' if p95 <= bar else 'MISSED'})")
        if plans:
            async with pool.acquire() as con:
                await explain(con, lambda c, d=decided, p=params: temporal_query.read_entities(
                    c, SCHEMAS[True], d, p, ctx, 10_000, drop_empty=True))
    await pool.close()


async def main(args: argparse.Namespace) -> None:
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL", args.database_url)
    pool = await create_pool(url, 1, 2)
    if args.reads_only:
        rows, size = await storage(pool)
        print(f"instances: {rows:,}; {size / max(rows, 1):.0f} bytes/instance")
        await reads(url, args.stations, args.readings, args.repeat, args.explain)
        await pool.close()
        return
    async with pool.acquire() as con:
        await apply_global(con)  # a fresh database: the migration bookkeeping first
        for schema in SCHEMAS.values():
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            await con.execute("DELETE FROM renkei.migrations WHERE scope = $1",
                              "tenant:" + schema)
            await apply_tenant(con, schema)
        # partitions for the whole run (the SQL fill's months too), as the housekeeping
        # creates them ahead
        last = START + timedelta(minutes=10 * (args.readings - 1))
        months = (last.year - START.year) * 12 + last.month - START.month + 1
        await ensure_partitions(con, "bench_hist_on", START.date(), months)
    ingested = min(args.readings, args.fill_by_sql or args.readings)
    spent = {True: 0.0, False: 0.0}
    t_all = time.perf_counter()
    for r in range(ingested):
        ents = batch(args.stations, r)
        first = r % 2 == 0  # alternate which goes first: equal footing for cache and disk
        for history in (first, not first):
            spent[history] += await write(pool, history, ents)
        if args.progress and r % max(1, args.readings // 10) == 0:
            print(f"  reading {r}: {time.perf_counter() - t_all:.0f} s", flush=True)
    n = args.stations * ingested
    on, off = n / spent[True], n / spent[False]
    rows, size = await storage(pool)
    print(f"stations {args.stations} x readings {ingested} = {n:,} entity writes per mode"
          " (through the write path)")
    print(f"history off: {off:,.0f} entities/s   history on: {on:,.0f} entities/s"
          f"   ratio {on / off:.2f}")
    print(f"instances recorded: {rows:,} ({rows / n:.1f} per write);"
          f" storage {size / 1e6:,.1f} MB = {size / max(rows, 1):.0f} bytes/instance")
    if ingested < args.readings:
        took = await fill(pool, args.stations, ingested, args.readings)
        total, size = await storage(pool)
        print(f"FILLED BY SQL, not ingested through the write path: readings {ingested}-"
              f"{args.readings - 1} of the history-on schema, {total - rows:,} instances in"
              f" {took:.0f} s; now {total:,} instances ({rows:,} through the write path);"
              f" storage {size / 1e6:,.1f} MB = {size / max(total, 1):.0f} bytes/instance")
    async with pool.acquire() as con:
        # as autovacuum leaves a history (an insert-only table is vacuumed on its inserts):
        # statistics, and the visibility map the aggregates' index-only scans rely on
        t0 = time.perf_counter()
        await con.execute("VACUUM ANALYZE bench_hist_on.temporal_instances", timeout=None)
        print(f"VACUUM ANALYZE: {time.perf_counter() - t0:.0f} s")
    await reads(url, args.stations, args.readings, args.repeat, args.explain)
    if not args.keep:
        async with pool.acquire() as con:
            for schema in SCHEMAS.values():
                await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=1000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/renkei")
    parser.add_argument("--keep", action="store_true", help="keep the schemas afterwards")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--repeat", type=int, default=40, help="runs of each read")
    parser.add_argument("--reads-only", action="store_true",
                        help="only the reads, on the history a --keep run left")
    parser.add_argument("--fill-by-sql", type=int, default=0, metavar="N",
                        help="ingest only the first N readings through the write path and"
                        " fill the history-on schema's instances up to --readings by SQL")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN (ANALYZE, BUFFERS) of each read's statements")
    asyncio.run(main(parser.parse_args()))
