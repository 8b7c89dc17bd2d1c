"""Rate limits: anonymous callers per client address (``anonymous_rate_per_minute``),
and a ceiling on the rate a client or grant may be given (``max_rate_per_minute``) that
only the configured operator may exceed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from tests.integration.authz_world import (
    BASE,
    JSON,
    NAGANO,
    World,
    enforced_settings,
    register,
    reset_authz,
)
from tests.security.conftest import Digest, take_digest

ANON_LIMIT = 5


async def _same_minute() -> None:
    """Rate windows are fixed minutes: start a counting test well inside one."""
    second = datetime.now(UTC).second
    if second >= 50:
        await asyncio.sleep(61 - second)


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[World]:
    """An enforcing hub that admits 5 anonymous requests per minute per address."""
    await reset_authz(database_url)
    app = create_app(enforced_settings(database_url, anonymous_rate_per_minute=ANON_LIMIT))
    async with TestClient(TestServer(app)) as http:
        await register(app[keys.POOL])
        w = World(http, database_url)
        await w.login("nagano", NAGANO, ["read"])
        await w.refresh()
        yield w
    app[keys.TENANTS].forget()


async def test_anonymous_callers_are_limited_per_address(limited: World) -> None:
    w = limited
    before = await take_digest(w.url)
    await _same_minute()
    paths = [BASE + "/entities?type=River", "/catalog", f"{BASE}/types",
             "/registry/v1/datasets", BASE + "/entities?type=River"]
    for path in paths:  # public and anonymous reads count alike
        resp = await w.http.get(path)
        assert resp.status == 200, (path, await resp.text())
    for path in (BASE + "/entities?type=River", "/catalog"):
        resp = await w.http.get(path)
        assert resp.status == 429, await resp.text()
        assert resp.content_type == "application/json"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # a caller with a token has its own client rate, not the address's
    resp = await w.http.get(BASE + "/entities?type=River", headers=w.auth("nagano"))
    assert resp.status == 200
    assert await take_digest(w.url) == before


async def test_a_client_rate_above_the_ceiling_needs_the_operator(w: World,
                                                                  digest: Digest) -> None:
    ceiling = w.http.app[keys.SETTINGS].max_rate_per_minute
    for who in ("firm-admin", "nagano-admin"):
        resp = await w.http.post("/authz/v1/clients", headers=w.auth(who, **JSON), json={
            "name": "fast", "scopes": ["read"], "rate_per_minute": ceiling + 1})
        assert resp.status == 403, await resp.text()
        assert "operator" in (await resp.json())["detail"]


async def test_a_grant_rate_above_the_ceiling_needs_the_operator(w: World,
                                                                 digest: Digest) -> None:
    ceiling = w.http.app[keys.SETTINGS].max_rate_per_minute
    resp = await w.http.post("/authz/v1/grants", headers=w.auth("firm-admin", **JSON), json={
        "dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
        "valid_from": "2026-01-01T00:00:00+09:00", "valid_until": "2099-01-01T00:00:00+09:00",
        "rate_per_minute": ceiling * 100})
    assert resp.status == 403, await resp.text()
