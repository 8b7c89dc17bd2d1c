"""Issue #17's federation benchmark: a prefecture hub fanning a query out to two sources.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/federation.py [--entities 5000] [--seconds 2] [--rounds 3] \\
        [--concurrency 1,8] [--federation-timeout 5]

Three real hub processes (``python -m hub serve``, the ``renkei serve`` command) run on three
databases this script creates on the PostgreSQL of ``RENKEI_BENCH_DATABASE_URL`` (its own
database is only used to create and finally drop ``renkei_fedbench_{a,b,pref}``):

- two "municipality" hubs, A and B, each holding ``--entities`` WeatherObserved entities
  (``bench/run.py``'s, ids ``…:a<i>`` and ``…:b<i>``);
- one "prefecture" hub with no entities of its own and one inclusive registration
  (``information: WeatherObserved``) for each municipality.

All three run in development auth mode (``RENKEI_AUTH_MODE=dev``, like every benchmark here):
no tokens, and registrations without an owner are followed. The enforcing path adds the
registry lookup of ``admit`` per remote entity, which this benchmark does not measure.

The same query shapes are sent three ways in alternating rounds (A, B, prefecture, the
order rotating each round): directly at A, directly at B, and at the prefecture, which
asks both; a fourth column is the prefecture asked with ``local=true`` (its own part,
which it runs before asking the sources). Per shape it prints p50/p95, requests/s and the
servers' CPU per request (all hub and proxy processes, from ``/proc``, idle use subtracted:
the figure a shared machine disturbs least; ``pref own``: the prefecture's process alone)
at each ``--concurrency``, and the added latency ``prefecture p95 -
max(A p95, B p95)`` against issue #17's target (≤ 20 ms). At concurrency 1 that is the
fan-out's own latency; at a concurrency that saturates the cores it is mostly queueing
(the prefecture's request costs the CPU of three processes), i.e. a throughput figure.

Then (at ``--slow-concurrency``) B, and then A and B, are put behind proxies (subprocesses
of this script) that delay every request by ``--delay-ms``; each source is also measured
directly through its proxy. A concurrent fan-out answers in about the slowest source's
time, a serial one in the sum (``pref/sum`` near 0.5 with both delayed, not 1). Last, B
stops answering, twice: a proxy that never answers (the prefecture must answer within
``federation_timeout``, the hub setting, with an ``NGSILD-Warning``; after three failures
the circuit breaker skips B) and B's process stopped (connection refused). Each
prefecture answer must then hold A's entities and the warning.

The load generator, the proxy and the three hubs share this machine's cores with
PostgreSQL: compare the columns of one run, not absolute figures between machines. Not a
test: no assertions beyond refusing wrong answers. ``RENKEI_BENCH_PROFILE=<file>`` runs the
prefecture under cProfile (as ``bench/workload13.py`` does for its hub).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # bench/run.py imports ``hubsetup`` bare

from bench.hubsetup import register_catch_all  # noqa: E402
from bench.run import entity, pct  # noqa: E402
from hub.settings import Settings  # noqa: E402

API = "/ngsi-ld/v1"
TYPE = "WeatherObserved"
DATABASES = {"a": "renkei_fedbench_a", "b": "renkei_fedbench_b",
             "pref": "renkei_fedbench_pref"}
JSON = {"Content-Type": "application/json"}
#: hop-by-hop headers, and the body framing the proxy recomputes
HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length",
                 "content-encoding", "upgrade", "proxy-connection", "te", "trailer"})


# -- the delaying proxy (runs as its own process: its CPU is not the load generator's) ---------

async def _proxy(port: int, upstream: str, delay: float) -> None:
    """Forward every request to ``upstream`` after ``delay`` seconds, keeping connections
    alive both ways, as a slow network or a slow source would look to the prefecture."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                    auto_decompress=True)

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with session.request(request.method, upstream + request.path_qs,
                                   headers=headers, data=body or None,
                                   allow_redirects=False) as resp:
            data = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            return web.Response(status=resp.status, body=data, headers=out)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    # a prefecture that gave up closes its connection: the handler ends with it, and a
    # stopped proxy does not wait for the never-answering ones
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                           shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await session.close()


# -- processes and databases -----------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """``count`` consecutive free ports in 30000-39999 (the range this machine's helpers
    share), so that the processes of one run are easy to tell apart in ``ss``."""
    for _ in range(200):
        base = random.randrange(30000, 40000 - count)
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return list(range(base, base + count))
    raise RuntimeError("no free ports in 30000-39999")


def database_url(admin: str, name: str) -> str:
    return urlunsplit(urlsplit(admin)._replace(path="/" + name))


async def create_databases(admin: str) -> None:
    con = await asyncpg.connect(admin)
    try:
        for name in DATABASES.values():
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()


async def drop_databases(admin: str) -> None:
    con = await asyncpg.connect(admin)
    try:
        for name in DATABASES.values():
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


@dataclass
class Proc:
    """A child process of this script and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def start_hub(name: str, url: str, port: int, extra_env: dict[str, str]) -> Proc:
    env = {**os.environ, "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_LOG_FORMAT": "text",
           "RENKEI_AUTH_MODE": "dev", **extra_env}
    # closed by Proc.stop: the file outlives this function
    log = tempfile.NamedTemporaryFile(prefix=f"renkei-fedbench-{name}-",  # noqa: SIM115
                                      suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "hub", "serve", "--database-url", url, "--port", str(port),
           "--max-body-bytes", str(16 << 20)]
    profile = os.environ.get("RENKEI_BENCH_PROFILE")
    if profile and name == "pref":  # cProfile the prefecture; stats written on SIGTERM
        cmd[1:3] = ["-m", "cProfile", "-o", profile, "-m", "hub"]
    popen = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


def start_proxy(name: str, port: int, upstream: str, delay_ms: float) -> Proc:
    # closed by Proc.stop: the file outlives this function
    log = tempfile.NamedTemporaryFile(prefix=f"renkei-fedbench-{name}-",  # noqa: SIM115
                                      suffix=".log", delete=False)
    popen = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(port), "--upstream", upstream,
         "--delay-ms", str(delay_ms)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


async def wait_up(url: str, proc: Proc) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited; see {proc.log.name}")
            try:
                async with s.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    await r.read()
                    return
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up; see {proc.log.name}")


# -- set-up ------------------------------------------------------------------------------------

async def load(base: str, prefix: str, n: int) -> None:
    """``n`` entities in batches of 1,000, two requests in flight."""
    bodies = iter([orjson.dumps([entity(i, prefix) for i in range(k, min(n, k + 1000))])
                   for k in range(0, n, 1000)])
    async with aiohttp.ClientSession() as s:
        await register_catch_all(s, base)

        async def worker() -> None:
            for body in bodies:
                async with s.post(base + API + "/entityOperations/upsert", data=body,
                                  headers=JSON) as r:
                    text = await r.read()
                    if r.status >= 300:
                        raise RuntimeError(f"upsert at {base}: {r.status} {text[:300]!r}")
        await asyncio.gather(worker(), worker())


async def vacuum(url: str) -> None:
    con = await asyncpg.connect(url)
    try:
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


async def register(pref: str, endpoint: str) -> str:
    """An inclusive registration of ``endpoint`` for WeatherObserved at the prefecture;
    its id."""
    reg = {"type": "ContextSourceRegistration", "mode": "inclusive", "endpoint": endpoint,
           "information": [{"entities": [{"type": TYPE}]}]}
    async with aiohttp.ClientSession() as s, s.post(
            pref + API + "/csourceRegistrations", json=reg) as r:
        text = await r.text()
        if r.status != 201:
            raise RuntimeError(f"registration of {endpoint}: {r.status} {text[:300]}")
        return r.headers["Location"].rsplit("/", 1)[-1]


async def unregister(pref: str, reg_id: str) -> None:
    async with aiohttp.ClientSession() as s, s.delete(
            f"{pref}{API}/csourceRegistrations/{reg_id}") as r:
        if r.status != 204:
            raise RuntimeError(f"delete registration {reg_id}: {r.status} {await r.text()}")


async def sanity(pref: str, n: int) -> None:
    """Refuse to measure a prefecture that does not answer with both sources' data."""
    async with aiohttp.ClientSession() as s:
        async with s.get(pref + API + "/entities",
                         params={"type": TYPE, "count": "true", "limit": "1"}) as r:
            await r.read()
            total = r.headers.get("NGSILD-Results-Count")
            if r.status != 200 or total != str(2 * n) or "NGSILD-Warning" in r.headers:
                raise RuntimeError(f"prefecture count: {r.status} {total} "
                                   f"{r.headers.get('NGSILD-Warning')}")
        async with s.get(pref + API + "/entities", params={
                "type": TYPE, "q": "precipitation>99.5", "limit": "1000"}) as r:
            ids = [e["id"] for e in await r.json()]
            if not any(":a" in i for i in ids) or not any(":b" in i for i in ids):
                raise RuntimeError(f"prefecture q answered {len(ids)} ids, not both cities'")
        async with s.get(f"{pref}{API}/entities/urn:ngsi-ld:{TYPE}:b{n - 1}") as r:
            if r.status != 200:
                raise RuntimeError(f"prefecture retrieve of a B entity: {r.status}")


# -- measuring ---------------------------------------------------------------------------------

#: a shape: (name, the request for target ``t`` and request number ``i``)
Request = tuple[str, dict[str, str]]


def shapes(n: int) -> dict[str, Callable[[str, int], Request]]:
    """The query shapes of issue #17's benchmark. ``t`` is "a", "b" or "pref"; a retrieval
    at the prefecture asks for A's and B's entities in turn (both are remote there)."""
    q_sel = {"type": TYPE, "q": "precipitation>99.5", "limit": "20"}   # ~0.5 % match
    q_all = {"type": TYPE, "q": "precipitation>1", "limit": "20"}      # ~99 % match

    def retrieve(t: str, i: int) -> Request:
        city = t if t != "pref" else "ab"[i % 2]
        return f"/entities/urn:ngsi-ld:{TYPE}:{city}{random.randrange(n)}", {}

    return {
        "type, limit=20": lambda t, i: ("/entities", {"type": TYPE, "limit": "20"}),
        "type+q selective": lambda t, i: ("/entities", q_sel),
        "type+q unselective": lambda t, i: ("/entities", q_all),
        "retrieve remote id": retrieve,
        "type, count=true": lambda t, i: ("/entities", {"type": TYPE, "count": "true",
                                                         "limit": "20"}),
    }


@dataclass
class Cell:
    """The requests of one (shape, target) over all rounds."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: CPU-seconds of all the servers (hubs and proxies) while this cell ran
    cpu: float = 0.0
    #: CPU-seconds of the prefecture's process alone
    own: float = 0.0

    def cpu_ms(self, own: bool = False) -> float:
        """Servers' CPU per request: much steadier than latency on a shared machine, and
        where the prefecture's extra work shows (its own, plus both sources')."""
        used = self.own if own else self.cpu
        return used / len(self.latencies) * 1000 if self.latencies else 0.0

    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies, q) if self.latencies else float("nan")


async def timed(base: str, make: Callable[[int], Request], seconds: float, concurrency: int,
                check: Callable[[aiohttp.ClientResponse, bytes], None]) -> tuple[list[float],
                                                                             float]:
    """Send requests for ``seconds`` with ``concurrency`` in flight: (ms each, wall s)."""
    latencies: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                path, params = make(next(counter))
                t0 = time.perf_counter()
                async with s.get(base + API + path, params=params) as r:
                    body = await r.read()
                latencies.append((time.perf_counter() - t0) * 1000)
                check(r, body)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start


def healthy(r: aiohttp.ClientResponse, body: bytes) -> None:
    """A full answer: 200 and no source reported failed (a partial answer is faster and
    would flatter the prefecture)."""
    if r.status != 200:
        raise RuntimeError(f"{r.url} answered {r.status}: {body[:300]!r}")
    if "NGSILD-Warning" in r.headers:
        raise RuntimeError(f"{r.url}: NGSILD-Warning {r.headers['NGSILD-Warning']}")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU-seconds (user + system) these processes have used (a gone one counts 0)."""
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / TICK
    return total


def local_only(r: aiohttp.ClientResponse, body: bytes) -> None:
    """The prefecture's own part (``local=true``): it holds none of the entities, so a
    retrieval answers 404, which is that part's answer."""
    if r.status != 404:
        healthy(r, body)


async def idle_cpu(pids: list[int], seconds: float = 3.0) -> tuple[float, float]:
    """CPU-seconds per second the servers (all; ``pids[0]`` alone) use doing nothing
    (their background loops), subtracted from every cell so a slow cell is not charged
    more of it per request."""
    cpu0, own0, t0 = cpu_seconds(pids), cpu_seconds(pids[:1]), time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - t0
    return (cpu_seconds(pids) - cpu0) / wall, (cpu_seconds(pids[:1]) - own0) / wall


async def measure(bases: dict[str, str], n: int, args: argparse.Namespace, concurrency: int,
                  pids: list[int], only: tuple[str, ...] = ()) -> dict[tuple[str, str], Cell]:
    """Every shape (or those in ``only``) against every target in alternating rounds.
    Target ``local`` is the prefecture asked with ``local=true``: the part of its work
    that does not involve the sources. ``pids[0]`` is the prefecture's process; ``args.idle``
    is ``idle_cpu``'s figure."""
    cells: dict[tuple[str, str], Cell] = {}
    order = list(bases)
    for shape, make in shapes(n).items():
        if only and shape not in only:
            continue
        for r in range(args.rounds):
            k = r % len(order)
            for t in order[k:] + order[:k]:
                def request(i: int, t: str = t, make: Callable[[str, int], Request] = make
                            ) -> Request:
                    if t != "local":
                        return make(t, i)
                    path, params = make("pref", i)
                    return path, {**params, "local": "true"}
                cpu0, own0 = cpu_seconds(pids), cpu_seconds(pids[:1])
                lat, wall = await timed(bases[t], request, args.seconds, concurrency,
                                        local_only if t == "local" else healthy)
                cell = cells.setdefault((shape, t), Cell())
                cell.cpu += max(cpu_seconds(pids) - cpu0 - args.idle[0] * wall, 0.0)
                cell.own += max(cpu_seconds(pids[:1]) - own0 - args.idle[1] * wall, 0.0)
                cell.latencies += lat
                cell.seconds += wall
    return cells


def table(title: str, cells: dict[tuple[str, str], Cell], labels: dict[str, str]) -> None:
    """One line per shape: each target's p50/p95/req/s, the added p95 over the slowest
    source and the ratios that tell a concurrent fan-out from a serial one; with target
    ``local``, the prefecture's own part last."""
    targets = [t for t in ("a", "b", "pref", "local") if any(k[1] == t for k in cells)]
    print(f"\n## {title}")
    head = "".join(f"| {labels[t]:^31}" for t in targets[:3])
    tail = f"| {labels['local']:^31}" if "local" in targets else ""
    print(f"{'shape':<20}{head}| {'added p50':>9} {'p95':>6} {'≤20ms':>5} | "
          f"{'pref/slowest':>12} {'pref/sum':>8} | {'pref own':>8} {tail}")
    cols = "| {:>7} {:>7} {:>6} {:>7} ".format("p50", "p95", "req/s", "cpu ms")
    print(f"{'':<20}{cols * 3}| {'(ms)':>9} {'':>6} {'':>5} | {'(p95)':>12} {'(p95)':>8} | "
          f"{'cpu ms':>8} {cols if tail else ''}")
    for shape in dict.fromkeys(k[0] for k in cells):
        a, b, pref = (cells[(shape, t)] for t in ("a", "b", "pref"))
        row = "".join(f"| {c.p(50):7.1f} {c.p(95):7.1f} {c.rate():6.0f} {c.cpu_ms():7.2f} "
                      for c in (a, b, pref))
        slowest = max(a.p(95), b.p(95))
        added = pref.p(95) - slowest
        extra = ""
        if tail:
            loc = cells[(shape, "local")]
            extra = (f"| {loc.p(50):7.1f} {loc.p(95):7.1f} {loc.rate():6.0f} "
                     f"{loc.cpu_ms():7.2f}")
        print(f"{shape:<20}{row}| {pref.p(50) - max(a.p(50), b.p(50)):9.1f} {added:6.1f} "
              f"{'yes' if added <= 20 else 'NO':>5} | {pref.p(95) / slowest:12.2f} "
              f"{pref.p(95) / (a.p(95) + b.p(95)):8.2f} | {pref.cpu_ms(own=True):8.2f} {extra}",
              flush=True)


def pooled(port: int) -> tuple[int, int]:
    """(established, time-wait) TCP connections towards ``port``: after the load
    generator has closed its sessions, the established ones are the prefecture's pool."""
    def count(state: str) -> int:
        out = subprocess.run(["ss", "-Htn", "state", state, f"( dport = :{port} )"],
                             capture_output=True, text=True, check=False).stdout
        return len([line for line in out.splitlines() if line.strip()])
    return count("established"), count("time-wait")


@dataclass
class Outage:
    latencies: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    totals: list[str | None] = field(default_factory=list)


async def outage(pref: str, requests: int) -> Outage:
    """``requests`` sequential counted queries at the prefecture while B is down."""
    out = Outage()
    async with aiohttp.ClientSession() as s:
        for _ in range(requests):
            t0 = time.perf_counter()
            async with s.get(pref + API + "/entities",
                             params={"type": TYPE, "count": "true", "limit": "20"}) as r:
                body = await r.json()
                out.latencies.append((time.perf_counter() - t0) * 1000)
                if r.status != 200 or len(body) != 20:
                    raise RuntimeError(f"prefecture with B down: {r.status}, {len(body)}")
                out.warnings.append(r.headers.get("NGSILD-Warning", ""))
                out.totals.append(r.headers.get("NGSILD-Results-Count"))
    return out


def report_outage(title: str, o: Outage, n: int, timeout: float) -> None:
    lat = o.latencies
    warned = sum(1 for w in o.warnings if w)
    slow = [x for x in lat if x > 100]
    print(f"\n## {title}: {len(lat)} sequential counted queries at the prefecture")
    print(f"  latency ms: first {', '.join(f'{x:.0f}' for x in lat[:4])}; max {max(lat):.0f};"
          f" median of the rest {statistics.median(lat[4:]) if len(lat) > 4 else 0:.1f}")
    print(f"  within federation_timeout ({timeout:g} s) + 1 s: "
          f"{'yes' if max(lat) <= (timeout + 1) * 1000 else 'NO'}; answers that waited "
          f"(> 100 ms): {len(slow)}")
    print(f"  NGSILD-Warning on {warned}/{len(lat)}; count {set(o.totals)} (A alone: {n})")
    kinds = dict.fromkeys(w.split('"')[1] if '"' in w else w for w in o.warnings)
    for kind in kinds:
        print(f"    warning: {kind}")


# -- the run -----------------------------------------------------------------------------------

class Registrations:
    """The prefecture's two registrations, re-pointed between the parts of the run (a
    registration's endpoint is replaced by deleting it and registering the new one)."""

    def __init__(self, pref: str) -> None:
        self.pref = pref
        self.ids: dict[str, str] = {}

    async def point(self, city: str, endpoint: str) -> None:
        if city in self.ids:
            await unregister(self.pref, self.ids[city])
        self.ids[city] = await register(self.pref, endpoint)


async def bench(args: argparse.Namespace, urls: dict[str, str], ports: dict[str, int],
                procs: dict[str, Proc], fed_timeout: float) -> None:
    local = "http://127.0.0.1:{}".format
    bases = {t: local(ports[t]) for t in ("a", "b", "pref")}
    for t in ("a", "b", "pref"):
        await wait_up(bases[t] + API + "/types", procs[t])
    t0 = time.perf_counter()
    await asyncio.gather(load(bases["a"], "a", args.entities),
                         load(bases["b"], "b", args.entities))
    await asyncio.gather(*(vacuum(u) for u in urls.values()))
    regs = Registrations(bases["pref"])
    await regs.point("a", bases["a"])
    await regs.point("b", bases["b"])
    await sanity(bases["pref"], args.entities)
    print(f"# loaded {args.entities:,} entities into A and B in "
          f"{time.perf_counter() - t0:.1f} s; the prefecture answers with both", flush=True)

    labels = {"a": "source A", "b": "source B", "pref": "prefecture (A+B)",
              "local": "prefecture local=true"}
    pids = [procs["pref"].popen.pid] + [p.popen.pid for k, p in procs.items() if k != "pref"]
    args.idle = await idle_cpu(pids)
    print(f"# the servers' CPU when idle: {args.idle[0] * 1000:.1f} ms/s, the prefecture's "
          f"{args.idle[1] * 1000:.1f} ms/s (subtracted from the cpu ms figures)", flush=True)
    for c in (int(c) for c in args.concurrency.split(",")):
        cells = await measure({**bases, "local": bases["pref"]}, args.entities, args, c, pids)
        table(f"both sources healthy, concurrency {c}", cells, labels)
    print("\n# the prefecture's connections to its sources after those rounds "
          "(established = its keep-alive pool; time-wait includes the load generator's):")
    for t in ("a", "b"):
        est, tw = pooled(ports[t])
        print(f"  to source {t.upper()} (:{ports[t]}): established {est}, time-wait {tw}")

    # delayed sources: each measured directly through its proxy, as the prefecture sees it
    c, d = args.slow_concurrency, f"+{args.delay_ms:g} ms"
    delayed = argparse.Namespace(rounds=max(2, args.rounds - 1), seconds=args.seconds,
                                 idle=args.idle)
    await regs.point("b", local(ports["slow_b"]))
    await sanity(bases["pref"], args.entities)
    cells = await measure({**bases, "b": local(ports["slow_b"])}, args.entities, delayed, c,
                          pids)
    table(f"source B delayed {d} (proxy), concurrency {c}", cells, {**labels, "b": f"B {d}"})
    await regs.point("a", local(ports["slow_a"]))
    cells = await measure({"a": local(ports["slow_a"]), "b": local(ports["slow_b"]),
                           "pref": bases["pref"]}, args.entities, delayed, c, pids,
                          only=("type, limit=20", "retrieve remote id", "type, count=true"))
    table(f"both sources delayed {d} (a serial fan-out would take the sum), concurrency {c}",
          cells, {**labels, "a": f"A {d}", "b": f"B {d}"})
    await regs.point("a", bases["a"])

    # B hangs: a proxy that never answers
    await regs.point("b", local(ports["hung"]))
    report_outage("source B hangs (accepts, never answers)",
                  await outage(bases["pref"], args.outage_requests), args.entities, fed_timeout)

    # B's process stopped
    await regs.point("b", bases["b"])
    procs["b"].stop()
    report_outage("source B stopped (connection refused)",
                  await outage(bases["pref"], args.outage_requests), args.entities, fed_timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=5000, help="per municipality")
    parser.add_argument("--seconds", type=float, default=2, help="per cell and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8", help="comma-separated")
    parser.add_argument("--delay-ms", type=float, default=50)
    parser.add_argument("--slow-concurrency", type=int, default=4,
                        help="concurrency of the delayed-source parts")
    parser.add_argument("--outage-requests", type=int, default=12)
    parser.add_argument("--federation-timeout", type=float,
                        help="the prefecture's RENKEI_FEDERATION_TIMEOUT (default: the hub's "
                        "setting from the environment, else its default)")
    parser.add_argument("--proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy:
        asyncio.run(_proxy(args.proxy, args.upstream, args.delay_ms / 1000))
        return

    admin = os.environ.get("RENKEI_BENCH_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
    pref_env: dict[str, str] = {}
    if args.federation_timeout is not None:
        pref_env["RENKEI_FEDERATION_TIMEOUT"] = f"{args.federation_timeout:g}"
    timeout = Settings.from_env({**os.environ, **pref_env}).federation_timeout
    ports = dict(zip(("a", "b", "pref", "slow_a", "slow_b", "hung"), free_ports(6),
                     strict=True))
    urls = {t: database_url(admin, DATABASES[t]) for t in ("a", "b", "pref")}
    asyncio.run(create_databases(admin))
    procs: dict[str, Proc] = {}
    ok = False
    try:
        procs["a"] = start_hub("a", urls["a"], ports["a"], {})
        procs["b"] = start_hub("b", urls["b"], ports["b"], {})
        procs["pref"] = start_hub("pref", urls["pref"], ports["pref"], pref_env)
        for city in ("a", "b"):
            procs[f"slow_{city}"] = start_proxy(f"slow_{city}", ports[f"slow_{city}"],
                                                f"http://127.0.0.1:{ports[city]}", args.delay_ms)
        procs["hung"] = start_proxy("hung", ports["hung"], f"http://127.0.0.1:{ports['b']}",
                                    3_600_000)
        load_before = os.getloadavg()
        print(f"# {os.cpu_count()} CPUs, load average {load_before[0]:.2f}; "
              f"{args.entities:,} entities per municipality; {args.rounds} rounds of "
              f"{args.seconds:g} s per cell; prefecture federation_timeout {timeout:g} s; "
              f"dev auth mode; ports {ports}", flush=True)
        asyncio.run(bench(args, urls, ports, procs, timeout))
        print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
        ok = True
    finally:
        for proc in procs.values():
            proc.stop()
        with contextlib.suppress(Exception):
            asyncio.run(drop_databases(admin))
        for proc in procs.values():
            if ok:  # a failed run keeps the processes' output for a look
                with contextlib.suppress(OSError):
                    os.unlink(proc.log.name)
            else:
                print(f"# {proc.name}'s output: {proc.log.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
