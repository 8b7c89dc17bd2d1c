"""Hub CPU per request: queries, retrieve, create, PATCH (issue #13; a script, not a test).

Starts the hub in this process (dev auth mode, a catch-all dataset), loads N
TrafficFlowObserved-like entities (bench/query_matrix.py's generator), then for each
request shape sends R requests one after another and reports the process CPU per request
(``time.process_time``) minus a baseline: the same client calls against a bare aiohttp
handler answering a body of the same size. What is left is the hub's own Python per
request (middlewares, access, @context, q, planning, row decoding, rendering) plus
asyncpg's client side of the SQL — PostgreSQL runs in another process and is not counted.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/renkei_py \
        .venv/bin/python bench/profile_query.py [--entities 20000] [--requests 500] \
        [--runs 3] [--keep] [--profile] [--shapes "query q,retrieve"]

Per shape, more detail on request: ``--breakdown`` times each step of the handler
(``BREAKDOWN``: wrappers around the functions the handler calls, CPU per request);
``--sample`` records the Python stack every few ms of CPU (``ITIMER_PROF``) and prints
each function's share of the handler's CPU; ``--profile`` runs cProfile, whose per-call
overhead inflates small functions called per entity several-fold. ``--keep`` reuses the
entities already loaded. Results: docs/performance.md, "Hub CPU per request".
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import importlib
import inspect
import io
import os
import pstats
import random
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hubsetup import register_catch_all
from bench.query_matrix import BASE, LINK, SCALE, TYPE, entity
from hub.app import create_app
from hub.settings import Settings

JSON, JSONLD = "application/json", "application/ld+json"
Request = tuple[str, str, dict[str, str], dict[str, str], bytes | None]
#: method, path, params, headers, body


def shapes(n: int) -> dict[str, Callable[[random.Random], Request]]:
    """Request makers: a fresh threshold / id per request, as a real client sends."""

    def query(link: bool, accept: str, two: bool = False,
              fresh: bool = False) -> Callable[[random.Random], Request]:
        def make(r: random.Random) -> Request:
            # ~1 %: a full page of 20; as bench/query_matrix.py draws it, ~200 distinct
            # texts, or with ``fresh`` a new text every request (no parse or compile kept)
            t: float = int(SCALE * (1 - 0.01 * r.uniform(0.9, 1.1)))
            if fresh:
                t = round(t + r.random(), 6)
            q = f"intensity>={t}" + (f";occupancy>={SCALE // 2}" if two else "")
            headers = {"Accept": accept, **(LINK if link else {})}
            return "GET", BASE + "/entities", {"type": TYPE, "q": q, "limit": "20"}, headers, None
        return make

    def retrieve(link: bool, accept: str) -> Callable[[random.Random], Request]:
        def make(r: random.Random) -> Request:
            eid = f"urn:ngsi-ld:{TYPE}:{r.randrange(n)}"
            return ("GET", BASE + "/entities/" + eid, {},
                    {"Accept": accept, **(LINK if link else {})}, None)
        return make

    def geo(name: str) -> Callable[[random.Random], Request]:
        def make(r: random.Random) -> Request:
            from bench.query_matrix import shapes as matrix_shapes

            params = {"type": TYPE, "limit": "20", **matrix_shapes()[name](0.01, r)}
            return "GET", BASE + "/entities", params, {"Accept": JSON, **LINK}, None
        return make

    def create(r: random.Random) -> Request:
        body = entity(0, r)
        # unique across runs and --keep, whatever the seed
        body["id"] = f"urn:ngsi-ld:{TYPE}:new{os.urandom(8).hex()}"
        return ("POST", BASE + "/entities", {}, {"Content-Type": JSON, **LINK},
                orjson.dumps(body))

    def patch(r: random.Random) -> Request:
        eid = f"urn:ngsi-ld:{TYPE}:{r.randrange(n)}"
        body = {"intensity": {"type": "Property", "value": r.randrange(SCALE)}}
        return ("PATCH", BASE + f"/entities/{eid}/attrs", {},
                {"Content-Type": JSON, **LINK}, orjson.dumps(body))

    def upsert(r: random.Random) -> Request:
        # 100 existing entities with new values: a replace batch, as adapters send
        first = r.randrange(max(1, n - 100))
        body = [entity(i, r) for i in range(first, first + 100)]
        return ("POST", BASE + "/entityOperations/upsert", {},
                {"Content-Type": JSON, **LINK}, orjson.dumps(body))

    return {
        "create json link": create,
        "upsert 100 json link": upsert,
        "patch attrs json link": patch,
        "query geo within link": geo("geo within"),
        "query geo near link": geo("geo near"),
        "query q json": query(False, JSON),
        "query q json link": query(True, JSON),
        "query q ld": query(False, JSONLD),
        "query q ld link": query(True, JSONLD),
        "query q2 json link": query(True, JSON, two=True),
        "query fresh q2 json link": query(True, JSON, two=True, fresh=True),
        "retrieve json": retrieve(False, JSON),
        "retrieve ld link": retrieve(True, JSONLD),
    }


async def run(client: TestClient, make: Callable[[random.Random], Request],
              requests: int, seed: int) -> tuple[float, int]:
    """(CPU seconds of this process, mean body bytes) for ``requests`` sequential calls."""
    rnd = random.Random(seed)
    todo = [make(rnd) for _ in range(requests)]
    size = 0
    t0 = time.process_time()
    for method, path, params, headers, data in todo:
        resp = await client.request(method, path, params=params, headers=headers, data=data)
        body = await resp.read()
        assert resp.status in (200, 201, 204), (path, params, body[:300])
        size += len(body)
    return time.process_time() - t0, size // requests


HANDLER_CPU: list[float] = []


@web.middleware
async def handler_cpu(request: web.Request, handler: Any) -> web.StreamResponse:
    """CPU of this process from the request's arrival at the first middleware to its
    response: with one request at a time nothing else runs meanwhile but background
    tasks, so this is the hub's own share (aiohttp's parsing and writing excluded)."""
    t0 = time.process_time()
    try:
        return await handler(request)
    finally:
        HANDLER_CPU.append(time.process_time() - t0)


def bare_app(size: int) -> web.Application:
    """The baseline: one handler that answers ``size`` bytes of JSON, nothing else."""
    body = b'"' + b"x" * max(0, size - 2) + b'"'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", BASE + "/{tail:.*}", handler)
    return app


async def baseline(make: Callable[[random.Random], Request], size: int,
                   requests: int) -> float:
    """CPU seconds of the same client calls against bare_app (client + aiohttp server)."""
    client = TestClient(TestServer(bare_app(size)))
    await client.start_server()
    try:
        await run(client, make, 50, 1)  # warm-up
        return (await run(client, make, requests, 2))[0]
    finally:
        await client.close()


def top(profile: cProfile.Profile, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(r"hub/|aiohttp/web|asyncpg", limit)
    stats.sort_stats("tottime").print_stats(limit)
    return "\n".join(line for line in out.getvalue().splitlines()
                     if line.strip() and "function calls" not in line)


class Sampler:
    """A statistical profiler: every ``interval`` s of this process's CPU (``ITIMER_PROF``)
    the running Python stack is recorded; a function's share of the samples in which it is
    on the stack is its share of the CPU, with none of cProfile's per-call overhead (which
    inflates small, often-called functions such as the renderer's several-fold)."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.samples = 0  # those inside the hub's middlewares and handler
        self.all = 0
        self.inclusive: Counter[str] = Counter()
        self.own: Counter[str] = Counter()

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        stack: list[str] = []
        while frame is not None:
            code = frame.f_code
            stack.append(f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})")
            frame = frame.f_back
        self.all += 1
        if not any(where.endswith("(handler_cpu)") for where in stack):
            return  # the client, aiohttp's protocol, background tasks
        self.samples += 1
        self.own[stack[0]] += 1
        for where in set(stack):
            self.inclusive[where] += 1

    def __enter__(self) -> Sampler:
        signal.signal(signal.SIGPROF, self._tick)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def report(self, limit: int) -> str:
        lines = [f"{self.samples} samples in the handler of {self.all}; % of the handler's"
                 " CPU with the function on the stack (inclusive) / running its own code"
                 " (own)"]
        for where, n in self.inclusive.most_common(limit):
            share, own = 100 * n / self.samples, 100 * self.own[where] / self.samples
            lines.append(f"{share:6.1f} {own:6.1f}  {where}")
        return "\n".join(lines)


#: what ``--breakdown`` times: (module, attribute, label); a handler's steps as the handler
#: module imported them, so the replacement is the one it calls
BREAKDOWN = (
    ("hub.api.entities", "check_params", "check_params"),
    ("hub.api.entities", "accepted_type", "accepted_type"),
    ("hub.api.entities", "request_context", "request_context (Link, @context)"),
    ("hub.api.entities", "parse_render", "parse_render"),
    ("hub.api.entities", "selection_from_query", "selection_from_query (type, q parse)"),
    ("hub.service.entities", "build_filter", "build_filter (q compile)"),
    ("hub.api.entities", "tenant_schema", "tenant_schema"),
    ("hub.federation.reads", "plan_query", "federation plan_query"),
    ("hub.federation.reads", "retrieve", "federation retrieve (all SQL)"),
    ("hub.service.entities", "retrieve", "service retrieve"),
    ("hub.store.entities", "fetch_entity", "store fetch_entity"),
    ("hub.service.entities", "query", "service query (all SQL)"),
    ("hub.store.entities", "fetch_entities", "store fetch_entities"),
    ("hub.store.entities", "row_to_entity", "store row_to_entity"),
    ("hub.db.pool", "_jsonb_in", "jsonb decoding (in asyncpg's protocol)"),
    ("asyncpg.pool", "Pool._acquire", "pool acquire"),
    ("asyncpg.pool", "Pool.release", "pool release"),
    ("hub.api.entities", "render_list", "render_list"),
    ("hub.api.entities", "render_entity", "render_entity"),
    ("hub.api.entities", "json_response", "json_response"),
)
SPENT: Counter[str] = Counter()
CALLS: Counter[str] = Counter()


def _timed(label: str, func: Any) -> Any:
    """``func`` with its CPU (``process_time``, so an await's idle time is not counted,
    though other callbacks run meanwhile are) added to ``SPENT[label]``."""
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return await func(*args, **kwargs)
            finally:
                SPENT[label] += time.process_time() - t0
                CALLS[label] += 1
        return timed_async

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            SPENT[label] += time.process_time() - t0
            CALLS[label] += 1
    return timed


def install_breakdown() -> None:
    """Wrap every BREAKDOWN step (before the app starts: the jsonb codec is taken at
    connect). Each wrapper costs ~1 us, so a step called per entity reads ~20 us high."""
    for module_name, attr, label in BREAKDOWN:
        if label == "-":
            continue
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(label, getattr(owner, name)))


def breakdown_report(requests: int) -> str:
    lines = ["CPU per request by step (us; nested steps are inside the ones above them)"]
    for label, spent in SPENT.most_common():
        lines.append(f"{spent / requests * 1e6:8.1f}  x{CALLS[label] / requests:<5.1f} {label}")
    return "\n".join(lines)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        at = filename.find(marker)
        if at >= 0:
            return filename[at + len(marker):]
    return filename


async def load(client: TestClient, url: str, n: int) -> None:
    async with aiohttp.ClientSession() as s:
        await register_catch_all(s, str(client.make_url("")).rstrip("/"))
    rnd = random.Random(13)
    for start in range(0, n, 1000):
        batch = [entity(i, rnd) for i in range(start, min(n, start + 1000))]
        resp = await client.post(BASE + "/entityOperations/upsert", json=batch)
        assert resp.status in (201, 204), await resp.text()
    con = await asyncpg.connect(url)
    await con.execute("VACUUM ANALYZE")
    await con.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile each shape")
    parser.add_argument("--sample", action="store_true",
                        help="sample each shape's stacks (no per-call overhead)")
    parser.add_argument("--breakdown", action="store_true",
                        help="CPU per request of each step of the handler (BREAKDOWN)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--shapes", default="", help="comma-separated shape names")
    parser.add_argument("--database-url", default=os.environ.get(
        "RENKEI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/renkei_py"))
    args = parser.parse_args()
    url = args.database_url
    if not args.keep:
        con = await asyncpg.connect(url)
        for schema in ("ngsild", "renkei", "registry", "authz"):
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await con.close()
    if args.breakdown:
        install_breakdown()
    app = create_app(Settings(database_url=url, auth_mode="dev", log_level="WARNING",
                              default_rate_per_minute=10**9))
    app.middlewares.insert(0, handler_cpu)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        if not args.keep:
            await load(client, url, args.entities)
        wanted = [s for s in args.shapes.split(",") if s]
        print(f"load average {os.getloadavg()[0]:.2f}; {args.requests} requests x "
              f"{args.runs} runs per shape; microseconds of CPU per request")
        # total: the process per request (median of the runs); base: the same client
        # against bare_app; hub = total - base (min: of the best run); handler: inside
        # the middlewares (asyncpg's row decoding, done in its protocol, is not in it)
        print(f"{'shape':<26}{'total':>7}{'base':>7}{'hub':>7}{'min':>7}{'handler':>8}"
              f"{'bytes':>7}")
        for name, make in shapes(args.entities).items():
            if wanted and name not in wanted:
                continue
            await run(client, make, 50, 0)  # warm-up: caches, prepared statements
            totals, inside, size = [], [], 0
            for i in range(args.runs):
                HANDLER_CPU.clear()
                cpu, size = await run(client, make, args.requests, 100 + i)
                totals.append(cpu)
                inside.append(sum(HANDLER_CPU))
            base = await baseline(make, size, args.requests)
            total_us = statistics.median(totals) / args.requests * 1e6
            base_us = base / args.requests * 1e6
            inside_us = statistics.median(inside) / args.requests * 1e6
            best_us = min(totals) / args.requests * 1e6 - base_us
            print(f"{name:<26}{total_us:>7.0f}{base_us:>7.0f}{total_us - base_us:>7.0f}"
                  f"{best_us:>7.0f}{inside_us:>8.0f}{size:>7}", flush=True)
            if args.breakdown:
                SPENT.clear()
                CALLS.clear()
                await run(client, make, args.requests, 300)
                print(breakdown_report(args.requests), flush=True)
            if args.profile:
                profile = cProfile.Profile(time.process_time)  # CPU, not waits
                profile.enable()
                await run(client, make, args.requests, 999)
                profile.disable()
                print(top(profile, args.top), flush=True)
            if args.sample:
                with Sampler() as sampler:
                    for i in range(3 * args.runs):  # the timer ticks at the kernel's HZ
                        await run(client, make, args.requests, 200 + i)
                print(sampler.report(args.top), flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
