"""Migrations reach tenants that existed before a new version shipped."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
from hub.db.migrations import tenant_versions
from hub.settings import Settings
from tests.integration.helpers import JSON, gauge


async def test_start_up_applies_pending_tenant_migrations(
    client: TestClient, settings: Settings
) -> None:
    t = {**JSON, "NGSILD-Tenant": "old-town"}
    assert (await client.post("/ngsi-ld/v1/entities", json=gauge(1), headers=t)).status == 201
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    try:
        schema = await con.fetchval("SELECT schema_name FROM renkei.tenants WHERE name = $1",
                                    "old-town")
        temporal = [v for v in tenant_versions() if "temporal" in v]
        assert len(temporal) >= 2  # the tables, then their dataset column
        # pretend the temporal migrations shipped after this tenant was created
        await con.execute("DELETE FROM renkei.migrations WHERE scope = $1"
                          " AND version = ANY($2::text[])", "tenant:" + schema, temporal)
        await con.execute(f'DROP TABLE IF EXISTS "{schema}".temporal_instances, '
                          f'"{schema}".temporal_entities')
        async with TestClient(TestServer(create_app(settings))) as restarted:
            done = await con.fetchval(
                "SELECT count(*) FROM renkei.migrations WHERE scope = $1"
                " AND version = ANY($2::text[])", "tenant:" + schema, temporal)
            assert done == len(temporal)
            resp = await restarted.get("/ngsi-ld/v1/temporal/entities/urn:x:1",
                                       headers={"NGSILD-Tenant": "old-town"})
            assert resp.status == 404  # the table exists again: not found, not a 500
    finally:
        await con.close()
