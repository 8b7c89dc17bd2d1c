"""A real local HTTP notification receiver for subscription tests.

It records every request (headers and JSON body) and can be told to fail (answer 500) or to
be slow, so tests can check delivery, retries and fairness against a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

__all__ = ["Received", "Receiver", "receiver", "serve_local"]


async def serve_local(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1 at a free port; the runner (to clean up) and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


@dataclass(slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/notify") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        """Record what arrives (unless failing), then answer after ``delay``: a sender that
        dies meanwhile has still delivered, as with a real receiver."""
        if self.status >= 300:
            return web.Response(status=self.status)
        body = orjson.loads(await request.read())
        self.received.append(Received(request.path, dict(request.headers), body))
        self._arrived.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve_local(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, n: int, seconds: float = 10.0) -> list[Received]:
        """Wait until at least ``n`` notifications arrived; fail the test otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.received) < n:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"expected {n} notifications, got {len(self.received)}:"
                                     f" {[r.body for r in self.received]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.2))
        return self.received

    def data(self) -> list[dict[str, Any]]:
        return [e for r in self.received for e in r.body["data"]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A started receiver, stopped after the test (import it into a test module to use)."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
