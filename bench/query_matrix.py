"""Query plans across selectivities (issue #13; a script, not a test).

Loads N TrafficFlowObserved-like entities (six attributes, one a GeoProperty) through the
hub's batch upsert, ANALYZEs and VACUUMs (autovacuum may be off), then for every query
shape x selectivity (0.01 %, 1 %, 10 %, 90 %) x (Link header or not) sends queries whose
threshold is drawn at random per request through the real hub over HTTP, and prints
req/s, p50/p95 latency, mean results per page, and what PostgreSQL did per request on the
tenant's tables (buffers hit + read, tuples fetched or scanned), from the cumulative
statistics views (``pg_statio_user_tables``; no extension needed). The plans behind the
figures are in docs/architecture.md ("Query plans").

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/renkei_h4 \
        .venv/bin/python bench/query_matrix.py [--entities 200000] [--requests 300] [--keep]

``--keep`` reuses the entities already loaded (same N) instead of loading again.
``--mixed 0.2`` loads a tenant where the queried type is a fifth of the entities and the
rest are of four other types with their own attributes (a prefecture's mixed tenant);
every shape still queries ``type=TrafficFlowObserved``.
``--hub-process`` sends the queries to a hub in a process of its own (``python -m hub
serve``, dev mode), not to the one in this process, so the load generator's Python is not
the hub's; each row then also shows the CPU milliseconds per request of the hub process
and of the PostgreSQL backends (``/proc``; ``bench/workload13.py`` ``CpuMeter``).
Results: docs/performance.md, "Current figures".
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hubsetup import register_catch_all
from hub.app import create_app
from hub.settings import Settings

BASE = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
LINK = {"Link": f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context";'
                ' type="application/ld+json"'}
TYPE = "TrafficFlowObserved"
SCALE = 100_000  # intensity and occupancy are uniform integers in [0, SCALE)
# entities spread uniformly over this lon/lat box (Honshu-sized); a prefecture ~1 deg
LON0, LAT0, LON_SPAN, LAT_SPAN = 132.0, 33.0, 10.0, 5.0
SELECTIVITIES = (0.0001, 0.01, 0.1, 0.9)


#: the other types of a mixed tenant (``--mixed``): their own attributes, a shared
#: GeoProperty, as a prefecture's hub holds river gauges and weather stations beside
#: traffic counters
OTHER_TYPES = ("WaterLevelObserved", "WeatherObserved", "ParkingSpot", "BookLoan")


def other_entity(i: int, rnd: random.Random) -> dict[str, Any]:
    kind = OTHER_TYPES[i % len(OTHER_TYPES)]
    return {
        "id": f"urn:ngsi-ld:{kind}:{i}", "type": kind,
        "reading": {"type": "Property", "value": rnd.randrange(SCALE)},
        "code": {"type": "Property", "value": f"C{rnd.randrange(SCALE):05d}"},
        "location": {"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": [round(LON0 + rnd.random() * LON_SPAN, 6),
                                             round(LAT0 + rnd.random() * LAT_SPAN, 6)]}},
    }


def queried(i: int, share: float) -> bool:
    """Whether entity ``i`` is of the queried type when it holds ``share`` of them all
    (spread evenly: the types' pks interleave)."""
    return share >= 1 or int((i + 1) * share) > int(i * share)


def entity(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:{TYPE}:{i}", "type": TYPE,
        "intensity": {"type": "Property", "value": rnd.randrange(SCALE)},
        "occupancy": {"type": "Property", "value": rnd.randrange(SCALE)},
        "averageVehicleSpeed": {"type": "Property", "value": round(rnd.uniform(0, 120), 1)},
        "laneId": {"type": "Property", "value": f"L{rnd.randrange(SCALE):05d}"},
        "refRoadSegment": {"type": "Relationship",
                           "object": f"urn:ngsi-ld:RoadSegment:{i % 5000}"},
        "location": {"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": [round(LON0 + rnd.random() * LON_SPAN, 6),
                                             round(LAT0 + rnd.random() * LAT_SPAN, 6)]}},
    }


async def load(client: TestClient, n: int, share: float = 1.0) -> None:
    rnd = random.Random(13)
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        batch = [entity(i, rnd) if queried(i, share) else other_entity(i, rnd)
                 for i in range(start, min(n, start + 1000))]
        resp = await client.post(BASE + "/entityOperations/upsert", json=batch)
        assert resp.status in (201, 204), await resp.text()
    print(f"loaded {n} entities in {time.perf_counter() - t0:.1f} s")


def _threshold(sel: float, rnd: random.Random) -> int:
    """A random threshold t with P(value >= t) ~ sel, jittered by +-10 % of sel."""
    return int(SCALE * (1 - sel * rnd.uniform(0.9, 1.1)))


def _box(sel: float, rnd: random.Random) -> tuple[float, float, float, float]:
    """A lon/lat box covering ~sel of the area, at a random place (capped at the area)."""
    area = LON_SPAN * LAT_SPAN * sel
    side_lat = min(LAT_SPAN, (area / 2) ** 0.5)
    side_lon = min(LON_SPAN, area / side_lat)
    x = LON0 + rnd.random() * (LON_SPAN - side_lon)
    y = LAT0 + rnd.random() * (LAT_SPAN - side_lat)
    return x, y, x + side_lon, y + side_lat


def shapes() -> dict[str, Callable[[float, random.Random], dict[str, str]]]:
    def num(s: float, r: random.Random) -> dict[str, str]:
        return {"q": f"intensity>={_threshold(s, r)}"}

    def txt(s: float, r: random.Random) -> dict[str, str]:
        return {"q": f'laneId>="L{_threshold(s, r):05d}"'}

    def txt_below(s: float, r: random.Random) -> dict[str, str]:
        # an upper bound on a string: below its expanded form (https://...), which only a
        # vocab member compares (docs/architecture.md, "Query plans")
        return {"q": f'laneId<"L{SCALE - _threshold(s, r):05d}"'}

    def two(s: float, r: random.Random) -> dict[str, str]:
        # two independent terms, each of selectivity sqrt(s)
        t = s ** 0.5
        return {"q": f"intensity>={_threshold(t, r)};occupancy>={_threshold(t, r)}"}

    def either(s: float, r: random.Random) -> dict[str, str]:
        # either of two attributes over its threshold, each term of t where
        # 1 - (1 - t)**2 = s: "rain or river over the line", a flood watch's query
        t = 1 - (1 - s) ** 0.5
        return {"q": f"intensity>={_threshold(t, r)}|occupancy>={_threshold(t, r)}"}

    def order(s: float, r: random.Random) -> dict[str, str]:
        return {"q": f"intensity>={_threshold(s, r)}", "orderBy": "occupancy"}

    def order_desc(s: float, r: random.Random) -> dict[str, str]:
        # walked backwards when the attribute has no order marker (booleans, arrays,
        # objects: jsonb sorts them above numbers; docs/architecture.md "Query plans")
        return {"q": f"intensity>={_threshold(s, r)}", "orderBy": "occupancy;desc"}

    def order_two(s: float, r: random.Random) -> dict[str, str]:
        # the first key has ~1,200 values (ties of ~170 entities each at 200,000): the
        # walk sorts the page's prefix and its boundary tie group by both keys
        return {"q": f"intensity>={_threshold(s, r)}",
                "orderBy": "averageVehicleSpeed,occupancy;desc"}

    def two_dense(s: float, r: random.Random) -> dict[str, str]:
        # two terms each matching about half, together only ``s``: the hard case for a
        # plan driven by one term's candidates (docs/architecture.md, "Query plans")
        low = int(SCALE * r.uniform(0.45 - s / 2, 0.55 - s / 2))
        return {"q": f"intensity>={low};intensity<{low + max(1, int(SCALE * s))}"}

    def order_only(s: float, r: random.Random) -> dict[str, str]:
        # every entity of the type matches: ``s`` is ignored; the walk along the value
        # index forwards (ascending) and backwards (descending)
        return {"orderBy": "occupancy" if s < 0.5 else "occupancy;desc"}

    def count(s: float, r: random.Random) -> dict[str, str]:
        return {"q": f"intensity>={_threshold(s, r)}", "count": "true"}

    def count_only(s: float, r: random.Random) -> dict[str, str]:
        # the count alone (``limit=0``): no page to take it from
        return {"q": f"intensity>={_threshold(s, r)}", "count": "true", "limit": "0"}

    def within(s: float, r: random.Random) -> dict[str, str]:
        x1, y1, x2, y2 = _box(s, r)
        ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
        return {"georel": "within", "geometry": "Polygon",
                "coordinates": str([ring]).replace(" ", "")}

    def near(s: float, r: random.Random) -> dict[str, str]:
        x1, y1, x2, y2 = _box(s, r)
        # a circle of the box's area: radius in metres at the box's latitude
        radius = ((y2 - y1) * 111_000 * (x2 - x1) * 91_000 / 3.1416) ** 0.5
        return {"georel": f"near;maxDistance=={radius:.0f}", "geometry": "Point",
                "coordinates": f"[{(x1 + x2) / 2:.5f},{(y1 + y2) / 2:.5f}]"}

    def geo_count(s: float, r: random.Random) -> dict[str, str]:
        # how many stations stand in the area, and a page of them: every match is read
        return {**within(s, r), "count": "true"}

    def geo_order(s: float, r: random.Random) -> dict[str, str]:
        # the area's stations by a reading: every match is read, then sorted in SQL
        return {**within(s, r), "orderBy": "occupancy"}

    def id_pattern(s: float, r: random.Random) -> dict[str, str]:
        # ids are ...:<i> for i < N: a random k-digit start d matches d, d0-d9, d00-d99...
        # (about 1.1 x 10**-k of 200,000 at k >= 2); PostgreSQL's regex engine runs an
        # unanchored pattern at every position of every id it tests
        k = max(1, round(-math.log10(s)) + 1)
        start = r.randrange(10 ** (k - 1), 10 ** k)
        return {"idPattern": f"urn:ngsi-ld:{TYPE}:{start}.*"}

    def pattern(s: float, r: random.Random) -> dict[str, str]:
        # laneId is L + five digits: a fixed prefix of k digits matches 10**-k of them
        k = max(1, min(5, round(-math.log10(s))))
        return {"q": f'laneId~="L{r.randrange(10 ** k):0{k}d}.*"'}

    def order_string(s: float, r: random.Random) -> dict[str, str]:
        # ordered by a string attribute: the value-index walk handles numbers only
        return {"q": f"intensity>={_threshold(s, r)}", "orderBy": "laneId"}

    def order_bounded(s: float, r: random.Random) -> dict[str, str]:
        # filtered and ordered by one attribute: the walk starts at q's bound, ascending
        # from a lower one, descending from an upper one
        if s < 0.05:
            return {"q": f"intensity>={_threshold(s, r)}", "orderBy": "intensity"}
        return {"q": f"intensity<{SCALE - _threshold(s, r)}", "orderBy": "intensity;desc"}

    def order_bounded_string(s: float, r: random.Random) -> dict[str, str]:
        # the same on a string attribute: the walk starts at q's string bound
        if s < 0.05:
            return {"q": f'laneId>="L{_threshold(s, r):05d}"', "orderBy": "laneId"}
        return {"q": f'laneId<"L{SCALE - _threshold(s, r):05d}"', "orderBy": "laneId;desc"}

    def order_time(s: float, r: random.Random) -> dict[str, str]:
        # ordered by creation, newest first ("the latest stations above t") and oldest
        # first: read along the entities' creation index (migration 0098)
        return {"q": f"intensity>={_threshold(s, r)}",
                "orderBy": "createdAt;desc" if s < 0.05 else "createdAt"}

    return {"q number": num, "q string": txt,
            "q string below": txt_below, "q two terms": two, "q two dense": two_dense,
            "q either": either,
            "orderBy": order, "orderBy desc": order_desc, "orderBy 2 keys": order_two,
            "orderBy only": order_only, "count": count, "count only": count_only,
            "geo within": within, "geo near": near, "geo count": geo_count,
            "geo orderBy": geo_order, "idPattern": id_pattern,
            "q pattern": pattern, "orderBy string": order_string,
            "orderBy q attr": order_bounded, "orderBy q string": order_bounded_string,
            "orderBy time": order_time}


HUB_PORT = 18133
ROOT = Path(__file__).resolve().parent.parent


async def measure(client: TestClient | aiohttp.ClientSession,
                  make: Callable[[float, random.Random], dict[str, str]],
                  sel: float, link: bool, requests: int,
                  concurrency: int = 4, headers: dict[str, str] | None = None,
                  ) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p95 ms, mean results per page) at ``concurrency``; ``headers``
    besides the ``Link`` (a bearer token)."""
    rnd = random.Random(hash((sel, link)))
    headers = {**(LINK if link else {}), **(headers or {})}
    todo = [{"type": TYPE, "limit": "20", **make(sel, rnd)} for _ in range(requests)]
    latencies: list[float] = []
    found: list[int] = []

    async def worker() -> None:
        while todo:
            params = todo.pop()
            t0 = time.perf_counter()
            resp = await client.get(BASE + "/entities", params=params, headers=headers)
            body = await resp.json(content_type=None)
            assert resp.status == 200, (params, body)
            latencies.append(time.perf_counter() - t0)
            found.append(len(body))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return (requests / wall, statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.95) - 1] * 1000, round(statistics.mean(found)))


async def db_counters(url: str) -> tuple[int, int]:
    """(buffers hit + read, tuples fetched or scanned) on the tenant's tables so far, from
    the cumulative statistics views (no extension needed). A busy backend publishes its
    counts at most once a second and an idle one after 10 s (PostgreSQL 15), so this
    waits for that before reading."""
    await asyncio.sleep(10.5)
    con = await asyncpg.connect(url)
    try:
        row = await con.fetchrow(
            "SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0)"
            " + coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0)"
            " + coalesce(toast_blks_hit, 0) + coalesce(toast_blks_read, 0)) AS blks"
            " FROM pg_statio_user_tables WHERE schemaname = 'ngsild'")
        tup = await con.fetchval(
            "SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))"
            " FROM pg_stat_user_tables WHERE schemaname = 'ngsild'")
        return int(row["blks"] or 0), int(tup or 0)
    finally:
        await con.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--shapes", default="", help="comma-separated shape names")
    parser.add_argument("--link-only", action="store_true", help="skip the runs without Link")
    parser.add_argument("--selectivities", default="",
                        help="comma-separated fractions instead of all of SELECTIVITIES")
    parser.add_argument("--hub-process", action="store_true",
                        help="query a hub in a process of its own; report its CPU and the"
                             " database's per request")
    parser.add_argument("--mixed", type=float, default=1.0,
                        help="the queried type's share of the entities (the rest are of"
                             " four other types, OTHER_TYPES); selectivities are of its"
                             " entities")
    parser.add_argument("--no-walk", action="store_true",
                        help="sort every match for orderBy (the plan before the value walk;"
                             " not with --hub-process)")
    args = parser.parse_args()
    if args.no_walk:
        from hub.store import entities as store

        store.WALK_PAGE = 0
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL",
                         "postgresql://postgres@127.0.0.1:5432/renkei_bench")
    if not args.keep:
        con = await asyncpg.connect(url)
        for schema in ("ngsild", "renkei", "registry", "authz"):
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await con.close()
    app = create_app(Settings(database_url=url, auth_mode="dev", log_level="WARNING",
                              default_rate_per_minute=10**9))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        if not args.keep:
            async with aiohttp.ClientSession() as s:
                await register_catch_all(s, str(client.make_url("")).rstrip("/"))
            await load(client, args.entities, args.mixed)
            con = await asyncpg.connect(url)
            await con.execute("VACUUM ANALYZE")
            await con.close()
        if not args.hub_process:
            await matrix(args, url, client)
    finally:
        await client.close()
    if args.hub_process:
        await matrix_against_process(args, url)


async def matrix(args: argparse.Namespace, url: str,
                 client: TestClient | aiohttp.ClientSession, hub_pid: int | None = None) -> None:
    wanted = [s for s in args.shapes.split(",") if s]
    cpu = "" if hub_pid is None else f"{'hub ms/q':>9}{'db ms/q':>8}"
    print(f"{'shape':<15}{'sel':>8}{'link':>6}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'rows':>6}{'blks/q':>8}{'tuples/q':>9}{cpu}")
    b0, t0 = await db_counters(url)
    for name, make in shapes().items():
        if wanted and name not in wanted:
            continue
        for sel in [float(x) for x in args.selectivities.split(",") if x] or SELECTIVITIES:
            for link in (True,) if args.link_only else (False, True):
                # the counters are read once per cell: the warm-up is counted too
                await measure(client, make, sel, link, 20)
                meter = None
                if hub_pid is not None:
                    from bench.workload13 import CpuMeter  # it imports this module

                    meter = CpuMeter(url, hub_pid)
                    await meter.start()
                rps, p50, p95, rows = await measure(client, make, sel, link, args.requests)
                used = "" if meter is None else "".join(
                    f"{c / args.requests * 1000:>9.2f}" if i == 0 else
                    f"{c / args.requests * 1000:>8.2f}"
                    for i, c in enumerate(reversed(await meter.stop())))
                b1, t1 = await db_counters(url)
                calls = args.requests + 20
                blks, tups = (b1 - b0) / calls, (t1 - t0) / calls
                b0, t0 = b1, t1
                print(f"{name:<15}{sel * 100:>7.2f}%{'yes' if link else 'no':>6}"
                      f"{rps:>8.0f}{p50:>8.1f}{p95:>8.1f}{rows:>6}{blks:>8.0f}{tups:>9.0f}"
                      f"{used}", flush=True)


async def matrix_against_process(args: argparse.Namespace, url: str) -> None:
    """The matrix against ``python -m hub serve`` on ``HUB_PORT`` (dev mode, no rate
    limit), stopped by PID afterwards."""
    unlimited = str(10**9)
    env = {**os.environ, "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_AUTH_MODE": "dev",
           "RENKEI_DEFAULT_RATE_PER_MINUTE": unlimited,
           "RENKEI_ANONYMOUS_RATE_PER_MINUTE": unlimited,
           "RENKEI_MAX_RATE_PER_MINUTE": unlimited}
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "serve", "--database-url", url, "--port", str(HUB_PORT),
        env=env, cwd=ROOT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{HUB_PORT}") as session:
            for _ in range(120):
                try:
                    async with session.get("/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            await matrix(args, url, session, hub.pid)
    finally:
        hub.terminate()
        await hub.wait()


if __name__ == "__main__":
    asyncio.run(main())
