"""Per-subscription order across processes (issue #18): two hub processes on one database
and a flaky receiver; each entity's notifications arrive in the order of its changes, none
is lost, and after a process is killed mid-delivery the redelivered notification arrives
before anything newer of its subscription."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.conftest import reset_database
from tests.hubproc import HubProcess, start_hub
from tests.integration.helpers import JSON
from tests.integration.receiver import serve_local

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
FAST = {"subscription_poll_interval": "0.2", "notification_timeout": "2",
        "notification_lease": "7"}


@dataclass
class Arrival:
    notification: str
    entity: str
    value: int


@dataclass
class FlakyReceiver:
    """Answers 503 to every ``fail_every``-th request and is slow on every ``slow_every``-th
    (``slow`` seconds); records only what it accepted (2xx), in arrival order."""

    fail_every: int = 0
    slow_every: int = 0
    slow: float = 0.0
    first_delay: float = 0.0  # the very first request is held this long (a kill window)
    arrivals: list[Arrival] = field(default_factory=list)
    requests: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        n = self.requests
        body = orjson.loads(await request.read())
        if self.fail_every and n % self.fail_every == 0:
            return web.Response(status=503)
        if n == 1 and self.first_delay:
            self._record(body)  # accepted at once; the answer is what takes time
            await asyncio.sleep(self.first_delay)
            return web.Response(status=200)
        if self.slow_every and n % self.slow_every == 0:
            await asyncio.sleep(self.slow)
        self._record(body)
        return web.Response(status=200)

    def _record(self, body: dict[str, Any]) -> None:
        for e in body["data"]:
            self.arrivals.append(Arrival(body["id"], e["id"], int(e["n"])))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify", self._handle)
        self._runner, self.port = await serve_local(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def wait_distinct(self, n: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len({a.notification for a in self.arrivals}) < n:
            assert loop.time() < deadline, f"{len(self.arrivals)} arrivals, wanted {n} distinct"
            await asyncio.sleep(0.05)


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyReceiver]:
    r = FlakyReceiver()
    await r.start()
    yield r
    await r.stop()


def _entity(j: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Counter:e{j}", "type": "Counter",
            "n": {"type": "Property", "value": 0}}


def _subscription(url: str) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Subscription:order", "type": "Subscription",
            "entities": [{"type": "Counter"}], "watchedAttributes": ["n"],
            "notification": {"endpoint": {"uri": url}, "format": "keyValues",
                             "attributes": ["n"]}}


async def _request(http: aiohttp.ClientSession, method: str, url: str, body: Any) -> int:
    async with http.request(method, url, json=body, headers=JSON) as resp:
        return resp.status


def _report(arrivals: list[Arrival], sent: int) -> dict[str, int]:
    """sent / delivered (distinct notifications) / duplicated / out-of-order (an arrival
    older than one already received for the same entity: a receiver keeping the last
    value would go back to a stale one) / lost."""
    newest: dict[str, int] = {}
    out_of_order = 0
    for a in arrivals:
        if a.value < newest.get(a.entity, -1):
            out_of_order += 1
        newest[a.entity] = max(newest.get(a.entity, -1), a.value)
    distinct = {(a.entity, a.value) for a in arrivals}
    return {"sent": sent, "delivered": len({a.notification for a in arrivals}),
            "duplicated": len(arrivals) - len({a.notification for a in arrivals}),
            "out_of_order": out_of_order, "lost": sent - len(distinct)}


async def test_two_processes_and_a_flaky_receiver_keep_order_and_lose_nothing(
    database_url: str, flaky: FlakyReceiver
) -> None:
    flaky.fail_every, flaky.slow_every, flaky.slow = 25, 4, 0.08
    entities, per_entity = 5, 40
    await reset_database(database_url)
    hubs = [start_hub(database_url, **FAST), start_hub(database_url, **FAST)]
    try:
        async with aiohttp.ClientSession() as http:
            for j in range(entities):
                assert await _request(http, "POST", hubs[0].base + E, _entity(j)) == 201
            assert await _request(http, "POST", hubs[0].base + S,
                                  _subscription(flaky.url())) == 201

            async def updates(j: int) -> None:  # one entity's changes, one after another
                for k in range(1, per_entity + 1):
                    url = f"{hubs[k % 2].base}{E}/urn:ngsi-ld:Counter:e{j}/attrs"
                    status = await _request(http, "PATCH", url,
                                            {"n": {"type": "Property", "value": k}})
                    assert status == 204

            await asyncio.gather(*(updates(j) for j in range(entities)))
            await flaky.wait_distinct(entities * per_entity, seconds=50)
            await asyncio.sleep(1.0)  # anything sent twice would arrive by now
    finally:
        for h in hubs:
            assert h.stop() == 0, h.output()
    report = _report(flaky.arrivals, entities * per_entity)
    print(f"\ntwo processes, flaky receiver ({flaky.requests} requests): {report}")
    assert report["lost"] == 0 and report["out_of_order"] == 0, report
    assert report["delivered"] == entities * per_entity, report


async def test_kill_mid_delivery_redelivers_before_anything_newer(
    database_url: str, flaky: FlakyReceiver
) -> None:
    flaky.first_delay = 5.0  # the first notification stays in flight: the kill lands there
    updates = 8
    await reset_database(database_url)
    first = start_hub(database_url, **FAST)
    second: HubProcess | None = None
    try:
        async with aiohttp.ClientSession() as http:
            assert await _request(http, "POST", first.base + E, _entity(0)) == 201
            assert await _request(http, "POST", first.base + S,
                                  _subscription(flaky.url())) == 201
            url = f"{first.base}{E}/urn:ngsi-ld:Counter:e0/attrs"
            for k in range(1, updates + 1):
                assert await _request(http, "PATCH", url,
                                      {"n": {"type": "Property", "value": k}}) == 204
            await flaky.wait_distinct(1, seconds=10)
            second = start_hub(database_url, **FAST)  # two processes, one mid-delivery
            first.kill()
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            await flaky.wait_distinct(updates, seconds=30)
            recovered = loop.time() - killed_at
            await asyncio.sleep(1.0)
    finally:
        if second is not None:
            assert second.stop() == 0, second.output()
        if first.proc.poll() is None:
            first.kill()
    arrivals = flaky.arrivals
    report = _report(arrivals, updates)
    print(f"\nkill -9 mid-delivery: {report}, all delivered {recovered:.1f} s after the kill")
    assert report["lost"] == 0 and report["out_of_order"] == 0, report
    # the one in flight at the kill went out again, before anything newer
    assert arrivals[0].value == 1 and arrivals[1].notification == arrivals[0].notification
    assert [a.value for a in arrivals[1:]] == list(range(1, updates + 1))
    assert Counter(a.notification for a in arrivals).most_common(1)[0][1] == 2
