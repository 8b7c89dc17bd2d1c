"""Deleting a subscription while one of its notifications is being settled never
deadlocks (hub/store/subscriptions.py ``LOCK_ORDER``). The ETSI suite met it: a delivery's
settlement locked the subscription, then its notification; the DELETE had locked the
notifications and then waited for the subscription, and PostgreSQL failed the DELETE
with "deadlock detected" (a 500).

The deletion's two statements run by hand on one connection, the settlement on another
in between, so the interleaving is the one that deadlocked, every time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.store import subscriptions as store
from tests.integration.helpers import JSON, until_waiting

SUB = "urn:ngsi-ld:Subscription:lock-order"
NOW = datetime(2026, 12, 6, tzinfo=UTC)

Settle = Callable[[asyncpg.Connection, int], Awaitable[None]]
SETTLEMENTS: dict[str, Settle] = {
    "success": lambda con, seq: store.settle_successes(con, "ngsild", [(seq, SUB, NOW)]),
    "failure": lambda con, seq: store.settle_failures(
        con, "ngsild", [(seq, SUB, NOW, "refused", 1.0)]),
    "dead": lambda con, seq: store.settle_failures(
        con, "ngsild", [(seq, SUB, NOW, "refused", None)]),
    "unsent": lambda con, seq: store.settle_unsent(con, "ngsild", [(seq, SUB, None)]),
}


async def _queued(client: TestClient) -> int:
    """The subscription and one notification of it that no deliverer will claim."""
    resp = await client.post("/ngsi-ld/v1/subscriptions", headers=JSON, json={
        "id": SUB, "type": "Subscription", "entities": [{"type": "Thing"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}})
    assert resp.status == 201, await resp.text()
    async with client.server.app[keys.POOL].acquire() as con:
        await store.insert_notifications(con, "ngsild", [("urn:ngsi-ld:Notification:n1", SUB,
                                                          {"data": []})])
        seq: int = await con.fetchval(
            "UPDATE ngsild.notifications SET due_at = now() + interval '1 hour'"
            " WHERE sub_id = $1 RETURNING seq", SUB)
    return seq


@pytest.mark.parametrize("settlement", sorted(SETTLEMENTS))
async def test_a_settlement_between_the_deletes_of_a_subscription_does_not_deadlock(
    client: TestClient, settlement: str
) -> None:
    seq = await _queued(client)
    pool = client.server.app[keys.POOL]
    async with pool.acquire() as deleting, pool.acquire() as settling:
        tr = deleting.transaction()
        await tr.start()
        # delete_subscription's first statement: the notifications are now locked
        await deleting.execute("DELETE FROM ngsild.notifications WHERE sub_id = $1", SUB)

        async def settle() -> Any:
            async with settling.transaction():
                await SETTLEMENTS[settlement](settling, seq)

        task = asyncio.ensure_future(settle())
        await until_waiting(deleting, "the settlement")
        # its second statement: must not wait for anything the settlement holds
        status = await asyncio.wait_for(deleting.execute(
            "DELETE FROM ngsild.subscriptions WHERE id = $1", SUB), timeout=5)
        assert status == "DELETE 1"
        await tr.commit()
        await asyncio.wait_for(task, timeout=5)  # and the settlement finds nothing left
    async with pool.acquire() as con:
        assert await con.fetchval("SELECT count(*) FROM ngsild.notifications") == 0
        assert await con.fetchval("SELECT count(*) FROM ngsild.subscriptions") == 0


async def test_deleting_a_subscription_answers_204(client: TestClient) -> None:
    """The API path the ETSI suite took, for completeness: the deletion and its queue."""
    await _queued(client)
    resp = await client.delete(f"/ngsi-ld/v1/subscriptions/{SUB}")
    assert resp.status == 204, await resp.text()
    async with client.server.app[keys.POOL].acquire() as con:
        assert await con.fetchval("SELECT count(*) FROM ngsild.notifications") == 0
