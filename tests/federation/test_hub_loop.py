"""Two real hub processes on two databases that register each other as context sources:
a query at either answers with both hubs' data, and the loop stops at the first hub the
``Via`` header names (6.3.18) instead of bouncing until a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from tests.conftest import reset_database
from tests.hubproc import HubProcess, start_hub

BASE = "/ngsi-ld/v1"


async def _fresh_database(url: str, name: str) -> str:
    con = await asyncpg.connect(url)
    try:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()
    # the database is the URL's path; the embedded server's socket directory is in its
    # query (``postgresql://postgres:@/postgres?host=/tmp/…``), which must be kept
    parts = urlsplit(url)
    other = urlunsplit(parts._replace(path="/" + name))
    await reset_database(other)
    return other


async def _drop_database(url: str, name: str) -> None:
    """Leave no database behind on a server the suite was pointed at."""
    con = await asyncpg.connect(url)
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


@pytest.fixture
def two_hubs(database_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    first = asyncio.run(_fresh_database(database_url, "renkei_fed_loop_a"))
    second = asyncio.run(_fresh_database(database_url, "renkei_fed_loop_b"))
    common = {"federation_cache_ttl": "0", "federation_timeout": "3"}
    a = start_hub(first, federation_identity="urn:ngsi-ld:ContextSource:hub-a", **common)
    try:
        b = start_hub(second, federation_identity="urn:ngsi-ld:ContextSource:hub-b", **common)
    except Exception:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
        for name in ("renkei_fed_loop_a", "renkei_fed_loop_b"):
            asyncio.run(_drop_database(database_url, name))


async def _setup_and_query(a: str, b: str) -> tuple[int, list[str], float, str | None]:
    async with aiohttp.ClientSession() as http:
        for hub, other, name in ((a, b, "a"), (b, a, "b")):
            reg = {"type": "ContextSourceRegistration",
                   "information": [{"entities": [{"type": "RainGauge"}]}], "endpoint": other}
            async with http.post(hub + BASE + "/csourceRegistrations", json=reg) as resp:
                assert resp.status == 201, await resp.text()
            gauge = {"id": f"urn:ngsi-ld:RainGauge:{name}", "type": "RainGauge",
                     "rain": {"type": "Property", "value": 1.0}}
            async with http.post(hub + BASE + "/entities?local=true", json=gauge) as resp:
                assert resp.status == 201, await resp.text()
        started = time.monotonic()
        async with http.get(a + BASE + "/entities", params={"type": "RainGauge"}) as resp:
            body = await resp.json()
            return (resp.status, sorted(e["id"] for e in body), time.monotonic() - started,
                    resp.headers.get("NGSILD-Warning"))


def test_a_registration_loop_is_cut_by_via(two_hubs: tuple[HubProcess, HubProcess]) -> None:
    a, b = two_hubs
    status, ids, took, warning = asyncio.run(_setup_and_query(a.base, b.base))
    assert status == 200
    assert ids == ["urn:ngsi-ld:RainGauge:a", "urn:ngsi-ld:RainGauge:b"]
    assert warning is None
    assert took < 3.0  # answered, not timed out by a loop
