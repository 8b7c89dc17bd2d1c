"""PostgreSQL outages (issue #18): 503 with Retry-After, a bounded log, recovery by itself.

Each test runs its own PostgreSQL (``pgproc.PrivatePostgres``) and stops it while the hub
is under load; the shared test database is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.settings import Settings
from hub.subscriptions import delivery
from registry import RegistryRepository
from registry.service import ensure_catch_all
from tests.conftest import CATCH_ALL, TEST_PREFECTURE
from tests.reliability.pgproc import PrivatePostgres

NGSI = "/ngsi-ld/v1"
EID = "urn:ngsi-ld:Sensor:outage-1"


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


def _settings(pg: PrivatePostgres) -> Settings:
    return Settings(database_url=pg.url, auth_mode="dev", pool_acquire_timeout=2.0,
                    subscription_poll_interval=0.2)


@pytest.fixture
async def hub(pg: PrivatePostgres) -> AsyncIterator[TestClient]:
    app = create_app(_settings(pg))
    async with TestClient(TestServer(app)) as client:
        await ensure_catch_all(RegistryRepository(app[keys.POOL]), TEST_PREFECTURE, CATCH_ALL,
                               "テスト県")
        app[keys.REGISTRY_RULES].invalidate()
        resp = await client.post(f"{NGSI}/entities", json={
            "id": EID, "type": "Sensor", "temperature": {"type": "Property", "value": 1}})
        assert resp.status == 201, await resp.text()
        yield client


async def _load(client: TestClient, seen: list[tuple[float, int, str | None]],
                stop: asyncio.Event) -> None:
    """Reads and small writes, one after another, recording (time, status, Retry-After)."""
    n = 0
    while not stop.is_set():
        n += 1
        if n % 2:
            resp = await client.get(f"{NGSI}/entities/{EID}")
        else:
            resp = await client.patch(f"{NGSI}/entities/{EID}/attrs", json={
                "temperature": {"type": "Property", "value": n}})
        await resp.read()
        seen.append((time.monotonic(), resp.status, resp.headers.get("Retry-After")))
        await asyncio.sleep(0.005)


async def _until_ok(client: TestClient, path: str, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        resp = await client.get(path)
        await resp.read()
        if resp.status == 200:
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} did not answer 200 within {within} s")


async def test_restart_mid_load_answers_503_logs_little_and_recovers(
        hub: TestClient, pg: PrivatePostgres, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[float, int, str | None]] = []
    stop = asyncio.Event()
    workers = [asyncio.create_task(_load(hub, seen, stop)) for _ in range(4)]
    await asyncio.sleep(1.0)
    assert seen and all(s in (200, 204) for _, s, _ in seen), Counter(s for _, s, _ in seen)

    caplog.clear()
    caplog.set_level(logging.INFO)
    down_at = time.monotonic()
    await asyncio.to_thread(pg.stop)  # every connection dropped at once, as in a crash
    await asyncio.sleep(4.0)
    health = await hub.get("/health")
    ready = await hub.get("/ready")
    assert health.status == 200  # the process is alive: no orchestrator should kill it
    assert ready.status == 503
    assert (await ready.json())["check"] == "database"
    await asyncio.to_thread(pg.start)
    up_at = time.monotonic()
    recovery = await _until_ok(hub, f"{NGSI}/entities/{EID}", within=30)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)

    during = [(s, r) for t, s, r in seen if down_at < t < up_at]
    statuses = Counter(s for s, _ in during)
    assert len(during) >= 50, statuses  # requests were refused quickly, not hung
    assert set(statuses) <= {200, 204, 503}, statuses  # never 500
    assert statuses[503] >= 50
    assert all(r is not None and int(r) >= 1 for s, r in during if s == 503)
    after = [s for t, s, _ in seen if t > up_at + recovery + 0.5]
    assert after and set(after) <= {200, 204}, Counter(after)  # recovered by itself
    # one line per state change, not one per request: a handful for the whole outage
    outage_lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(outage_lines) <= 15, "\n".join(
        f"{r.name}: {r.getMessage()[:150]}" for r in outage_lines)
    assert not [r for r in outage_lines if r.exc_info], [
        (r.name, r.getMessage(), repr(r.exc_info[1])) for r in outage_lines if r.exc_info]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unreachable" in m for m in messages) == 1, messages
    assert (await (await hub.get("/ready")).json())["status"] == "ready"


async def test_hub_started_before_its_database_waits_and_becomes_ready(
        pg: PrivatePostgres, caplog: pytest.LogCaptureFixture) -> None:
    await asyncio.to_thread(pg.stop)
    caplog.set_level(logging.INFO)
    client = TestClient(TestServer(create_app(_settings(pg))))
    starting = asyncio.create_task(client.start_server())
    await asyncio.sleep(3.0)
    assert not starting.done()  # still waiting for the database, not exited
    await asyncio.to_thread(pg.start)
    await asyncio.wait_for(starting, timeout=30)
    try:
        resp = await client.get("/ready")
        assert resp.status == 200, await resp.text()
        assert (await resp.json()) == {"status": "ready"}
    finally:
        await client.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "renkei.db"]
    # one line when it starts waiting and one when it connects, not one per retry
    assert sum("unreachable at start-up" in m for m in messages) == 1, messages
    assert sum("database reachable; starting" in m for m in messages) == 1, messages


@pytest.mark.parametrize("error, raised", [
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
     True),
    (asyncpg.DeadlockDetectedError("deadlock detected"), False),
])
async def test_queue_trim_leaves_an_outage_to_the_round_guard(
        database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        error: Exception, raised: bool) -> None:
    """A connection lost mid-trim is the database going away: the trim raises, so the
    loop's guard logs the outage once and without a traceback (the CI failure of stop 23
    was a trim that logged one). A deadlock is the trim's own trouble: a warning, and the
    round goes on."""
    async def failing_trim(*_: object) -> list[tuple[str, int]]:
        raise error

    monkeypatch.setattr(delivery.store, "trim_queues", failing_trim)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        deliverer = delivery.Deliverer(
            pool, None, None, delivery.DeliveryConfig(), None, None, None)  # type: ignore[arg-type]
        caplog.set_level(logging.WARNING)
        if raised:
            with pytest.raises(type(error)):
                await deliverer.trim("public")
            assert not caplog.records
        else:
            await deliverer.trim("public")
            assert [r.getMessage() for r in caplog.records] == [
                "could not trim notification queues"]
    finally:
        await pool.close()
