"""The request loop the benchmarks share: workers on one HTTP session, every request timed.

``bench/run.py`` sends a fixed number of requests (``drive``), ``bench/workload13.py`` as
many as fit in a time box (``timed_requests`` with ``seconds``); one loop, so both measure
the same way. Imported as ``rounds`` by run.py (bench/ is sys.path[0] when it runs as a
script) and as ``bench.rounds`` by workload13.py.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import aiohttp

#: one request: ``call(session, i)`` sends request ``i`` and returns its status
Call = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def timed_requests(concurrency: int, call: Call, *, requests: int | None = None,
                         seconds: float = math.inf) -> tuple[int, float, list[float]]:
    """Send ``requests`` requests (without a number: until ``seconds`` have passed) with
    ``concurrency`` in flight: (requests answered, wall seconds, latencies in ms). A status
    of 300 or more ends the run: a refused request would flatter the rate."""
    latencies: list[float] = []
    counter = iter(range(10**9 if requests is None else requests))
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker() -> None:
            while time.perf_counter() < deadline and (i := next(counter, None)) is not None:
                t0 = time.perf_counter()
                status = await call(s, i)
                latencies.append((time.perf_counter() - t0) * 1000)
                if status >= 300:
                    raise RuntimeError(f"request {i} answered {status}")
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return len(latencies), wall, latencies


async def drive(n: int, concurrency: int, make: Call) -> tuple[float, list[float]]:
    """Run ``n`` requests with ``concurrency`` workers; (requests/s, latencies in ms)."""
    done, wall, latencies = await timed_requests(concurrency, make, requests=n)
    return done / wall, latencies


async def wait_up(url: str, attempts: int = 300) -> None:
    """Wait for a server just started: ``url`` answers anything (every 0.1 s, at most
    ``attempts`` times)."""
    async with aiohttp.ClientSession() as s:
        for _ in range(attempts):
            try:
                async with s.get(url) as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")
