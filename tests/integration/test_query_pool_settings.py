"""The two pools' session settings (``hub.db.pool.create_pool``): entity queries are
planned for their parameter values, start no parallel workers and hash a dense count's
candidates in memory; the write pool keeps PostgreSQL's plan cache, which plans its big
write statement once per connection, and its memory settings."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub import keys
from tests.integration.order_oracle import create


async def test_queries_run_serial_with_custom_plans(client: TestClient) -> None:
    async with client.app[keys.QUERY_POOL].acquire() as con:
        assert await con.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        assert await con.fetchval("SHOW max_parallel_workers_per_gather") == "0"
        assert await con.fetchval("SHOW jit") == "off"
        assert await con.fetchval("SHOW work_mem") == "16MB"  # a dense count's hash
    async with client.app[keys.POOL].acquire() as con:
        assert await con.fetchval("SHOW plan_cache_mode") == "auto"
        assert await con.fetchval("SHOW jit") == "off"
        assert await con.fetchval("SHOW work_mem") != "16MB"  # writes keep the server's


async def test_a_plan_priced_for_workers_gets_none(client: TestClient) -> None:
    """A scan the planner would split among workers (made cheap to start here) runs in
    the query's own backend: a worker costs milliseconds to start, more than the short
    statements the walks are, and gains nothing when requests already fill the cores."""
    await create(client, [{"id": f"urn:ngsi-ld:T:{i}", "type": "T",
                           "n": {"type": "Property", "value": i}} for i in range(2000)])
    async with client.app[keys.QUERY_POOL].acquire() as con:
        await con.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"
                          " SET min_parallel_table_scan_size = 0")
        plan = "\n".join(r[0] for r in await con.fetch(
            "EXPLAIN SELECT count(*) FROM ngsild.entity_values WHERE num > 5"))
        assert "Gather" not in plan, plan
        await con.execute("SET max_parallel_workers_per_gather = 2")  # as PostgreSQL's own
        plan = "\n".join(r[0] for r in await con.fetch(
            "EXPLAIN SELECT count(*) FROM ngsild.entity_values WHERE num > 5"))
        assert "Gather" in plan, plan  # the test would see workers if they were allowed
        await con.execute("RESET ALL")
