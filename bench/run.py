"""Benchmark: the hub against a bare aiohttp + asyncpg server doing the same SQL.

    .venv/bin/python bench/run.py [--entities 100000] [--requests 3000] [--concurrency 32]
    .venv/bin/python bench/run.py --only batch --contract traffic   # the adapters' write path

Both servers run as subprocesses on this machine, on one PostgreSQL (RENKEI_BENCH_DATABASE_URL,
or a fresh embedded one); the load generator is this process. Prints one line per scenario
with the hub's figure, the bare server's figure and their ratio. Not a test: no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import asyncpg
import orjson
from hubsetup import register_catch_all  # bench/ is sys.path[0] when run as a script
from rounds import drive, wait_up

from contracts import LINK_HEADER

ROOT = Path(__file__).resolve().parent.parent
HUB_PORT, BARE_PORT = 18026, 18027
HUB = f"http://127.0.0.1:{HUB_PORT}/ngsi-ld/v1"
BARE = f"http://127.0.0.1:{BARE_PORT}"
JSON = {"Content-Type": "application/json"}
CONTRACT_HEADERS = {**JSON, "Link": LINK_HEADER}  # as adapters/sdk/sink.py sends them


def entity(i: int, prefix: str = "g") -> dict:
    rnd = random.Random(i)
    return {
        "id": f"urn:ngsi-ld:WeatherObserved:{prefix}{i}",
        "type": "WeatherObserved",
        "precipitation": {"type": "Property", "value": round(rnd.uniform(0, 100), 2),
                          "unitCode": "MMT", "observedAt": "2026-11-22T09:00:00Z"},
        "temperature": {"type": "Property", "value": round(rnd.uniform(-10, 30), 1),
                        "unitCode": "CEL"},
        "location": {"type": "GeoProperty", "value": {
            "type": "Point",
            "coordinates": [round(rnd.uniform(137.3, 138.8), 5),
                            round(rnd.uniform(35.2, 37.0), 5)]}},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:d{i}"},
    }


WRK = shutil.which("wrk")
LUA = {
    "create": """
math.randomseed(os.time() + os.clock() * 1e6)
local prefix = "{prefix}"
request = function()
  local id = "w" .. math.random(1, 2000000000) .. "x" .. math.random(1, 2000000000)
  local body = '{"id":"urn:ngsi-ld:WeatherObserved:' .. id .. '","type":"WeatherObserved",'
    .. '"precipitation":{"type":"Property","value":12.5,"unitCode":"MMT",'
    .. '"observedAt":"2026-11-22T09:00:00Z"},"temperature":{"type":"Property",'
    .. '"value":4.5,"unitCode":"CEL"},"location":{"type":"GeoProperty","value":'
    .. '{"type":"Point","coordinates":[138.19,36.65]}},"refDevice":{"type":"Relationship",'
    .. '"object":"urn:ngsi-ld:Device:d1"}}'
  return wrk.format("POST", prefix .. "/entities", {["Content-Type"]="application/json"}, body)
end
""",
    "retrieve": """
local prefix = "{prefix}"
request = function()
  return wrk.format("GET", prefix .. "/entities/urn:ngsi-ld:WeatherObserved:g"
    .. math.random(0, {n} - 1))
end
""",
    "update": """
local prefix = "{prefix}"
request = function()
  local path = prefix .. "/entities/urn:ngsi-ld:WeatherObserved:g" .. math.random(0, {n} - 1)
    .. "/attrs/precipitation"
  return wrk.format("PATCH", path, {["Content-Type"]="application/json"},
    '{"value":' .. math.random(0, 100) .. '}')
end
""",
}


def wrk_rate(base: str, prefix: str, scenario: str, n: int, seconds: int, conns: int) -> float:
    """Requests/s measured by wrk (a C load generator that leaves the CPU to the servers)."""
    script = LUA[scenario].replace("{prefix}", prefix).replace("{n}", str(n))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [WRK or "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", f.name, base],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(f.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk {scenario} against {base}{prefix} saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def wrk_pair(hub_base: str, bare_base: str, scenario: str, n: int, args: argparse.Namespace
             ) -> tuple[float, float]:
    """(hub, bare) requests/s: the median of ``--rounds`` wrk runs each, hub and bare
    alternating, so neither always runs right after the other's writes (single creates on
    this machine swing between ~1,100 and ~3,600/s with the state of PostgreSQL's WAL and
    checkpoints, whichever server runs)."""
    hub, bare = [], []
    for _ in range(args.rounds):
        hub.append(wrk_rate(hub_base, "/ngsi-ld/v1", scenario, n, args.seconds,
                            args.concurrency))
        bare.append(wrk_rate(bare_base, "", scenario, n, args.seconds, args.concurrency))
    return statistics.median(hub), statistics.median(bare)


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


async def post(s: aiohttp.ClientSession, url: str, body: object) -> int:
    async with s.post(url, data=orjson.dumps(body), headers=JSON) as r:
        text = await r.read()
        if r.status >= 300:
            print(f"POST {url} -> {r.status}: {text[:300]!r}", file=sys.stderr)
        return r.status


async def get(s: aiohttp.ClientSession, url: str) -> int:
    async with s.get(url) as r:
        await r.read()
        return r.status


async def patch(s: aiohttp.ClientSession, url: str, body: object) -> int:
    async with s.patch(url, data=orjson.dumps(body), headers=JSON) as r:
        await r.read()
        return r.status


def report(name: str, unit: str, hub: float, bare: float) -> None:
    ratio = hub / bare if unit.endswith("/s") else bare / hub
    print(f"{name:<34} hub {hub:>10.1f} {unit:<10} bare {bare:>10.1f} {unit:<10} "
          f"ratio {ratio:5.2f}", flush=True)


def contract_bodies(kind: str, n: int) -> list[bytes]:
    """Pre-serialised 1,000-entity upsert bodies of contract entities exactly as the adapters
    emit them (``traffic``: TrafficFlowObserved from a generated JARTIC file; ``weather``:
    WeatherObserved and siblings of the AMeDAS fixture, ids suffixed to make ``n``)."""
    sys.path.insert(0, str(ROOT))
    from adapters.sdk import Emit

    ents: list[dict] = []
    if kind == "traffic":
        from adapters.jartic_traffic import JarticTrafficAdapter
        from adapters.jartic_traffic.layout import generate

        path = Path(tempfile.gettempdir()) / f"renkei-bench-run-traffic-{n}.csv"
        if not path.exists():
            lines = generate(n // 6 + 500, sites=500)
            path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
        adapter = JarticTrafficAdapter(path)
        adapter.source_bytes()
        ents = [e for o in adapter.read() if isinstance(o, Emit) for e in o.entities]
    else:
        from adapters.jma_amedas import AmedasAdapter

        adapter = AmedasAdapter()
        adapter.source_bytes()
        one = [e for o in adapter.read() if isinstance(o, Emit) for e in o.entities]
        for k in range(n // len(one) + 1):
            ents += [{**e, "id": f"{e['id']}:r{k}"} for e in one]
    ents = ents[:n]
    return [orjson.dumps(ents[i:i + 1000]) for i in range(0, len(ents), 1000)]


async def post_bytes(
    s: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str] = CONTRACT_HEADERS
) -> int:
    async with s.post(url, data=body, headers=headers) as r:
        text = await r.read()
        if r.status == 207 or r.status >= 300:  # a refused entity would flatter the rate
            raise RuntimeError(f"POST {url} -> {r.status}: {text[:300]!r}")
        return r.status


async def contract_scenario(args: argparse.Namespace) -> None:
    """Batch upsert of contract entities: new ids, then the same bodies again (replace)."""
    bodies = contract_bodies(args.contract, args.entities)
    total = sum(body.count(b'"id":') for body in bodies)
    print(f"# {args.contract}: {total:,} entities in {len(bodies)} bodies of "
          f"{len(bodies[0]) / 1000:,.0f} kB", flush=True)
    for label in ("new ids", "replace"):
        hub_rate, _ = await drive(len(bodies), 2, lambda s, i: post_bytes(
            s, HUB + "/entityOperations/upsert", bodies[i]))
        bare_rate, _ = await drive(len(bodies), 2, lambda s, i: post_bytes(
            s, BARE + "/upsert", bodies[i]))
        per = total / len(bodies)
        report(f"{args.contract} upsert, {label}", "ent/s", hub_rate * per, bare_rate * per)


async def batch_scenario(args: argparse.Namespace) -> None:
    """Batch upsert, 1,000 entities per batch, until --entities are stored."""
    batches = args.entities // 1000
    # serialised before the clock starts: building them cost the load generator, on the
    # same two cores, about a quarter of what the servers had (14.3k vs 19.6k ent/s)
    bodies = [orjson.dumps([entity(i * 1000 + k) for k in range(1000)])
              for i in range(batches)]
    hub_rate, _ = await drive(batches, 2, lambda s, i: post_bytes(
        s, HUB + "/entityOperations/upsert", bodies[i], JSON))
    await checkpoint()
    bare_rate, _ = await drive(batches, 2, lambda s, i: post_bytes(
        s, BARE + "/upsert", bodies[i], JSON))
    report("batch upsert (1,000/batch)", "ent/s", hub_rate * 1000, bare_rate * 1000)
    await analyze()


async def scenarios(args: argparse.Namespace) -> None:
    c, n = args.concurrency, args.requests
    hub_base, bare_base = f"http://127.0.0.1:{HUB_PORT}", BARE
    if args.contract:
        await contract_scenario(args)
        return
    if args.only == "batch":
        await batch_scenario(args)
        return
    # 1. single creates
    await checkpoint()
    if WRK:
        hub_rate, bare_rate = wrk_pair(hub_base, bare_base, "create", 0, args)
    else:
        hub_rate, _ = await drive(n, c, lambda s, i: post(s, HUB + "/entities", entity(i, "c")))
        bare_rate, _ = await drive(n, c, lambda s, i: post(s, BARE + "/entities",
                                                           entity(i, "c")))
    report("create (single entity)", "req/s", hub_rate, bare_rate)
    await checkpoint()
    await batch_scenario(args)
    # 3. retrieve by id
    await checkpoint()
    ids = [f"urn:ngsi-ld:WeatherObserved:g{random.randrange(args.entities)}" for _ in range(n)]
    if WRK:
        hub_rate, bare_rate = wrk_pair(hub_base, bare_base, "retrieve", args.entities, args)
    else:
        hub_rate, _ = await drive(n, c, lambda s, i: get(s, f"{HUB}/entities/{ids[i]}"))
        bare_rate, _ = await drive(n, c, lambda s, i: get(s, f"{BARE}/entities/{ids[i]}"))
    report("retrieve by id", "req/s", hub_rate, bare_rate)
    # 4. type + q over the stored entities (selective: about 0.5 % match)
    q = n // 3
    _, hub_lat = await drive(q, 8, lambda s, i: get(
        s, f"{HUB}/entities?type=WeatherObserved&q=precipitation>99.5&limit=20"))
    _, bare_lat = await drive(q, 8, lambda s, i: get(
        s, f"{BARE}/query?type=WeatherObserved&above=99.5"))
    report(f"type+q query p50 ({args.entities:,})", "ms", pct(hub_lat, 50), pct(bare_lat, 50))
    report(f"type+q query p95 ({args.entities:,})", "ms", pct(hub_lat, 95), pct(bare_lat, 95))
    # 5. attribute updates
    await checkpoint()
    if WRK:
        hub_rate, bare_rate = wrk_pair(hub_base, bare_base, "update", args.entities, args)
    else:
        hub_rate, _ = await drive(n, c, lambda s, i: patch(
            s, f"{HUB}/entities/{ids[i]}/attrs/precipitation", {"value": i % 100}))
        bare_rate, _ = await drive(n, c, lambda s, i: patch(
            s, f"{BARE}/entities/{ids[i]}/attrs/precipitation", {"value": i % 100}))
    report("attribute update", "req/s", hub_rate, bare_rate)


DB_URL = ""


async def _on_database(sql: str) -> None:
    con = await asyncpg.connect(DB_URL)
    await con.execute(sql)
    await con.close()


async def analyze() -> None:
    await _on_database("ANALYZE")


async def checkpoint() -> None:
    """Flush what the previous scenario dirtied, so its writes do not land on the next one
    (after three rounds of single creates a batch run measured 13k instead of 26k entities/s
    while PostgreSQL wrote them out)."""
    await _on_database("CHECKPOINT")


async def reset(url: str) -> None:
    con = await asyncpg.connect(url)
    await con.execute("DROP SCHEMA IF EXISTS ngsild CASCADE; DROP SCHEMA IF EXISTS bare CASCADE;"
                      "DROP SCHEMA IF EXISTS renkei CASCADE")
    await con.close()


async def _catch_all() -> None:
    async with aiohttp.ClientSession() as s:
        await register_catch_all(s, HUB.removesuffix("/ngsi-ld/v1"))


def main() -> None:
    global DB_URL
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="wrk runs per server and scenario, alternating; the median counts")
    parser.add_argument("--only", choices=["batch"],
                        help="run only this scenario (batch: the plain batch upsert)")
    parser.add_argument("--contract", choices=["traffic", "weather"],
                        help="instead of the scenarios: batch upserts of pre-serialised "
                        "contract entities as the adapters send them (new ids, then replace)")
    args = parser.parse_args()
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL")
    embedded = None
    if not url:
        from hub.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="renkei-bench-")))
        url = embedded.start()
    DB_URL = url
    asyncio.run(reset(url))
    env = {**os.environ, "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_AUTH_MODE": "dev"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "hub", "serve", "--database-url", url,
                          "--port", str(HUB_PORT), "--max-body-bytes", str(64 << 20)],
                         env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_server.py"),
                          "--database-url", url, "--port", str(BARE_PORT)], env=env, cwd=ROOT),
    ]
    try:
        asyncio.run(wait_up(HUB + "/types"))
        asyncio.run(_catch_all())
        asyncio.run(wait_up(BARE + "/entities/x"))
        loadgen = "wrk for single requests, Python aiohttp" if WRK else "Python aiohttp"
        print(f"# {os.cpu_count()} CPUs; {args.entities:,} entities; concurrency "
              f"{args.concurrency}; database {'embedded' if embedded else url}; "
              f"load generator: {loadgen}")
        asyncio.run(scenarios(args))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
