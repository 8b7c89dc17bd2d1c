"""Load shedding (issue #18): bounded waits answer 503, bulk work cannot starve small
requests, oversize and slow clients are cut off early, abandoned work is cancelled."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.db.pool import PoolExhausted
from hub.deadline import is_bulk
from hub.settings import Settings
from hub.subscriptions.runtime import MAX_BACKOFF, SubscriptionRuntime
from registry import RegistryRepository
from registry.service import ensure_catch_all
from tests.conftest import CATCH_ALL, TEST_PREFECTURE, reset_database

NGSI = "/ngsi-ld/v1"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # two connections, a short wait for one, one batch at a time: easy to fill up
    return Settings(database_url=database_url, auth_mode="dev", max_body_bytes=200_000,
                    pool_min=1, pool_max=2, pool_acquire_timeout=0.5, bulk_concurrency=1)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[TestClient]:
    assert settings.database_url
    await reset_database(settings.database_url)
    app = create_app(settings)
    server = TestServer(app)
    # as `renkei serve` runs it (hub/cli.py): a client that goes away cancels its handler
    # (TestServer always sets handler_cancellation), slow headers are cut off
    await server.start_server(keepalive_timeout=1.0)
    async with TestClient(server) as client:
        await ensure_catch_all(RegistryRepository(app[keys.POOL]), TEST_PREFECTURE, CATCH_ALL,
                               "テスト県")
        app[keys.REGISTRY_RULES].invalidate()
        for eid in ("urn:x:A", "urn:x:B"):
            resp = await client.post(f"{NGSI}/entities", json={
                "id": eid, "type": "T", "n": {"type": "Property", "value": 0}})
            assert resp.status == 201, await resp.text()
        yield client
    app[keys.TENANTS].forget()


async def _locked(url: str, eid: str) -> asyncpg.Connection:
    """A connection holding ``eid``'s row lock, so a hub write of it waits."""
    con = await asyncpg.connect(url)
    await con.execute("BEGIN")
    await con.execute("SELECT 1 FROM ngsild.entities WHERE id = $1 FOR UPDATE", eid)
    return con


async def _raw(client: TestClient, data: bytes) -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def test_declared_body_over_the_limit_is_refused_without_reading_it(
        hub: TestClient) -> None:
    reader, writer = await _raw(hub, (
        f"POST {NGSI}/entities HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        "Content-Length: 50000000\r\n\r\n{\"id\":").encode())
    start = time.monotonic()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    # the answer came though 49,999,994 bytes of the body were never sent
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"Connection: close" in head
    assert time.monotonic() - start < 2
    writer.close()


async def test_no_free_connection_within_the_acquire_timeout_answers_503(
        hub: TestClient) -> None:
    pool = hub.server.app[keys.POOL]
    held = []
    while len(held) < 2:  # every connection of the main pool, background loops' too
        try:
            held.append(await pool.acquire())
        except PoolExhausted:
            continue
    try:
        start = time.monotonic()
        resp = await hub.patch(f"{NGSI}/entities/urn:x:A/attrs",
                               json={"n": {"type": "Property", "value": 1}})
        body = await resp.json()
        assert resp.status == 503, body
        assert resp.headers["Retry-After"] == "1"
        assert body["type"].endswith("InternalError") and "busy" in body["detail"]
        assert 0.4 < time.monotonic() - start < 3  # waited the timeout, not forever
    finally:
        for con in held:
            await pool.release(con)
    resp = await hub.patch(f"{NGSI}/entities/urn:x:A/attrs",
                           json={"n": {"type": "Property", "value": 2}})
    assert resp.status == 204


async def test_batches_wait_their_turn_while_small_requests_go_through(
        hub: TestClient, database_url: str) -> None:
    lock = await _locked(database_url, "urn:x:A")
    try:
        first = asyncio.create_task(hub.post(f"{NGSI}/entityOperations/update", json=[
            {"id": "urn:x:A", "type": "T", "n": {"type": "Property", "value": 5}}]))
        await asyncio.sleep(0.3)  # the first batch holds the one bulk slot, waiting on A
        assert not first.done()
        second = await hub.post(f"{NGSI}/entityOperations/upsert", json=[
            {"id": "urn:x:B", "type": "T", "n": {"type": "Property", "value": 5}}])
        assert second.status == 503, await second.text()
        assert "Retry-After" in second.headers
        small = await hub.get(f"{NGSI}/entities/urn:x:B")  # not queued behind the batch
        assert small.status == 200
        query = await hub.post(f"{NGSI}/entityOperations/query",
                               json={"type": "Query", "entities": [{"type": "T"}]})
        assert query.status == 200  # a query is a read, not bulk
    finally:
        await lock.execute("COMMIT")
        await lock.close()
    resp = await asyncio.wait_for(first, timeout=10)
    assert resp.status == 204, await resp.text()
    resp = await hub.get(f"{NGSI}/entities/urn:x:A", params={"options": "keyValues"})
    assert (await resp.json())["n"] == 5


async def test_a_client_that_goes_away_cancels_its_statement(
        hub: TestClient, database_url: str) -> None:
    lock = await _locked(database_url, "urn:x:A")
    watcher = await asyncpg.connect(database_url)
    waiting_sql = ("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                   " 'renkei-hub' AND wait_event_type = 'Lock'")
    try:
        body = b'{"n": {"type": "Property", "value": 9}}'
        _, writer = await _raw(hub, (
            f"PATCH {NGSI}/entities/urn:x:A/attrs HTTP/1.1\r\nHost: hub\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body)
        for _ in range(50):
            if await watcher.fetchval(waiting_sql) == 1:
                break
            await asyncio.sleep(0.05)
        assert await watcher.fetchval(waiting_sql) == 1  # the hub's write waits on A
        writer.close()  # the client gives up
        for _ in range(60):
            if await watcher.fetchval(waiting_sql) == 0:
                break
            await asyncio.sleep(0.05)
        assert await watcher.fetchval(waiting_sql) == 0  # PostgreSQL stopped the work
    finally:
        await lock.execute("COMMIT")
        await lock.close()
        await watcher.close()
    resp = await hub.get(f"{NGSI}/entities/urn:x:A", params={"options": "keyValues"})
    assert (await resp.json())["n"] == 0  # the abandoned PATCH was rolled back


async def test_a_connection_that_never_finishes_its_headers_is_closed(
        hub: TestClient) -> None:
    reader, writer = await _raw(hub, f"GET {NGSI}/types HTTP/1.1\r\nHost: hub\r\n".encode())
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the hub
    assert time.monotonic() - start < 3  # keepalive_timeout (1 s here), not never
    writer.close()


def test_what_counts_as_bulk() -> None:
    from aiohttp.test_utils import make_mocked_request

    def req(method: str, path: str, length: int | None = None) -> bool:
        headers = {"Content-Length": str(length)} if length is not None else {}
        return is_bulk(make_mocked_request(method, path, headers=headers))

    assert req("POST", f"{NGSI}/entityOperations/upsert")
    assert req("POST", f"{NGSI}/entityOperations/delete")
    assert not req("POST", f"{NGSI}/entityOperations/query")
    assert not req("PATCH", f"{NGSI}/entities/urn:x:A/attrs", 200)
    assert req("POST", f"{NGSI}/entities", 100_000)
    assert not req("GET", f"{NGSI}/entities", 100_000)


async def test_background_rounds_back_off_and_log_once_per_outage(
        caplog: pytest.LogCaptureFixture) -> None:
    runtime = object.__new__(SubscriptionRuntime)  # only _guarded's state is needed
    runtime.poll_s, runtime._failures = 0.01, {}
    calls: list[float] = []

    async def failing() -> None:
        calls.append(time.monotonic())
        raise PoolExhausted(5)

    async def working() -> int:
        return 7

    caplog.set_level(logging.INFO, "renkei.subscriptions")
    for _ in range(6):
        assert await runtime._guarded("matching", failing) is None
        assert await runtime._guarded("delivery", failing) is None
    gaps = [b - a for a, b in zip(calls[::2], calls[2::2], strict=False)]
    assert gaps[-1] > 4 * gaps[0]  # exponential, not a fixed poll
    assert min(0.01 * 2 ** 7, MAX_BACKOFF) == 1.28
    assert await runtime._guarded("matching", working) == 7
    assert await runtime._guarded("delivery", working) == 7
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["subscription rounds failing, backing off: PoolExhausted",
                     "subscription rounds succeed again"]
    assert not any(r.exc_info for r in caplog.records)
