"""Harness of the egress tests: real local HTTP servers and an enforcing hub whose
``egress_allow`` names exactly the servers a test chooses (tests/security/test_egress.py,
test_contexts_hosting.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from tests.integration.authz_world import (
    BASE,
    JSON,
    NAGANO,
    UEDA,
    World,
    enforced_settings,
    gauge,
    register,
    reset_authz,
)
from tests.integration.receiver import serve_local

__all__ = ["CONTEXT", "Site", "enforcing_world", "link", "site"]

CONTEXT = {"@context": {"rain": "https://example.org/rainfall"}}


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context";'
                    ' type="application/ld+json"'}


@dataclass
class Site:
    """A real HTTP server on 127.0.0.1: ``/ctx/<n>`` a valid context, ``/plain`` JSON that
    is no context, ``/to?u=<url>`` a 302 to ``url``, POST ``/notify`` a receiver. ``hits``
    records every request path, so a test proves the hub never connected."""

    port: int = 0
    hits: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        if request.path.startswith("/ctx/"):
            return web.json_response(CONTEXT, content_type="application/ld+json")
        if request.path == "/plain":
            return web.json_response({"secret": "inside"})
        if request.path == "/to":
            raise web.HTTPFound(request.query["u"])
        return web.Response(status=200)


@asynccontextmanager
async def site() -> AsyncIterator[Site]:
    s = Site()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s._handle)
    s.runner, s.port = await serve_local(app)
    try:
        yield s
    finally:
        await s.runner.cleanup()


@asynccontextmanager
async def enforcing_world(database_url: str, *, reset: bool = True,
                          **settings: Any) -> AsyncIterator[World]:
    """An enforcing hub with Nagano and Ueda (read, write, subscribe) and one Nagano gauge;
    ``settings`` override (e.g. ``egress_allow``). ``reset=False`` adds a second hub process
    on the same database (the first one's set-up stays)."""
    if reset:
        await reset_authz(database_url)
    app = create_app(enforced_settings(database_url, **settings))
    async with TestClient(TestServer(app)) as http:
        w = World(http, database_url)
        if reset:
            await register(app[keys.POOL])
            app[keys.REGISTRY_RULES].invalidate()
        await w.login("nagano", NAGANO, ["read", "write", "subscribe"])
        await w.login("ueda", UEDA, ["read", "write", "subscribe"])
        await w.refresh()
        if reset:
            resp = await http.post(BASE + "/entities", json=gauge("nagano", 1, 5.0),
                                   headers=w.auth("nagano", **JSON))
            assert resp.status == 201, await resp.text()
        yield w
    app[keys.TENANTS].forget()
