"""Query shapes as a granted consumer sees them (a script, not a test).

``bench/query_matrix.py`` measures in development mode: every entity is visible, so a
query's selectivity is the share of entities it matches. A private firm sees only what
owners granted it, and the indexes that choose a plan (the value index, the candidate
sets) know nothing of grants: a term matching 10 % of the entities matches 1 % of what
the firm may read, and every hidden match is read and dropped by the access condition.

Here ten municipalities each own a dataset (``idPrefixes``) holding a tenth of N
``TrafficFlowObserved`` entities, written in batches of 1,000 in turn (the pk order
interleaves the owners). A firm holds one approved grant, on one municipality's dataset.
Each cell of the matrix (``query_matrix.shapes``, ``limit=20``, ``Link`` header) is run
twice in alternation per round: as the firm (enforcing hub, bearer token) and in
development mode on the same database, both hubs in this process.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<scratch db> \\
        .venv/bin/python bench/consumer_matrix.py [--entities 200000] [--requests 100] \\
        [--keep] [--shapes "q number,count"] [--selectivities 0.01,0.9] [--mixed 0.2]

Columns: req/s, p95 ms, results per page, buffers and PostgreSQL CPU ms per request (the
backends serving the database, ``workload13.CpuMeter``) for the firm, then the same in
development mode. Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import sys
import time
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.authz_overhead import reset
from bench.query_matrix import (
    BASE,
    OTHER_TYPES,
    SELECTIVITIES,
    TYPE,
    db_counters,
    entity,
    measure,
    other_entity,
    queried,
    shapes,
)
from bench.workload13 import CpuMeter
from hub import keys
from hub.app import create_app
from hub.db.pool import create_pool
from hub.service import admin
from hub.settings import Settings
from registry import RegistryRepository
from registry.codes import corporate_number_check_digit, local_government_check_digit
from registry.model import dataset_from_json, organisation_from_json

OWNERS = 10
FIRM = f"{corporate_number_check_digit('234567890123')}234567890123"
GRANTED = 3  # the municipality whose dataset the firm may read


def municipality(k: int) -> str:
    first5 = f"20{201 + k:03d}"
    return f"{first5}{local_government_check_digit(first5)}"


def prefix(k: int, kind: str = TYPE) -> str:
    """Municipality ``k``'s entity ids of type ``kind`` start so: its dataset's rule."""
    return f"urn:ngsi-ld:{kind}:m{k}-"


async def token(client: TestClient, cid: str, secret: str, **form: str) -> str:
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                    **form},
                             headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


async def setup(url: str, on: TestClient, n: int, keep: bool,
                share: float = 1.0) -> tuple[str, str]:
    """The organisations, datasets and entities (unless ``keep``), a fresh firm client
    and its approved grant; the firm's client id and secret. ``share``: the queried
    type's part of the entities, the rest of four other types (``query_matrix --mixed``),
    each municipality's in its dataset."""
    pool = await create_pool(url, 1, 2)
    repo = RegistryRepository(pool)
    owners = []
    for k in range(OWNERS):
        org = municipality(k)
        await repo.save_organisation(organisation_from_json(
            {"id": org, "name": {"ja": f"町{k}", "en": f"Town {k}"}}))
        await repo.save_dataset(dataset_from_json(
            {"id": f"m{k}-traffic", "owner": org, "name": {"ja": f"交通量{k}", "en": "traffic"},
             "licence": "CC-BY-4.0", "updateFrequency": "hourly",
             "rule": {"idPrefixes": [prefix(k, kind) for kind in (TYPE, *OTHER_TYPES)]}},
            lambda t: t))
        owners.append(org)
    await repo.save_organisation(organisation_from_json(
        {"id": FIRM, "name": {"ja": "ベンチ株式会社", "en": "Bench KK"}}))
    async with pool.acquire() as con:
        clients = [await admin.create_client(
            con, {"name": "owner", "scopes": ["read", "write", "manage"]}, org)
            for org in owners]
        firm, firm_secret = await admin.create_client(
            con, {"name": "firm", "scopes": ["read", "manage"]}, FIRM)
    await pool.close()
    on.app[keys.REGISTRY_RULES].invalidate()
    await on.app[keys.ACCESS].refresh()
    async def owner_tokens() -> list[str]:
        return [await token(on, c.client_id, s or "") for c, s in clients]

    tokens = await owner_tokens()
    if not keep:
        rnd = random.Random(13)
        t0 = issued = time.perf_counter()
        for b, start in enumerate(range(0, n, 1000)):
            if time.perf_counter() - issued > 120:  # a load of 1,000,000 outlasts a token
                tokens, issued = await owner_tokens(), time.perf_counter()
            k = b % OWNERS
            batch = []
            for i in range(start, min(n, start + 1000)):
                ent = entity(i, rnd) if queried(i, share) else other_entity(i, rnd)
                ent["id"] = f"{prefix(k, ent['type'])}{i}"
                batch.append(ent)
            resp = await on.post(BASE + "/entityOperations/upsert", json=batch,
                                 headers={"Authorization": f"Bearer {tokens[k]}"})
            assert resp.status in (201, 204), await resp.text()
        print(f"loaded {n} entities in {time.perf_counter() - t0:.1f} s")
        con = await asyncpg.connect(url)
        await con.execute("VACUUM ANALYZE")
        await con.close()
    firm_manage = await token(on, firm.client_id, firm_secret or "")
    resp = await on.post("/authz/v1/grants", json={
        "dataset": f"m{GRANTED}-traffic", "actions": ["read"], "purpose": "bench",
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {firm_manage}"})
    assert resp.status == 201, await resp.text()
    gid = (await resp.json())["id"]
    resp = await on.post(f"/authz/v1/grants/{gid}/approve", json={},
                         headers={"Authorization": f"Bearer {tokens[GRANTED]}"})
    assert resp.status == 200, await resp.text()
    await on.app[keys.ACCESS].refresh()
    return firm.client_id, firm_secret or ""


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded entities")
    parser.add_argument("--shapes", default="", help="comma-separated shape names")
    parser.add_argument("--selectivities", default="")
    parser.add_argument("--mixed", type=float, default=1.0,
                        help="the queried type's share of the entities (query_matrix's)")
    args = parser.parse_args()
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL",
                         "postgresql://postgres@127.0.0.1:5432/renkei_bench_consumer")
    if not args.keep:
        await reset(url)
    unlimited = 10**9
    common = {"database_url": url, "default_rate_per_minute": unlimited,
              "max_rate_per_minute": unlimited, "issuer": "http://bench",
              "log_level": "WARNING"}
    on = TestClient(TestServer(create_app(Settings(auth_mode="enforce", **common))))
    off = TestClient(TestServer(create_app(Settings(auth_mode="dev", **common))))
    await on.start_server()
    await off.start_server()
    try:
        cid, secret = await setup(url, on, args.entities, args.keep, args.mixed)
        firm = {"Authorization": f"Bearer {await token(on, cid, secret, purpose='bench')}"}
        # the firm sees its grant's tenth, and nothing else
        page = await (await on.get(BASE + "/entities", params={"type": TYPE, "limit": "50"},
                                   headers=firm)).json()
        assert page and all(e["id"].startswith(prefix(GRANTED)) for e in page), page
        wanted = [s for s in args.shapes.split(",") if s] or [
            s for s in shapes() if s != "idPattern"]  # ids here are not ...:<i>
        sels = [float(x) for x in args.selectivities.split(",") if x] or SELECTIVITIES
        print(f"{'shape':<17}{'sel':>7}  {'firm: req/s':>11}{'p95':>7}{'rows':>5}{'blks':>7}"
              f"{'db ms':>7}  {'dev: req/s':>10}{'p95':>7}{'rows':>5}{'blks':>7}{'db ms':>7}")
        meter = CpuMeter(url, os.getpid())
        b0, _ = await db_counters(url)
        for name in wanted:
            make = shapes()[name]
            for sel in sels:
                # a token per cell: a run outlasts one
                firm["Authorization"] = f"Bearer {await token(on, cid, secret, purpose='bench')}"
                cells = []
                for client, headers in ((on, firm), (off, {})):
                    await measure(client, make, sel, True, 20, headers=headers)
                    await meter.start()
                    rps, _, p95, rows = await measure(client, make, sel, True, args.requests,
                                                      headers=headers)
                    db_cpu, _ = await meter.stop()
                    b1, _ = await db_counters(url)
                    cells.append(f"{rps:>11.0f}{p95:>7.1f}{rows:>5}"
                                 f"{(b1 - b0) / (args.requests + 20):>7.0f}"
                                 f"{db_cpu * 1000 / args.requests:>7.2f}")
                    b0 = b1
                print(f"{name:<17}{sel * 100:>6.2f}%  {cells[0]}  {cells[1]}", flush=True)
    finally:
        await on.close()
        await off.close()


if __name__ == "__main__":
    asyncio.run(main())
