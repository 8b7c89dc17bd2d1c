"""Overload benchmark (issue #18): a load above capacity, then normal load.

Empties the given database (every tenant schema and the registry: never point it at data
you keep), starts ``renkei serve`` on it and, at the same time:

- *small* clients: one GET or small PATCH after another (``--small`` clients, each with a
  pause of ``--think`` s), timing each request, through all phases;
- *bulk* clients during the overload phase only: ``--bulk`` clients each sending 1,000-entity
  batch upserts back to back, well above what the hub can absorb.

Phases: ``--warm`` s of small load alone, ``--overload`` s with the batches, ``--after`` s of
small load alone again. It prints the p50/p95 of small requests per phase, their status
counts (503 is shedding, 500 would be a bug), the time after the overload until small
requests are back within 2x their warm p95 (time to recover), and the hub's RSS every
second. ``--bulk-concurrency`` sets the hub's ``bulk_concurrency`` to compare with and
without the bulk gate (a large value disables it).

    .venv/bin/python bench/overload.py --database-url postgresql://... --overload 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hubsetup import register_catch_all
from tests.conftest import reset_database
from tests.hubproc import free_port

NGSI = "/ngsi-ld/v1"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def batch(client: int, round_: int) -> list[dict[str, object]]:
    return [{"id": f"urn:ngsi-ld:Bench:{client}-{i}", "type": "Bench",
             "n": {"type": "Property", "value": round_}, "name": {"type": "Property",
                                                                   "value": f"e{i}" * 10}}
            for i in range(1000)]


class Run:
    def __init__(self) -> None:
        self.phase = "warm"
        self.small: list[tuple[float, str, float, int]] = []  # (end, phase, seconds, status)
        self.bulk: list[tuple[float, int]] = []
        self.rss: list[tuple[float, float]] = []
        self.stop = False


async def small_client(s: aiohttp.ClientSession, base: str, run: Run, k: int,
                       think: float) -> None:
    eid = f"urn:ngsi-ld:Small:{k}"
    n = 0
    while not run.stop:
        n += 1
        start = time.monotonic()
        try:
            if n % 2:
                async with s.get(f"{base}{NGSI}/entities/{eid}") as r:
                    await r.read()
                    status = r.status
            else:
                async with s.patch(f"{base}{NGSI}/entities/{eid}/attrs",
                                   json={"n": {"type": "Property", "value": n}}) as r:
                    await r.read()
                    status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        end = time.monotonic()
        run.small.append((end, run.phase, end - start, status))
        await asyncio.sleep(think)


async def bulk_client(s: aiohttp.ClientSession, base: str, run: Run, k: int) -> None:
    r_ = 0
    while run.phase == "overload":
        r_ += 1
        try:
            async with s.post(f"{base}{NGSI}/entityOperations/upsert",
                              json=batch(k, r_)) as r:
                await r.read()
                run.bulk.append((time.monotonic(), r.status))
        except (aiohttp.ClientError, TimeoutError):
            run.bulk.append((time.monotonic(), 0))


async def sample_rss(pid: int, run: Run) -> None:
    proc = psutil.Process(pid)
    t0 = time.monotonic()
    while not run.stop:
        run.rss.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
        await asyncio.sleep(1.0)


async def main(args: argparse.Namespace) -> None:
    await reset_database(args.database_url)  # a fresh hub: every tenant schema dropped
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RENKEI_DATABASE_URL": args.database_url, "RENKEI_PORT": str(port),
           "RENKEI_AUTH_MODE": "dev", "RENKEI_LOG_FORMAT": "text",
           "RENKEI_LOG_LEVEL": "WARNING",
           "RENKEI_BULK_CONCURRENCY": str(args.bulk_concurrency)}
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "serve", env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    run = Run()
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=0)) as s:
            for _ in range(200):
                try:
                    async with s.get(base + "/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            await register_catch_all(s, base)
            for k in range(args.small):
                async with s.post(f"{base}{NGSI}/entities", json={
                        "id": f"urn:ngsi-ld:Small:{k}", "type": "Small",
                        "n": {"type": "Property", "value": 0}}) as r:
                    assert r.status in (201, 409), await r.text()
            tasks = [asyncio.create_task(sample_rss(hub.pid, run))]
            tasks += [asyncio.create_task(small_client(s, base, run, k, args.think))
                      for k in range(args.small)]
            await asyncio.sleep(args.warm)
            run.phase = "overload"
            overload_end = time.monotonic() + args.overload
            bulk = [asyncio.create_task(bulk_client(s, base, run, k))
                    for k in range(args.bulk)]
            await asyncio.sleep(max(0.0, overload_end - time.monotonic()))
            run.phase = "after"
            after_start = time.monotonic()
            await asyncio.sleep(args.after)
            run.stop = True
            await asyncio.gather(*tasks, *bulk, return_exceptions=True)
    finally:
        hub.terminate()
        await asyncio.wait_for(hub.wait(), timeout=20)
    report(run, after_start, args)


def report(run: Run, after_start: float, args: argparse.Namespace) -> None:
    print(f"bulk_concurrency={args.bulk_concurrency} small clients={args.small}"
          f" bulk clients={args.bulk}")
    for phase in ("warm", "overload", "after"):
        times = [d * 1000 for _, p, d, _ in run.small if p == phase]
        statuses: dict[int, int] = {}
        for _, p, _, st in run.small:
            if p == phase:
                statuses[st] = statuses.get(st, 0) + 1
        print(f"  small {phase:8s}: n={len(times):5d} p50={pct(times, 50):8.1f} ms"
              f" p95={pct(times, 95):8.1f} ms statuses={dict(sorted(statuses.items()))}")
    bulk_statuses: dict[int, int] = {}
    for _, st in run.bulk:
        bulk_statuses[st] = bulk_statuses.get(st, 0) + 1
    print(f"  bulk batches of 1,000: {dict(sorted(bulk_statuses.items()))}")
    warm = [d for _, p, d, _ in run.small if p == "warm"]
    bound = 2 * pct(warm, 95) if warm else 0.1
    recovered = None
    after = [(end - after_start, d) for end, p, d, _ in run.small if p == "after"]
    for second in range(int(args.after)):
        window = [d for t, d in after if second <= t < second + 1]
        if window and pct(window, 95) <= bound:  # the first second back to normal
            recovered = float(second + 1)
            break
    print(f"  time to recover (a 1 s window's p95 within {bound * 1000:.0f} ms): "
          + (f"{recovered:.2f} s" if recovered is not None else "not within the run"))
    print("  RSS MiB over time: " + " ".join(f"{t:.0f}s:{m:.0f}" for t, m in run.rss))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("RENKEI_DATABASE_URL"),
                        required="RENKEI_DATABASE_URL" not in os.environ)
    parser.add_argument("--warm", type=float, default=5.0)
    parser.add_argument("--overload", type=float, default=300.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--small", type=int, default=4)
    parser.add_argument("--think", type=float, default=0.02)
    parser.add_argument("--bulk", type=int, default=4)
    parser.add_argument("--bulk-concurrency", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
