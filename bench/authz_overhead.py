"""Access-control overhead (a script, not a test): retrieve-by-id and a type+q query with
enforcement off (``auth_mode=dev``, no token) and on (a private partner's bearer token
whose approved grant limits it to one attribute: the SQL access condition, the per-entity
decision, attribute stripping, the rate counter and the audit record all run).

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_authz \
        .venv/bin/python bench/authz_overhead.py [--entities 2000] [--requests 600]

Both hubs run in this process on one database with the same data; rounds alternate
(off, on, off, on, ...) so machine noise hits both alike. Reported: requests/s at
concurrency 8 and the median latency. Results: docs/performance.md, "Access control".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import keys
from hub.app import create_app
from hub.db.pool import create_pool
from hub.jsonld.core import DEFAULT_VOCAB
from hub.service import admin
from hub.settings import Settings
from registry import RegistryRepository
from registry.model import dataset_from_json, organisation_from_json

NAGANO, FIRM = "202011", "9234567890123"
BASE = "/ngsi-ld/v1"


async def reset(url: str) -> None:
    con = await asyncpg.connect(url)
    try:
        for schema in ("ngsild", "renkei", "registry", "authz"):
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await con.close()


async def setup(url: str, n: int) -> tuple[TestClient, TestClient, str]:
    common: dict[str, Any] = {"database_url": url, "default_rate_per_minute": 10**9,
                              "issuer": "http://bench", "log_level": "WARNING"}
    off = TestClient(TestServer(create_app(Settings(auth_mode="dev", **common))))
    on = TestClient(TestServer(create_app(Settings(auth_mode="enforce", **common))))
    await off.start_server()
    await on.start_server()
    pool = await create_pool(url, 1, 2)
    repo = RegistryRepository(pool)
    for org, en in ((NAGANO, "Nagano City"), (FIRM, "Bench KK")):
        await repo.save_organisation(organisation_from_json({"id": org,
                                                             "name": {"ja": en, "en": en}}))
    await repo.save_dataset(dataset_from_json(
        {"id": "nagano-rain", "owner": NAGANO, "name": {"ja": "雨量", "en": "rain"},
         "licence": "CC-BY-4.0", "updateFrequency": "hourly",
         "rule": {"entityTypes": ["Gauge"]}}, lambda t: DEFAULT_VOCAB + t))
    async with pool.acquire() as con:
        owner, owner_secret = await admin.create_client(
            con, {"name": "owner", "scopes": ["read", "write", "manage"]}, NAGANO)
        firm, firm_secret = await admin.create_client(
            con, {"name": "firm", "scopes": ["read", "manage"]}, FIRM)
    await pool.close()
    for app in (off.app, on.app):
        app[keys.REGISTRY_RULES].invalidate()
        await app[keys.ACCESS].refresh()

    async def token(cid: str, secret: str, **form: str) -> str:
        basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        resp = await on.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                    **form},
                             headers={"Authorization": f"Basic {basic}"})
        return str((await resp.json())["access_token"])

    owner_token = await token(owner.client_id, owner_secret or "")
    firm_token = await token(firm.client_id, firm_secret or "", purpose="bench")
    auth = {"Authorization": f"Bearer {owner_token}", "Content-Type": "application/json"}
    for start in range(0, n, 500):
        batch = [{"id": f"urn:ngsi-ld:Gauge:g{i}", "type": "Gauge",
                  "rain": {"type": "Property", "value": float(i % 50)},
                  "battery": {"type": "Property", "value": 80.0}}
                 for i in range(start, min(n, start + 500))]
        resp = await on.post(BASE + "/entityOperations/upsert", json=batch, headers=auth)
        assert resp.status in (201, 204), await resp.text()
    resp = await on.post("/authz/v1/grants", json={
        "dataset": "nagano-rain", "actions": ["read"], "purpose": "bench",
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
        "attributes": [DEFAULT_VOCAB + "rain"]},
        headers={"Authorization": f"Bearer {await token(firm.client_id, firm_secret or '')}"})
    gid = (await resp.json())["id"]
    resp = await on.post(f"/authz/v1/grants/{gid}/approve", json={},
                         headers={"Authorization": f"Bearer {owner_token}"})
    assert resp.status == 200, await resp.text()
    con = await asyncpg.connect(url)
    await con.execute("ANALYZE")
    await con.close()
    for app in (off.app, on.app):
        await app[keys.ACCESS].refresh()
    return off, on, firm_token


async def round_(client: TestClient, paths: list[str], headers: dict[str, str],
                 concurrency: int = 8) -> tuple[float, float, float]:
    """(requests/s, median latency ms, this process's CPU ms per request). The CPU
    figure covers the hub's Python work (and the client's, the same in both modes) and is
    far less disturbed by other load on a shared machine than wall-clock rates."""
    latencies: list[float] = []
    queue = list(paths)

    async def worker() -> None:
        while queue:
            path = queue.pop()
            t0 = time.perf_counter()
            resp = await client.get(path, headers=headers)
            await resp.read()
            assert resp.status == 200, (path, resp.status)
            latencies.append(time.perf_counter() - t0)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = (time.process_time() - c0) * 1000 / len(paths)
    return len(paths) / (time.perf_counter() - t0), statistics.median(latencies) * 1000, cpu


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL",
                         "postgresql://postgres@127.0.0.1:5432/bench_authz")
    await reset(url)
    off, on, firm_token = await setup(url, args.entities)
    checks = await (await on.get(BASE + "/entities/urn:ngsi-ld:Gauge:g7",
                                 headers={"Authorization": f"Bearer {firm_token}"})).json()
    assert "rain" in checks and "battery" not in checks, checks  # enforcement is on
    workloads = {
        "retrieve by id": [f"{BASE}/entities/urn:ngsi-ld:Gauge:g{(i * 7919) % args.entities}"
                           for i in range(args.requests)],
        "type + q query": [f"{BASE}/entities?type=Gauge&q=rain>{i % 45}&limit=20"
                           for i in range(args.requests)],
    }
    try:
        for name, paths in workloads.items():
            results: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
            await round_(off, paths[:50], {})  # warm both
            await round_(on, paths[:50], {"Authorization": f"Bearer {firm_token}"})
            for _ in range(args.rounds):
                results["off"].append(await round_(off, paths, {}))
                results["on"].append(await round_(
                    on, paths, {"Authorization": f"Bearer {firm_token}"}))
            off_rps, off_ms, off_cpu = (statistics.median(r[i] for r in results["off"])
                                        for i in range(3))
            on_rps, on_ms, on_cpu = (statistics.median(r[i] for r in results["on"])
                                     for i in range(3))
            print(f"{name}: off {off_rps:.0f} req/s ({off_ms:.2f} ms median), "
                  f"on {on_rps:.0f} req/s ({on_ms:.2f} ms median): "
                  f"{(1 - on_rps / off_rps) * 100:+.1f} % slower; hub CPU per request "
                  f"off {off_cpu:.3f} ms, on {on_cpu:.3f} ms: ratio {on_cpu / off_cpu:.2f}")
    finally:
        await off.close()
        await on.close()


if __name__ == "__main__":
    asyncio.run(main())
