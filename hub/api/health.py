"""``/health`` and ``/ready``: what an orchestrator asks before it sends traffic.

``GET /health`` (liveness) answers 200 whenever the process can answer at all: it touches
nothing, so a database outage never makes an orchestrator kill a hub that would recover by
itself. ``GET /ready`` (readiness) answers 200 only when this process can do useful work:
PostgreSQL answers within ``READY_TIMEOUT``, every migration this code knows is applied
(globally and in every tenant), and no more than ``ready_max_backlog`` notifications wait
for delivery; otherwise 503 problem details naming the check that failed — and nothing
more, since both routes are public (``hub/service/route_policy.py``): no counts, no
tenant names, no error text.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from hub import keys
from hub.db.migrations import global_versions, quote_ident, tenant_versions
from hub.db.pool import is_connection_error
from hub.errors import ServiceUnavailable

__all__ = ["READY_TIMEOUT", "routes"]

routes = web.RouteTableDef()

#: seconds /ready gives the database before it says the database check failed
READY_TIMEOUT = 2.0


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    bound = request.app[keys.SETTINGS].ready_max_backlog
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            async with request.app[keys.POOL].acquire(timeout=READY_TIMEOUT) as con:
                migrated = await _migrated(con)
                backlog_ok = bound <= 0 or await _backlog(con, bound) <= bound
    except Exception as exc:  # the database is the check that failed, whatever the cause
        if is_connection_error(exc) and keys.DATABASE_WATCH in request.app:
            request.app[keys.DATABASE_WATCH].lost(exc)
        raise _not_ready("database") from None
    if not migrated:
        raise _not_ready("migrations")
    if not backlog_ok:
        raise _not_ready("backlog")
    return web.json_response({"status": "ready"})


def _not_ready(check: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"not ready: the {check} check failed", retry_after=5,
                              check=check)


async def _migrated(con: asyncpg.Connection) -> bool:
    """Every known global migration applied, and every known tenant one in each tenant."""
    wanted_global, wanted_tenant = global_versions(), tenant_versions()
    missing = await con.fetchval(
        "SELECT (SELECT count(*) FROM unnest($1::text[]) v WHERE NOT EXISTS ("
        "   SELECT 1 FROM renkei.migrations m WHERE m.scope = 'global' AND m.version = v))"
        " + (SELECT count(*) FROM renkei.tenants t, unnest($2::text[]) v WHERE NOT EXISTS ("
        "   SELECT 1 FROM renkei.migrations m"
        "   WHERE m.scope = 'tenant:' || t.schema_name AND m.version = v))",
        wanted_global, wanted_tenant)
    return int(missing) == 0


async def _backlog(con: asyncpg.Connection, bound: int) -> int:
    """Notifications waiting for delivery over every tenant, counted up to ``bound + 1``
    (an index-only probe per tenant, not a full count of a large queue)."""
    total = 0
    for row in await con.fetch("SELECT schema_name FROM renkei.tenants ORDER BY 1"):
        table = f"{quote_ident(row['schema_name'])}.notifications"
        total += int(await con.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE NOT dead LIMIT $1) n",
            bound + 1 - total))
        if total > bound:
            break
    return total
