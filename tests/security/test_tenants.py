"""Tenants are created by writers only, within a quota (issue #12, class 5).

Every tenant is a PostgreSQL schema with its tables and background work; any read or
subscribe client used to create one per ``NGSILD-Tenant`` value it sent. Now, with access
control on, only a ``write`` token creates a tenant, its name is checked, and at most
``max_tenants`` exist. Reads of a missing tenant answer 404 ``NonexistentTenant`` and
create nothing. Each refusal leaves the tenants list and every table unchanged.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.db.tenants import TenantDirectory, schema_for
from hub.errors import BadRequestData, Forbidden
from tests.integration.authz_world import BASE, JSON, World, gauge
from tests.security.conftest import Digest

NONEXISTENT = "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant"
SUBSCRIPTION = {"type": "Subscription", "entities": [{"type": "River"}],
                "notification": {"endpoint": {"uri": "http://example.org/n"}}}


async def tenants(w: World) -> list[str]:
    async with w.http.app[keys.POOL].acquire() as con:
        return [r["name"] for r in await con.fetch("SELECT name FROM renkei.tenants"
                                                   " ORDER BY name")]


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/entities?type=Gauge", None),
    ("GET", "/types", None),
    ("POST", "/subscriptions", SUBSCRIPTION),
    ("POST", "/entityOperations/query", {"type": "Query", "entities": [{"type": "Gauge"}]}),
])
async def test_a_reader_or_subscriber_creates_no_tenant(w: World, method: str, path: str,
                                                        body: object) -> None:
    before = await tenants(w)
    resp = await w.http.request(method, BASE + path, json=body,
                                headers=w.auth("firm", **{"NGSILD-Tenant": "firm-spam-1"}))
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["type"] == NONEXISTENT
    assert await tenants(w) == before


async def test_a_write_token_without_write_scope_creates_no_tenant(w: World) -> None:
    """The prefecture's token (read, manage) cannot create a tenant by writing either."""
    resp = await w.http.post(BASE + "/entities", json=gauge("nagano", 9, 1.0),
                             headers=w.auth("pref", **JSON, **{"NGSILD-Tenant": "pref-t"}))
    assert resp.status in (403, 404), await resp.text()
    assert "pref-t" not in await tenants(w)


async def test_a_writer_creates_a_tenant_and_the_reader_then_sees_it(
        w: World, digest: Digest) -> None:
    resp = await w.http.post(BASE + "/entities", json=gauge("nagano", 7, 3.0),
                             headers=w.auth("nagano", **JSON, **{"NGSILD-Tenant": "flood"}))
    assert resp.status == 201, await resp.text()
    assert "flood" in await tenants(w)
    await digest.seal()
    resp = await w.http.get(BASE + "/entities?type=Gauge",
                            headers=w.auth("firm", **{"NGSILD-Tenant": "flood"}))
    assert resp.status == 200  # exists now: an ordinary (empty for the firm) answer


@pytest.mark.parametrize("name", ["a b", 'x"y', "<script>", "tab\there", "back\\slash"])
async def test_a_new_tenant_name_is_checked(w: World, name: str) -> None:
    resp = await w.http.post(BASE + "/entities", json=gauge("nagano", 8, 3.0),
                             headers=w.auth("nagano", **JSON, **{"NGSILD-Tenant": name}))
    assert resp.status == 400, await resp.text()
    assert name not in await tenants(w)


async def test_the_quota_holds_and_a_refused_creation_leaves_nothing(w: World,
                                                                      digest: Digest) -> None:
    pool = w.http.app[keys.POOL]
    quota = len(await tenants(w)) + 1
    directory = TenantDirectory()
    await directory.resolve(pool, "within-quota", True, quota=quota, checked=True)
    await digest.seal()
    with pytest.raises(Forbidden):
        await directory.resolve(pool, "over-quota", True, quota=quota, checked=True)
    with pytest.raises(BadRequestData):
        await directory.resolve(pool, "bad name", True, quota=0, checked=True)
    async with pool.acquire() as con:
        assert await con.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                                  schema_for("over-quota")) == 0


async def test_development_mode_creates_tenants_as_before(client: TestClient) -> None:
    """The ETSI behaviour: reads of a missing tenant are 404, the first write creates it."""
    resp = await client.get(BASE + "/entities?type=Gauge",
                            headers={"NGSILD-Tenant": "dev-tenant"})
    assert resp.status == 404 and (await resp.json())["type"] == NONEXISTENT
    resp = await client.post(BASE + "/subscriptions", json=SUBSCRIPTION,
                             headers={"NGSILD-Tenant": "dev tenant with spaces", **JSON})
    assert resp.status == 201, await resp.text()
