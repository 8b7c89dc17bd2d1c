"""Fair delivery by construction (issue #18): a dead receiver's queue, however long, never
delays another subscription; queues are bounded, and what overflows is counted and shown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from hub.store import subscriptions as store
from tests.integration.helpers import JSON, gauge
from tests.integration.receiver import Receiver, receiver
from tests.reliability.conftest import SCHEMA, HubFactory, hub, queue_copies

__all__ = ["hub", "receiver"]

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
DEAD = "urn:ngsi-ld:Subscription:dead"
HEALTHY = "urn:ngsi-ld:Subscription:healthy"
QUEUED = 20_000


def _subscription(sub_id: str, uri: str) -> dict[str, Any]:
    return {"id": sub_id, "type": "Subscription", "entities": [{"type": "WeatherObserved"}],
            "notification": {"endpoint": {"uri": uri}}}


async def _latencies(client: TestClient, receiver: Receiver, first: int, n: int) -> list[float]:
    """Create ``n`` entities one after another; seconds from each write's answer to the
    healthy receiver getting its notification."""
    loop = asyncio.get_running_loop()
    out = []
    for i in range(first, first + n):
        resp = await client.post(E, json=gauge(i), headers=JSON)
        assert resp.status == 201, await resp.text()
        start = loop.time()
        await receiver.wait_for(i + 1, seconds=20)
        out.append(loop.time() - start)
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class _Explain:
    """Stands in for a connection: runs the claim's statement under EXPLAIN ANALYZE in a
    transaction that is rolled back, and keeps the plan."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con
        self.plan: dict[str, Any] = {}

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        tr = self.con.transaction()
        await tr.start()
        try:
            raw = await self.con.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
        finally:
            await tr.rollback()
        self.plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
        return []


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("Plans", []) for n in _nodes(child)]


async def test_dead_receiver_with_20000_queued_does_not_delay_a_healthy_one(
    hub: HubFactory, receiver: Receiver, database_url: str
) -> None:
    async with hub(notification_queue_limit=50_000) as client:
        for sub in (_subscription(HEALTHY, receiver.url()),
                    _subscription(DEAD, "http://127.0.0.1:9/dead")):
            assert (await client.post(S, json=sub, headers=JSON)).status == 201
        alone = await _latencies(client, receiver, 0, 20)

        con = await asyncpg.connect(database_url)
        try:  # the dead receiver's backlog, and its subscription backing off
            await queue_copies(con, DEAD, QUEUED)
            await con.execute(f"UPDATE {SCHEMA}.subscriptions SET blocked_until ="
                              " now() + interval '10 minutes' WHERE id = $1", DEAD)
            await con.execute(f"ANALYZE {SCHEMA}.notifications")
            await con.execute(f"ANALYZE {SCHEMA}.subscriptions")
            explain = _Explain(con)
            await store.claim_notifications(explain, SCHEMA, 64, 60.0)  # type: ignore[arg-type]
            queued = await con.fetchval(
                f"SELECT count(*) FROM {SCHEMA}.notifications WHERE sub_id = $1", DEAD)
        finally:
            await con.close()
        assert queued >= QUEUED

        beside = await _latencies(client, receiver, 20, 20)

    # the claim reads one index entry per subscription with a queue, not the backlog
    rows_read = max(n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
                    for n in _nodes(explain.plan["Plan"]))
    print(f"\nclaim with {queued} queued for a blocked subscription:"
          f" {explain.plan['Execution Time']:.2f} ms, at most {rows_read} rows in any node")
    print(f"healthy subscription latency: alone p95 {_p95(alone) * 1000:.0f} ms"
          f" (max {max(alone) * 1000:.0f}), beside the dead one p95"
          f" {_p95(beside) * 1000:.0f} ms (max {max(beside) * 1000:.0f})")
    assert rows_read < 100, explain.plan
    assert _p95(beside) <= 2 * _p95(alone) + 0.5, (alone, beside)
    ids = [r.body["data"][0]["id"] for r in receiver.received]
    assert ids == [f"urn:ngsi-ld:WeatherObserved:g{i}" for i in range(40)]


async def test_full_queue_drops_the_oldest_counts_them_and_says_so(
    hub: HubFactory, database_url: str
) -> None:
    async with hub(notification_queue_limit=100) as client:
        sub = _subscription(DEAD, "http://127.0.0.1:9/dead")
        assert (await client.post(S, json=sub, headers=JSON)).status == 201
        assert (await client.post(E, json=gauge(0), headers=JSON)).status == 201
        con = await asyncpg.connect(database_url)
        try:
            for _ in range(100):  # the matcher's notification, once its attempt failed
                if await con.fetchval(f"SELECT count(*) FROM {SCHEMA}.notifications"
                                      " WHERE attempts >= 1 AND leased_until IS NULL"):
                    break
                await asyncio.sleep(0.05)
            # backing off, its last delivery a success: only the drop can make it "failed"
            await con.execute(f"UPDATE {SCHEMA}.subscriptions SET blocked_until ="
                              " now() + interval '10 minutes', last_status = 'ok'"
                              " WHERE id = $1", DEAD)
            await queue_copies(con, DEAD, 299)
            newest = await con.fetch(
                f"SELECT id FROM {SCHEMA}.notifications WHERE sub_id = $1"
                " ORDER BY seq DESC LIMIT 100", DEAD)
            left = 300
            for _ in range(60):  # the deliverer enforces the limit every second
                left = await con.fetchval(
                    f"SELECT count(*) FROM {SCHEMA}.notifications WHERE sub_id = $1", DEAD)
                if left <= 100:
                    break
                await asyncio.sleep(0.1)
            kept = await con.fetch(f"SELECT id FROM {SCHEMA}.notifications WHERE sub_id = $1",
                                   DEAD)
        finally:
            await con.close()
        assert left == 100
        assert {r["id"] for r in kept} == {r["id"] for r in newest}  # the oldest went
        resp = await client.get(f"{S}/{DEAD}")
        note = (await resp.json())["notification"]
    assert note["timesDropped"] == 200
    assert note["status"] == "failed"
    assert "lastDropped" in note
