"""Resource limits (issue #12, class 5): every client-supplied input has a bounded cost.

Regular expressions run in RE2 (linear time) or are refused at the request that brings
them; parse depth is bounded with a 400 naming the limit; a statement past
``statement_timeout`` and a request past ``request_deadline`` answer 503 with
``Retry-After`` while the hub keeps serving. Each refusal leaves stored data unchanged
(the ``digest`` of tests/security/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.db.pool import create_pool
from hub.deadline import deadline_middleware
from hub.middleware import error_middleware
from hub.settings import Settings
from tests.conftest import reset_database
from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
EVIL = "(a+)+$"
VICTIM = "urn:ngsi-ld:Gauge:nagano-" + "a" * 40 + "!"


async def _problem(resp: web.Response | object, status: int, kind: str) -> dict[str, object]:
    body = await resp.json(content_type=None)  # type: ignore[attr-defined]
    assert resp.status == status, body  # type: ignore[attr-defined]
    assert body["type"] == ERR + kind and body["status"] == status, body
    assert isinstance(body["detail"], str)
    return body  # type: ignore[no-any-return]


def _subscription(pattern: str) -> dict[str, object]:
    return {"type": "Subscription", "entities": [{"type": "Gauge", "idPattern": pattern}],
            "notification": {"endpoint": {"uri": "http://notify.invalid/n"}}}


# -- regular expressions ---------------------------------------------------------------------


async def test_catastrophic_id_pattern_does_not_freeze_the_hub(world: World) -> None:
    """The subscription is accepted (RE2 runs it in linear time); the write that makes the
    matcher evaluate it, and every request after, completes promptly."""
    w = world
    resp = await w.http.post(BASE + "/subscriptions", json=_subscription(EVIL),
                             headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    body = {"id": VICTIM, "type": "Gauge", "rain": {"type": "Property", "value": 1.0}}
    resp = await w.http.post(BASE + "/entities", json=body, headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # the matcher runs meanwhile in the same loop
        started = time.monotonic()
        resp = await asyncio.wait_for(
            w.http.get(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1", headers=w.auth("nagano")),
            timeout=2.0)
        assert resp.status == 200
        assert time.monotonic() - started < 2.0
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("pattern", "why"), [
    ("(a)\\1", "backreference"),
    ("(?=urn)urn.*", "lookahead"),
    ("(?<!x)urn", "lookbehind"),
    ("a" * 513, "longer than 512"),
    ("(unclosed", "syntax"),
])
async def test_unsupported_id_pattern_refused_at_subscription_create(
        w: World, pattern: str, why: str) -> None:
    resp = await w.http.post(BASE + "/subscriptions", json=_subscription(pattern),
                             headers=w.auth("nagano", **JSON))
    body = await resp.json(content_type=None)
    assert resp.status == 400, (why, body)
    assert body["type"] in (ERR + "BadRequestData", ERR + "InvalidRequest"), body


async def test_unsupported_id_pattern_refused_at_subscription_update(world: World) -> None:
    w = world
    resp = await w.http.post(BASE + "/subscriptions", json=_subscription("nagano"),
                             headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    sid = resp.headers["Location"].rsplit("/", 1)[-1]
    digest = Digest(w.url)
    await digest.seal()
    patch = {"entities": [{"type": "Gauge", "idPattern": "(x)\\1"}]}
    resp = await w.http.patch(BASE + f"/subscriptions/{quote(sid, safe=':')}", json=patch,
                              headers=w.auth("nagano", **JSON))
    assert resp.status == 400, await resp.text()
    await digest.check()


@pytest.mark.parametrize("query", [
    "type=Gauge&idPattern=" + quote("(a)\\1"),
    "type=Gauge&idPattern=" + quote("a" * 600),
    "type=Gauge&q=" + quote('rain~="(?=1)1"'),
    "type=Gauge&q=" + quote('rain~="(x)\\1"'),
])
async def test_query_regex_limits(w: World, query: str) -> None:
    resp = await w.http.get(BASE + "/entities?" + query, headers=w.auth("nagano"))
    assert resp.status == 400, await resp.text()


async def test_catastrophic_pattern_in_query_is_answered(w: World) -> None:
    """In SQL the pattern is bounded by the statement timeout; here it simply answers."""
    resp = await w.http.get(BASE + "/entities?type=Gauge&idPattern=" + quote(EVIL),
                            headers=w.auth("nagano"))
    assert resp.status == 200, await resp.text()


# -- parse depth -----------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "kind"), [
    ("type=Gauge&q=" + quote("(" * 2000 + "rain==1" + ")" * 2000), "InvalidRequest"),
    ("type=Gauge&scopeQ=" + quote("(" * 2000 + "/a" + ")" * 2000), "InvalidRequest"),
    ("type=" + quote("(" * 2000 + "Gauge" + ")" * 2000), "BadRequestData"),
    ("type=Gauge&pick=" + quote("a{" * 1000 + "b" + "}" * 1000), "BadRequestData"),
    ("type=Gauge&georel=near%3BmaxDistance%3D1&geometry=Point&coordinates="
     + quote("[" * 1100 + "]" * 1100), "BadRequestData"),
])
async def test_deep_nesting_in_query_parameters_is_400(w: World, query: str, kind: str) -> None:
    resp = await w.http.get(BASE + "/entities?" + query, headers=w.auth("nagano"))
    await _problem(resp, 400, kind)


async def test_deep_nesting_in_post_query_and_bodies_is_400(w: World) -> None:
    deep_q = {"type": "Query", "entities": [{"type": "Gauge"}],
              "q": "(" * 5000 + "rain==1" + ")" * 5000}
    resp = await w.http.post(BASE + "/entityOperations/query", json=deep_q,
                             headers=w.auth("nagano", **JSON))
    await _problem(resp, 400, "InvalidRequest")
    deep_body = ("[" * 1100 + "]" * 1100).encode()
    resp = await w.http.post(BASE + "/entities", data=deep_body,
                             headers=w.auth("nagano", **JSON))
    await _problem(resp, 400, "InvalidRequest")
    value = {"id": "urn:ngsi-ld:Gauge:nagano-9", "type": "Gauge", "rain": {
        "type": "Property", "value": ("[" * 300 + "]" * 300)}}
    value["rain"]["value"] = []  # type: ignore[index]
    nested: list[object] = []
    for _ in range(300):
        nested = [nested]
    value["rain"]["value"] = nested  # type: ignore[index]
    resp = await w.http.post(BASE + "/entities", json=value, headers=w.auth("nagano", **JSON))
    await _problem(resp, 400, "BadRequestData")


# -- statement timeout and request deadline --------------------------------------------------


@pytest.fixture
async def slow_hub(database_url: str) -> AsyncIterator[TestClient]:
    """The hub's two outer middlewares (error renderer, deadline) and a pool made by the
    hub's ``create_pool``, with a tight statement timeout and deadline, around test routes
    slow in PostgreSQL, slow in Python, and quick. (The full app refuses routes missing
    from its access route table, so the slow routes live in an app of their own.)"""
    settings = Settings(database_url=database_url, statement_timeout=0.3,
                        request_deadline=1.0)
    app = web.Application(middlewares=[error_middleware, deadline_middleware])
    app[keys.SETTINGS] = settings
    pool = await create_pool(database_url, 1, 2, statement_timeout=settings.statement_timeout)

    async def slow_sql(request: web.Request) -> web.Response:
        async with pool.acquire() as con:
            await con.execute("SELECT pg_sleep(5)")
        return web.Response(text="too late")

    async def slow_python(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(text="too late")

    async def quick(request: web.Request) -> web.Response:
        async with pool.acquire() as con:
            return web.json_response({"one": await con.fetchval("SELECT 1")})

    app.router.add_get("/slow-sql", slow_sql)
    app.router.add_get("/slow-python", slow_python)
    app.router.add_get("/quick", quick)
    try:
        async with TestClient(TestServer(app)) as c:
            yield c
    finally:
        await pool.close()


async def test_statement_timeout_answers_503(slow_hub: TestClient) -> None:
    started = time.monotonic()
    resp = await slow_hub.get("/slow-sql")
    body = await _problem(resp, 503, "InternalError")
    assert "statement timeout" in str(body["detail"])
    assert int(resp.headers["Retry-After"]) >= 1
    assert time.monotonic() - started < 3.0
    resp = await slow_hub.get("/quick")  # the connection went back to the pool usable
    assert resp.status == 200 and (await resp.json())["one"] == 1


async def test_request_deadline_answers_503_and_hub_keeps_serving(
        slow_hub: TestClient) -> None:
    slow = asyncio.create_task(slow_hub.get("/slow-python"))
    await asyncio.sleep(0.1)
    resp = await asyncio.wait_for(slow_hub.get("/quick"), timeout=2.0)
    assert resp.status == 200  # served while the slow request waits
    started = time.monotonic()
    resp = await asyncio.wait_for(slow, timeout=5.0)
    await _problem(resp, 503, "InternalError")
    assert int(resp.headers["Retry-After"]) >= 1
    assert time.monotonic() - started < 2.0


async def test_hub_pools_carry_the_statement_timeout(database_url: str) -> None:
    """The real app's pools get the setting; background loops outlive the deadline (the
    middleware wraps requests only)."""
    await reset_database(database_url)
    app = create_app(Settings(database_url=database_url, auth_mode="dev",
                              statement_timeout=2.5, request_deadline=0.5))
    async with TestClient(TestServer(app)) as c:
        for key in (keys.POOL, keys.QUERY_POOL):
            async with app[key].acquire() as con:
                assert await con.fetchval("SHOW statement_timeout") == "2500ms"
        await asyncio.sleep(1.0)
        tasks = list(app[keys.SUBSCRIPTIONS]._tasks)
        assert tasks and all(not t.done() for t in tasks)
        resp = await c.get(BASE + "/types")
        assert resp.status == 200
    app[keys.TENANTS].forget()
