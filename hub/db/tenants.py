"""Multi-tenancy (GS CIM 009 clause 4.14, header ``NGSILD-Tenant``): one schema per tenant.

A schema per tenant means no query can forget a tenant filter: isolation is the database's,
not each statement's. Tenants are created implicitly by the first write (the spec's rule);
reading a tenant that was never written answers ``NonexistentTenant`` and creates nothing.

Each tenant is a schema with its tables and background work, so creating one is a resource
decision: the caller passes ``create`` only when it may (``hub.api.common.tenant_schema``:
a ``write`` token in enforcing mode), and a ``quota`` bounds how many exist. Count and
creation happen under one advisory lock, so processes racing to create cannot exceed it.
"""

from __future__ import annotations

import hashlib
import re

import asyncpg

from hub.db.migrations import apply_tenant, quote_ident
from hub.errors import BadRequestData, Forbidden, NonexistentTenant

__all__ = ["DEFAULT_SCHEMA", "TenantDirectory", "schema_for", "valid_name"]

DEFAULT_SCHEMA = "ngsild"
_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_TENANT = 256
#: a new tenant's name: printable, no white space, nothing that needs quoting in a header,
#: a URI or a log line (existing tenants are looked up by any name, and simply not found)
_NAME = re.compile(r'^[^\x00-\x20\x7f-\x9f"\'<>\\`]{1,256}$')
_CREATE_LOCK = 0x54454E414E54  # one tenant created at a time across processes


def valid_name(tenant: str) -> bool:
    """Whether ``tenant`` may name a new tenant."""
    return bool(_NAME.match(tenant)) and tenant.isprintable()


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

    async def resolve(self, pool: asyncpg.Pool, tenant: str | None, create: bool, *,
                      quota: int = 0, checked: bool = False) -> str:
        """Return the quoted schema of ``tenant``; create it when ``create``.

        ``checked``: a new tenant's name must pass ``valid_name`` and at most ``quota``
        tenants may exist (0: no limit) — enforcing mode; development mode and the
        default tenant at start-up create as the spec says, unchecked.
        """
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
                await self._create(con, tenant, schema, quota if checked else 0, checked)
        self._known.add(schema)
        return quote_ident(schema)

    @staticmethod
    async def _create(con: asyncpg.Connection, tenant: str | None, schema: str, quota: int,
                      checked: bool) -> None:
        if checked and tenant and not valid_name(tenant):
            raise BadRequestData("a new tenant's name must be printable, without white space,"
                                 " quotes, <, >, ` or \\")
        async with con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock($1)", _CREATE_LOCK)
            if await con.fetchval("SELECT 1 FROM renkei.tenants WHERE schema_name = $1",
                                  schema):
                return  # another process created it meanwhile
            if quota and await con.fetchval("SELECT count(*) FROM renkei.tenants") >= quota:
                raise Forbidden(f"the hub holds its maximum of {quota} tenants (max_tenants)")
            await apply_tenant(con, schema)
            await con.execute(
                "INSERT INTO renkei.tenants (name, schema_name) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                tenant or "",
                schema,
            )

    async def names(self, pool: asyncpg.Pool) -> list[str]:
        rows = await pool.fetch("SELECT name FROM renkei.tenants ORDER BY name")
        return [r["name"] for r in rows]

    def forget(self) -> None:
        self._known.clear()
