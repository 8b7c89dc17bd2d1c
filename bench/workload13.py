"""Issue #13's write/read workload: the hub against bare servers, with PostgreSQL's CPU.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_d \\
        .venv/bin/python bench/workload13.py [--entities 50000] [--seconds 5] [--rounds 2]

TrafficFlowObserved entities with six attributes, one a GeoProperty (the entities of
``bench/query_matrix.py``), every request carrying a ``Link`` header to the core context.
Four operations: single create, batch upsert (1,000 per request; new ids, then the same ids
with new values), retrieve by id, ``PATCH /entities/{id}/attrs`` of one attribute. Each runs
against three servers, in alternating rounds (hub, bare, min, hub, bare, min, ...):

- ``hub``: the hub (``python -m hub serve``, dev auth, one catch-all dataset);
- ``bare``: ``bench/bare_server.py`` running the hub's own statements (``hub.store``) with
  no NGSI-LD work: hub ÷ bare is what the hub's Python costs;
- ``min``: the same server's ``/min`` routes, one table with only a primary key and the
  one statement each call needs: hub ÷ min is what the whole design costs, storage
  layout included (issue #13 measured its ratios against such a server).

For every (operation, server) it prints throughput, p95 latency, the ratio to the hub, and
CPU-seconds per 1,000 entities of the PostgreSQL backends serving the benchmark's database
(``/proc/<pid>/stat`` of the backends ``pg_stat_activity`` lists for it; the WAL writer and
checkpointer, shared by all, are not counted) and of the server process itself. The load
generator is this Python process, on the same cores: absolute rates are low, compare
within a run. Not a test: no assertions beyond refusing failed requests.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hubsetup import register_catch_all  # noqa: E402
from bench.query_matrix import CORE, LINK, TYPE, entity  # noqa: E402
from bench.rounds import Call, timed_requests, wait_up  # noqa: E402

HUB_PORT, BARE_PORT = 18131, 18132
BASES = {
    "hub": f"http://127.0.0.1:{HUB_PORT}/ngsi-ld/v1",
    "bare": f"http://127.0.0.1:{BARE_PORT}",
    "min": f"http://127.0.0.1:{BARE_PORT}/min",
}
UPSERT = {"hub": "/entityOperations/upsert", "bare": "/upsert", "min": "/upsert"}
HEADERS = {"Content-Type": "application/json", **LINK}
TICK = os.sysconf("SC_CLK_TCK")

#: the single-request phases for ``--loadgen wrk`` (a C load generator, so the Python
#: client's CPU does not share the two cores with the servers): the same requests as the
#: Python calls below, ``{prefix}`` the server's base path, ``{n}`` the stored entities
_WRK_HEAD = f"""
math.randomseed(os.time() + os.clock() * 1e6)
local prefix = "{{prefix}}"
local headers = {{["Content-Type"]="application/json",
  ["Link"]='<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}}
local function n() return math.random(0, 99999) end
"""
WRK_LUA = {
    "create": _WRK_HEAD + """
request = function()
  local body = '{"id":"urn:ngsi-ld:TrafficFlowObserved:w' .. math.random(1, 2000000000)
    .. 'x' .. math.random(1, 2000000000) .. '","type":"TrafficFlowObserved",'
    .. '"intensity":{"type":"Property","value":' .. n() .. '},'
    .. '"occupancy":{"type":"Property","value":' .. n() .. '},'
    .. '"averageVehicleSpeed":{"type":"Property","value":' .. (n() % 1200) / 10 .. '},'
    .. '"laneId":{"type":"Property","value":"L' .. string.format("%05d", n()) .. '"},'
    .. '"refRoadSegment":{"type":"Relationship","object":"urn:ngsi-ld:RoadSegment:'
    .. (n() % 5000) .. '"},"location":{"type":"GeoProperty","value":{"type":"Point",'
    .. '"coordinates":[' .. 132 + n() / 10000 .. ',' .. 33 + n() / 20000 .. ']}}}'
  return wrk.format("POST", prefix .. "/entities", headers, body)
end
""",
    "retrieve": _WRK_HEAD + """
request = function()
  return wrk.format("GET", prefix .. "/entities/urn:ngsi-ld:TrafficFlowObserved:"
    .. math.random(0, {n} - 1), headers)
end
""",
    "patch attrs": _WRK_HEAD + """
request = function()
  return wrk.format("PATCH", prefix .. "/entities/urn:ngsi-ld:TrafficFlowObserved:"
    .. math.random(0, {n} - 1) .. "/attrs", headers,
    '{"intensity":{"type":"Property","value":' .. n() .. '}}')
end
""",
}


async def wrk_box(base: str, op: str, n: int, seconds: float,
                  conns: int) -> tuple[int, float, list[float]]:
    """(requests, seconds, [p99 ms]) of one wrk run; any non-2xx answer fails it."""
    parts = urlsplit(base)
    host = f"{parts.scheme}://{parts.netloc}"
    script = WRK_LUA[op].replace("{prefix}", parts.path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script.replace("{n}", str(n)))
    proc = await asyncio.create_subprocess_exec(
        shutil.which("wrk") or "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s",
        "--latency", "-s", f.name, host, stdout=subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    os.unlink(f.name)
    if "Non-2xx" in out or proc.returncode:
        raise RuntimeError(f"wrk {op} against {base} failed:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    tail = float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0
    return total, seconds, [tail]


def _cpu(pid: int) -> float:
    """CPU-seconds (user + system) a process has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuMeter:
    """CPU of the PostgreSQL backends of one database plus one server process."""

    def __init__(self, url: str, server_pid: int) -> None:
        self.url, self.server_pid = url, server_pid

    async def _backends(self) -> dict[int, float]:
        con = await asyncpg.connect(self.url)
        try:
            pids = await con.fetch("SELECT pid FROM pg_stat_activity WHERE datname ="
                                   " current_database() AND pid <> pg_backend_pid()")
        finally:
            await con.close()
        return {r["pid"]: _cpu(r["pid"]) for r in pids}

    async def start(self) -> None:
        self.db0 = await self._backends()
        self.proc0 = _cpu(self.server_pid)

    async def stop(self) -> tuple[float, float]:
        """(database CPU-s, server process CPU-s) since ``start``; a backend that appeared
        since counts from zero, one that ended is lost (the pools keep theirs)."""
        now = await self._backends()
        db = sum(c - self.db0.get(pid, 0.0) for pid, c in now.items())
        return db, _cpu(self.server_pid) - self.proc0


@dataclass
class Tally:
    entities: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    db_cpu: float = 0.0
    proc_cpu: float = 0.0

    def rate(self) -> float:
        return self.entities / self.seconds if self.seconds else 0.0

    def p95(self) -> float:
        lat = sorted(self.latencies)
        return lat[max(0, int(len(lat) * 0.95) - 1)] if lat else 0.0

    def per_k(self, cpu: float) -> float:
        return cpu / self.entities * 1000 if self.entities else 0.0


async def _send(s: aiohttp.ClientSession, method: str, url: str, body: bytes | None) -> int:
    async with s.request(method, url, data=body, headers=HEADERS) as r:
        text = await r.read()
        if r.status == 207 or r.status >= 300:  # a refused request would flatter the rate
            raise RuntimeError(f"{method} {url} -> {r.status}: {text[:300]!r}")
        return r.status


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, pids: dict[str, int]) -> None:
        self.args, self.url, self.pids = args, url, pids
        self.tallies: dict[tuple[str, str], Tally] = {}

    async def _measured(self, op: str, server: str, per_request: int,
                        run: Callable[[], Awaitable[tuple[int, float, list[float]]]]) -> None:
        meter = CpuMeter(self.url, self.pids[server])
        await meter.start()
        n, wall, lat = await run()
        db, proc = await meter.stop()
        t = self.tallies.setdefault((op, server), Tally())
        t.entities += n * per_request
        t.seconds += wall
        t.latencies += lat
        t.db_cpu += db
        t.proc_cpu += proc

    async def _rounds(self, op: str, call: Callable[[str, str, aiohttp.ClientSession, int],
                                                    Awaitable[int]], *, flush: bool) -> None:
        """``op`` one request at a time, in a time box per round and server (alternating):
        ``call(base, tag, session, i)`` sends request ``i`` to the server at ``base``, ``tag``
        naming the server and round; ``flush``: a checkpoint after each box (writes)."""
        for r in range(self.args.rounds):
            for server in self.args.servers:
                if self.args.loadgen == "wrk":
                    await self._measured(op, server, 1, functools.partial(
                        wrk_box, BASES[server], op, self.args.entities, self.args.seconds,
                        self.args.concurrency))
                    if flush:
                        await checkpoint(self.url)
                    continue
                each: Call = functools.partial(call, BASES[server], f"{server}{r}")
                await self._measured(op, server, 1, functools.partial(
                    timed_requests, self.args.concurrency, each, seconds=self.args.seconds))
                if flush:
                    await checkpoint(self.url)

    async def create(self) -> None:
        rnd = random.Random(1)

        def call(base: str, tag: str, s: aiohttp.ClientSession, i: int) -> Awaitable[int]:
            ent = entity(i, rnd)
            ent["id"] = f"urn:ngsi-ld:{TYPE}:c{tag}-{i}"
            return _send(s, "POST", base + "/entities", orjson.dumps(ent))
        await self._rounds("create", call, flush=True)

    async def batch(self) -> None:
        n = self.args.entities
        rnd = random.Random(13)
        fresh = [orjson.dumps([entity(i, rnd) for i in range(k, min(n, k + 1000))])
                 for k in range(0, n, 1000)]
        rnd = random.Random(14)
        again = [orjson.dumps([entity(i, rnd) for i in range(k, min(n, k + 1000))])
                 for k in range(0, n, 1000)]
        rounds = self.args.rounds
        for label, bodies in (("batch new", fresh), ("batch replace", again)):
            for r in range(rounds):
                part = bodies[r::rounds]
                for server in self.args.servers:
                    url = BASES[server] + UPSERT[server]

                    def call(s: aiohttp.ClientSession, i: int, part: list[bytes] = part,
                             url: str = url) -> Awaitable[int]:
                        return _send(s, "POST", url, part[i])
                    await self._measured(label, server, 1000, functools.partial(
                        timed_requests, 2, call, requests=len(part)))
                    await checkpoint(self.url)
        con = await asyncpg.connect(self.url)
        await con.execute("VACUUM ANALYZE")
        await con.close()

    async def retrieve(self) -> None:
        n = self.args.entities

        def call(base: str, _tag: str, s: aiohttp.ClientSession, i: int) -> Awaitable[int]:
            eid = f"urn:ngsi-ld:{TYPE}:{random.randrange(n)}"
            return _send(s, "GET", f"{base}/entities/{eid}", None)
        await self._rounds("retrieve", call, flush=False)

    async def patch(self) -> None:
        n = self.args.entities

        def call(base: str, _tag: str, s: aiohttp.ClientSession, i: int) -> Awaitable[int]:
            eid = f"urn:ngsi-ld:{TYPE}:{random.randrange(n)}"
            body = {"intensity": {"type": "Property", "value": random.randrange(10**5)}}
            return _send(s, "PATCH", f"{base}/entities/{eid}/attrs", orjson.dumps(body))
        await self._rounds("patch attrs", call, flush=True)

    def report(self) -> None:
        print(f"{'operation':<15}{'server':<7}{'ent/s':>9}{'p95 ms':>9}{'ratio':>7}"
              f"{'db cpu-s/1k':>13}{'proc cpu-s/1k':>15}")
        for op in dict.fromkeys(k[0] for k in self.tallies):
            hub = self.tallies.get((op, "hub"))
            for server in self.args.servers:
                t = self.tallies.get((op, server))
                if t is None:
                    continue
                ratio = hub.rate() / t.rate() if hub and t.rate() else 0.0
                print(f"{op:<15}{server:<7}{t.rate():>9.0f}{t.p95():>9.1f}{ratio:>7.2f}"
                      f"{t.per_k(t.db_cpu):>13.3f}{t.per_k(t.proc_cpu):>15.3f}", flush=True)


async def checkpoint(url: str) -> None:
    """Flush what one server dirtied so its writes do not land on the next one's turn."""
    con = await asyncpg.connect(url)
    await con.execute("CHECKPOINT")
    await con.close()


async def reset(url: str) -> None:
    con = await asyncpg.connect(url)
    for schema in ("ngsild", "bare", "bare_min", "renkei", "registry", "authz"):
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await con.close()


async def run(args: argparse.Namespace, url: str, pids: dict[str, int]) -> None:
    await wait_up(BASES["hub"] + "/types", attempts=600)
    await wait_up(BASES["bare"] + "/entities/x", attempts=600)
    async with aiohttp.ClientSession() as s:
        await register_catch_all(s, BASES["hub"].removesuffix("/ngsi-ld/v1"))
    bench = Bench(args, url, pids)
    print(f"# {os.cpu_count()} CPUs; {args.entities:,} entities; {args.rounds} rounds of "
          f"{args.seconds} s; concurrency {args.concurrency}; servers {args.servers}",
          flush=True)
    for phase in args.phases:
        await getattr(bench, phase)()
    bench.report()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--servers", default="hub,bare,min")
    parser.add_argument("--phases", default="create,batch,retrieve,patch")
    parser.add_argument("--loadgen", choices=("python", "wrk"), default="python",
                        help="wrk: the single-request phases from wrk (latency column: a"
                             " round's p99, which wrk reports)")
    args = parser.parse_args()
    args.servers = args.servers.split(",")
    args.phases = args.phases.split(",")
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL",
                         "postgresql://postgres@127.0.0.1:5432/renkei_bench")
    asyncio.run(reset(url))
    env = {**os.environ, "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_AUTH_MODE": "dev"}
    hub_cmd = [sys.executable, "-m", "hub", "serve", "--database-url", url,
               "--port", str(HUB_PORT), "--max-body-bytes", str(64 << 20)]
    if os.environ.get("RENKEI_BENCH_PROFILE"):  # cProfile the hub; stats written on SIGTERM
        hub_cmd[1:3] = ["-m", "cProfile", "-o", os.environ["RENKEI_BENCH_PROFILE"], "-m", "hub"]
    hub = subprocess.Popen(hub_cmd, env=env, cwd=ROOT)
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_server.py"),
                             "--database-url", url, "--port", str(BARE_PORT)], env=env, cwd=ROOT)
    try:
        asyncio.run(run(args, url, {"hub": hub.pid, "bare": bare.pid, "min": bare.pid}))
    finally:
        for p in (hub, bare):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
