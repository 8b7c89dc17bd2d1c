"""Several hub processes on one database behave as one hub for federation: a registration
made through one process is followed by the others at once (LISTEN/NOTIFY, not the cache's
fallback TTL, which is an hour here), its removal too, and all of them put the same
identity in ``Via`` — the hub's, derived from the database — so a loop through any of
them is recognised."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.federation.test_hub_loop import _drop_database, _fresh_database
from tests.hubproc import HubProcess, start_hub

BASE = "/ngsi-ld/v1"
GAUGE = {"id": "urn:ngsi-ld:RainGauge:remote-1", "type": "RainGauge",
         "rain": {"type": "Property", "value": 4.5}}


@pytest.fixture
def hubs(database_url: str) -> Iterator[tuple[HubProcess, HubProcess, HubProcess]]:
    shared = asyncio.run(_fresh_database(database_url, "renkei_fed_scale_a"))
    other = asyncio.run(_fresh_database(database_url, "renkei_fed_scale_b"))
    started: list[HubProcess] = []
    try:
        for url in (shared, shared, other):
            started.append(start_hub(url, federation_cache_ttl="3600",
                                     federation_timeout="3"))
        yield started[0], started[1], started[2]
    finally:
        for hub in started:
            hub.stop()
        for name in ("renkei_fed_scale_a", "renkei_fed_scale_b"):
            asyncio.run(_drop_database(database_url, name))


async def _ids(http: aiohttp.ClientSession, base: str) -> list[str]:
    async with http.get(base + BASE + "/entities", params={"type": "RainGauge"}) as resp:
        assert resp.status == 200, await resp.text()
        return sorted(e["id"] for e in await resp.json())


async def _until(http: aiohttp.ClientSession, base: str, want: list[str]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 5.0:
        if await _ids(http, base) == want:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{base} never answered {want}: {await _ids(http, base)}")


async def _scenario(first: str, second: str, source: str) -> tuple[float, float, list[str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(source + BASE + "/entities", json=GAUGE) as resp:
            assert resp.status == 201, await resp.text()
        assert await _ids(http, second) == []  # the second process now holds "none"
        reg = {"type": "ContextSourceRegistration", "endpoint": source,
               "information": [{"entities": [{"type": "RainGauge"}]}]}
        async with http.post(first + BASE + "/csourceRegistrations", json=reg) as resp:
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
        seen = await _until(http, second, [GAUGE["id"]])
        async with http.delete(first + location) as resp:
            assert resp.status == 204, await resp.text()
        gone = await _until(http, second, [])
        identities = []
        for base in (first, second):
            async with http.get(base + BASE + "/info/sourceIdentity") as resp:
                identities.append((await resp.json())["id"])
        return seen, gone, identities


def test_processes_on_one_database_follow_registrations_at_once(
        hubs: tuple[HubProcess, HubProcess, HubProcess]) -> None:
    first, second, source = hubs
    seen, gone, identities = asyncio.run(_scenario(first.base, second.base, source.base))
    assert seen < 2.0 and gone < 2.0  # by notification, far inside the hour-long TTL
    assert identities[0] == identities[1]  # one hub, one identity
