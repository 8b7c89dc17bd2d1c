"""Multi-tenancy (GS CIM 009 clause 4.14, header ``NGSILD-Tenant``): one schema per tenant.

A schema per tenant means no query can forget a tenant filter: isolation is the database's,
not each statement's. Tenants are created implicitly by the first write (the spec's rule);
reading a tenant that was never written answers ``NonexistentTenant``.
"""

from __future__ import annotations

import hashlib
import re

import asyncpg

from hub.db.migrations import apply_tenant, quote_ident
from hub.errors import BadRequestData, NonexistentTenant

__all__ = ["DEFAULT_SCHEMA", "TenantDirectory", "schema_for"]

DEFAULT_SCHEMA = "ngsild"
_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_TENANT = 256


def schema_for(tenant: str | None) -> str:
    """A stable, safe schema name for a tenant; readable prefix plus a hash against clashes."""
    if not tenant:
        return DEFAULT_SCHEMA
    slug = _SLUG.sub("_", tenant.lower()).strip("_")[:24]
    digest = hashlib.sha1(tenant.encode()).hexdigest()[:10]
    return f"t_{slug}_{digest}"


class TenantDirectory:
    """Knows which tenants exist; caches the answer (tenants are never renamed)."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    async def resolve(self, pool: asyncpg.Pool, tenant: str | None, create: bool) -> str:
        """Return the quoted schema of ``tenant``; create it when ``create``."""
        if tenant is not None and (len(tenant) > _MAX_TENANT or not tenant.strip()):
            raise BadRequestData("NGSILD-Tenant must be a non-empty name of at most 256 chars")
        schema = schema_for(tenant)
        if schema in self._known:
            return quote_ident(schema)
        async with pool.acquire() as con:
            exists = await con.fetchval(
                "SELECT 1 FROM renkei.tenants WHERE schema_name = $1", schema
            )
            if not exists:
                if not create and tenant:
                    raise NonexistentTenant(f"tenant {tenant!r} does not exist")
                await apply_tenant(con, schema)
                await con.execute(
                    "INSERT INTO renkei.tenants (name, schema_name) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING",
                    tenant or "",
                    schema,
                )
        self._known.add(schema)
        return quote_ident(schema)

    async def names(self, pool: asyncpg.Pool) -> list[str]:
        rows = await pool.fetch("SELECT name FROM renkei.tenants ORDER BY name")
        return [r["name"] for r in rows]

    def forget(self) -> None:
        self._known.clear()
