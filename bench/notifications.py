"""Benchmark: notification latency and the cost of subscriptions on updates.

    .venv/bin/python bench/notifications.py [--entities 2000] [--updates 3000] [--samples 300]

Starts one hub process on PostgreSQL (RENKEI_BENCH_DATABASE_URL, or a fresh embedded one) and
an HTTP notification receiver in this process, then measures:

1. latency: one update at a time; from the moment the update's response arrives to the
   moment its notification arrives (p50, p95, max);
2. update throughput with no subscription, then with one matching subscription per entity
   (``entities: [{id, type}]``), and the ratio of the two; and how long the receiver took to
   get every notification of the second run (delivery throughput).

``--enforce`` runs the hub with access control on (a firm's client, a grant on the
benchmark dataset, every request with its bearer token), so matching and sending evaluate
each subscription as its subscriber (docs/access-control.md, "Whose rights").

Not a test: no assertions; it prints figures. Everything runs on this machine's 2 cores:
the hub, PostgreSQL, the load generator and the receiver share them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from hubsetup import register_catch_all  # bench/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent
PORT, RECEIVER_PORT = 18036, 18037
HUB = f"http://127.0.0.1:{PORT}/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.event = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.perf_counter()
        for ent in body["data"]:
            mark = ent.get("mark", {})
            key = mark.get("value") if isinstance(mark, dict) else mark
            if key is not None:
                self.arrivals[str(key)] = now
        self.count += 1
        self.event.set()
        return web.Response(status=204)


def gauge(i: int) -> dict:
    return {"id": f"urn:ngsi-ld:Gauge:b{i}", "type": "Gauge",
            "rain": {"type": "Property", "value": 0.0, "unitCode": "MMT"},
            "mark": {"type": "Property", "value": "init"}}


FIRM = "9234567890123"


def hub_env(url: str, enforce: bool) -> dict[str, str]:
    env = {**os.environ, "RENKEI_DATABASE_URL": url, "RENKEI_PORT": str(PORT),
           "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_AUTH_MODE": "enforce" if enforce else "dev",
           "RENKEI_NOTIFICATION_DENIED_NETWORKS": ""}
    if enforce:
        env.update(RENKEI_OPERATOR_ORGANISATIONS="200000",
                   RENKEI_EGRESS_ALLOW=f"127.0.0.1:{RECEIVER_PORT}",
                   RENKEI_DEFAULT_RATE_PER_MINUTE="1000000",
                   RENKEI_MAX_RATE_PER_MINUTE="1000000", RENKEI_TOKEN_LIFETIME="3600")
    return env


def spawn_hub(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub", "serve"], cwd=ROOT, env=env)


def renkei(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "hub", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True)
    return out.stdout


async def token(s: aiohttp.ClientSession, client: dict[str, str], **form: str) -> str:
    import base64

    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    async with s.post(HUB.removesuffix("/ngsi-ld/v1") + "/oauth2/token",
                      headers={"Authorization": "Basic " + basic.decode()},
                      data={"grant_type": "client_credentials", **form}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["access_token"])


async def enforce_setup(s: aiohttp.ClientSession, env: dict[str, str]) -> tuple[str, str]:
    """The prefecture owns the benchmark dataset and writes; a firm reads and subscribes
    under an approved grant. Returns (writer token, subscriber token)."""
    import json

    renkei(env, "org", "create", "200000", "--name-ja", "長野県")
    renkei(env, "org", "create", FIRM, "--name-ja", "株式会社ベンチ")
    renkei(env, "dataset", "create", "bench", "--owner", "200000", "--name-ja", "ベンチ",
           "--catch-all", "--licence", "CC-BY-4.0", "--frequency", "irregular")
    pref = json.loads(renkei(env, "client", "create", "--org", "200000", "--name", "w",
                             "--scopes", "read,write,subscribe,manage"))
    firm = json.loads(renkei(env, "client", "create", "--org", FIRM, "--name", "r",
                             "--scopes", "read,subscribe"))
    grant = json.loads(renkei(env, "grant", "request", "--consumer", FIRM, "--dataset",
                              "bench", "--purpose", "bench", "--actions", "read,subscribe",
                              "--from", "2020-01-01T00:00:00Z",
                              "--until", "2099-01-01T00:00:00Z"))
    renkei(env, "grant", "approve", str(grant["id"]))
    return await token(s, pref), await token(s, firm, purpose="bench")


async def start_hub(url: str, enforce: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    env = hub_env(url, enforce)
    proc = spawn_hub(env)
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(HUB + "/types") as r:
                    await r.read()
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError("hub did not start")
        if not enforce:
            await register_catch_all(s, HUB.removesuffix("/ngsi-ld/v1"))
            return proc, "", ""
        writer, reader = await enforce_setup(s, env)
        await asyncio.sleep(6)  # every process reloads grants within authz_refresh (5 s)
        return proc, writer, reader


async def updates(s: aiohttp.ClientSession, n: int, entities: int, concurrency: int,
                  tag: str, headers: dict[str, str]) -> float:
    """``n`` attribute updates spread over the entities; returns updates/s."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            body = {"rain": {"type": "Property", "value": float(i % 100)},
                    "mark": {"type": "Property", "value": f"{tag}{i}"}}
            async with s.patch(f"{HUB}/entities/urn:ngsi-ld:Gauge:b{i % entities}/attrs",
                               json=body, headers=headers) as r:
                if r.status != 204:
                    raise RuntimeError(f"update answered {r.status}: {await r.text()}")
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=2000)
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--enforce", action="store_true",
                    help="access control on: a firm subscribes under a grant")
    args = ap.parse_args()

    url = os.environ.get("RENKEI_BENCH_DATABASE_URL")
    embedded = None
    if not url:
        sys.path.insert(0, str(ROOT))
        from hub.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="renkei-bench-")))
        url = embedded.start()
    con = await asyncpg.connect(url)
    await con.execute("DROP SCHEMA IF EXISTS ngsild CASCADE;"
                      " DROP SCHEMA IF EXISTS renkei CASCADE")
    await con.close()

    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/notify", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", RECEIVER_PORT).start()
    hub, writer, reader = await start_hub(url, args.enforce)
    W = {**JSON, "Authorization": f"Bearer {writer}"} if args.enforce else JSON
    R = {**JSON, "Authorization": f"Bearer {reader}"} if args.enforce else JSON
    notify = f"http://127.0.0.1:{RECEIVER_PORT}/notify"
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as s:
            batch = [gauge(i) for i in range(args.entities)]
            for k in range(0, len(batch), 1000):
                async with s.post(f"{HUB}/entityOperations/upsert", json=batch[k:k + 1000],
                                  headers=W) as r:
                    assert r.status in (201, 204), await r.text()

            # 2. throughput without subscriptions
            await updates(s, 300, args.entities, args.concurrency, "warm", W)
            plain = await updates(s, args.updates, args.entities, args.concurrency, "p", W)

            # 1. latency with one subscription on the type
            sub = {"id": "urn:ngsi-ld:Subscription:lat", "type": "Subscription",
                   "entities": [{"type": "Gauge"}], "watchedAttributes": ["mark"],
                   "notification": {"endpoint": {"uri": notify}}}
            async with s.post(f"{HUB}/subscriptions", json=sub, headers=R) as r:
                assert r.status == 201, await r.text()
            lat: list[float] = []
            for i in range(args.samples):
                key = f"lat{i}"
                body = {"mark": {"type": "Property", "value": key}}
                async with s.patch(f"{HUB}/entities/urn:ngsi-ld:Gauge:b{i % 50}/attrs",
                                   json=body, headers=W) as r:
                    assert r.status == 204
                answered = time.perf_counter()
                while key not in receiver.arrivals:
                    receiver.event.clear()
                    try:
                        await asyncio.wait_for(receiver.event.wait(), 5)
                    except TimeoutError:
                        raise RuntimeError(f"notification {key} never arrived") from None
                lat.append((receiver.arrivals[key] - answered) * 1000)
            async with s.delete(f"{HUB}/subscriptions/urn:ngsi-ld:Subscription:lat",
                                headers=R) as r:
                assert r.status == 204

            # 2b. one matching subscription per entity
            for i in range(args.entities):
                body = {"id": f"urn:ngsi-ld:Subscription:e{i}", "type": "Subscription",
                        "entities": [{"id": f"urn:ngsi-ld:Gauge:b{i}", "type": "Gauge"}],
                        "notification": {"endpoint": {"uri": notify}}}
                async with s.post(f"{HUB}/subscriptions", json=body, headers=R) as r:
                    assert r.status == 201
            before = receiver.count
            start = time.perf_counter()
            subscribed = await updates(s, args.updates, args.entities, args.concurrency, "s",
                                       W)
            while receiver.count - before < args.updates:
                receiver.event.clear()
                try:
                    await asyncio.wait_for(receiver.event.wait(), 30)
                except TimeoutError:
                    break
            drained = time.perf_counter() - start
            delivered = receiver.count - before
    finally:
        hub.terminate()
        hub.wait(20)
        await runner.cleanup()
        if embedded is not None:
            embedded.stop()

    lat.sort()
    p95 = lat[int(len(lat) * 0.95) - 1]
    print(f"notification latency ({len(lat)} samples): p50 {statistics.median(lat):.1f} ms,"
          f" p95 {p95:.1f} ms, max {lat[-1]:.1f} ms   (target p95 <= 50 ms)")
    print(f"updates/s, no subscription:               {plain:8.0f}")
    print(f"updates/s, one subscription per entity:   {subscribed:8.0f}"
          f"   ratio {subscribed / plain:.2f} (target >= 0.50)")
    print(f"notifications delivered: {delivered} of {args.updates} in {drained:.1f} s"
          f" ({delivered / drained:.0f}/s, {args.entities} subscriptions)")


if __name__ == "__main__":
    asyncio.run(main())
