"""One route table (hub/service/route_policy.py): every route has a policy, the policy is
found from the resolved route and never from the path string, and a route without a
policy is refused.

Attacks run against the enforcing world; each asserts the refusal and (through `w` and
`digest`, tests/security/conftest.py) that nothing stored changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.service.route_policy import ROUTES, Need, need_of
from hub.settings import Settings
from tests.integration.authz_world import (
    BASE,
    JSON,
    NAGANO,
    World,
    enforced_settings,
    register,
    reset_authz,
)
from tests.security.conftest import Digest

SLASHED = "urn:ngsi-ld:Gauge:nagano-x/subscriptions"
ENCODED = "urn:ngsi-ld:Gauge:nagano-x%2Fsubscriptions"


def _registered(app: web.Application) -> list[tuple[str, str]]:
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                   if r.resource is not None})


def test_every_registered_route_has_a_policy() -> None:
    """A new route without an entry in the table fails here, before it is ever served."""
    routes = _registered(create_app(Settings(auth_mode="enforce")))
    assert len(routes) > 100
    missing = [f"{m} {p}" for m, p in routes if need_of(m, p) is None]
    assert not missing, f"routes without an access policy: {missing}"


def test_the_table_names_only_registered_routes() -> None:
    """No stale entry: every (path, method) in the table is a route the app registers."""
    registered = set(_registered(create_app(Settings(auth_mode="enforce"))))
    stale = [f"{m} {p}" for p, methods in ROUTES.items() for m in methods
             if (m, p) not in registered]
    assert not stale, f"table entries for routes nobody registers: {stale}"


def test_policy_comes_from_the_route_pattern_not_the_path() -> None:
    """The table is keyed by patterns: an id can never be looked up as a path."""
    assert need_of("POST", f"{BASE}/entities/{{entityId}}/attrs") is Need.WRITE
    assert need_of("POST", f"{BASE}/entities/{ENCODED}/attrs") is None
    assert need_of("HEAD", f"{BASE}/entities/{{entityId}}") is Need.READ
    assert need_of("GET", "/registry/v1/adapters/{adapterId}/runs") is Need.MANAGE
    assert need_of("GET", "/registry/v1/datasets/") is Need.PUBLIC  # the slash alias


async def test_an_id_containing_subscriptions_needs_the_write_scope(w: World,
                                                                    digest: Digest) -> None:
    """The substring bypass: a client with read+subscribe but no write scope may not
    change its own organisation's entity whose id contains ``/subscriptions``."""
    resp = await w.http.post(BASE + "/entities", headers=w.auth("nagano", **JSON), json={
        "id": SLASHED, "type": "Gauge", "rain": {"type": "Property", "value": 1.0}})
    assert resp.status == 201, await resp.text()
    await w.login("nagano-sub", NAGANO, ["read", "subscribe"])
    await digest.seal()
    attack = {"rain": {"type": "Property", "value": 999.0}}
    for method, path, body in (
            ("POST", f"{BASE}/entities/{ENCODED}/attrs", attack),
            ("PATCH", f"{BASE}/entities/{ENCODED}/attrs", attack),
            ("PATCH", f"{BASE}/entities/{ENCODED}/attrs/rain", attack["rain"]),
            ("PATCH", f"{BASE}/entities/{ENCODED}", attack),
            ("DELETE", f"{BASE}/entities/{ENCODED}", None),
            ("POST", f"{BASE}/entityOperations/update?x=/subscriptions",
             [{"id": SLASHED, "type": "Gauge", **attack}]),
    ):
        resp = await w.http.request(method, path, json=body,
                                    headers=w.auth("nagano-sub", **JSON))
        assert resp.status == 403, (method, path, resp.status, await resp.text())
        problem = await resp.json()
        assert "write scope" in problem["detail"], problem


@pytest.mark.parametrize("path", [
    f"{BASE}//subscriptions/../entities/{ENCODED}/attrs",
    f"{BASE}/subscriptions/%2E%2E/entities/{ENCODED}/attrs",
    f"{BASE}/subscriptions%2F..%2Fentities/{ENCODED}/attrs",
    f"{BASE}/entities/{ENCODED}/attrs/%2Fsubscriptions",
])
async def test_path_tricks_reach_no_write_without_the_write_scope(w: World, digest: Digest,
                                                                  path: str) -> None:
    """``//``, dot segments and percent-encoded slashes either resolve to a real route
    (whose policy then applies) or to none (404/405): never to a weaker policy."""
    await w.login("nagano-sub", NAGANO, ["read", "subscribe"])
    await digest.seal()
    resp = await w.http.post(path, json={"rain": {"type": "Property", "value": 999.0}},
                             headers=w.auth("nagano-sub", **JSON))
    assert resp.status in (403, 404, 405), (resp.status, await resp.text())
    assert resp.content_type == "application/json"


@pytest.fixture
async def with_unmapped_route(database_url: str) -> AsyncIterator[tuple[TestClient, list[str]]]:
    """An enforcing hub with one extra route that nobody put in the table."""
    await reset_authz(database_url)
    app = create_app(enforced_settings(database_url))
    called: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        called.append(request.path)
        return web.json_response({"leaked": True})

    app.router.add_get("/ngsi-ld/v1/forgotten", secret)
    app.router.add_post("/registry/v1/forgotten", secret)
    async with TestClient(TestServer(app)) as http:
        await register(app[keys.POOL])
        yield http, called
    app[keys.TENANTS].forget()


async def test_a_route_without_a_policy_is_refused(
        with_unmapped_route: tuple[TestClient, list[str]]) -> None:
    """Fail closed: the handler of an unmapped route never runs; 403 problem details."""
    http, called = with_unmapped_route
    for method, path in (("GET", "/ngsi-ld/v1/forgotten"), ("POST", "/registry/v1/forgotten")):
        resp = await http.request(method, path)
        assert resp.status == 403, await resp.text()
        problem = await resp.json()
        assert problem["title"] == "Forbidden" and "no access policy" in problem["detail"]
    assert called == []
