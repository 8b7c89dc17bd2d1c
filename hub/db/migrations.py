"""Versioned SQL migrations, applied at start-up and when a tenant is first written.

Files are ``migrations/global/NNNN_name.sql`` (run once per database) and
``migrations/tenant/NNNN_name.sql`` (run once per tenant schema, ``{schema}`` substituted).
Each applies inside a transaction holding an advisory lock, so several hub processes
starting together apply each migration exactly once.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

__all__ = ["apply_all", "apply_global", "apply_tenant", "global_versions", "quote_ident",
           "tenant_versions"]

_LOCK_KEY = 0x52454E4B  # "RENK"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(kind: str) -> list[tuple[str, str]]:
    folder = resources.files("hub.db") / "migrations" / kind
    found = [(p.name, p.read_text("utf-8")) for p in folder.iterdir() if p.name.endswith(".sql")]
    return sorted(found)


async def _apply(con: asyncpg.Connection, scope: str, kind: str, schema: str | None) -> int:
    applied = 0
    async with con.transaction():
        await con.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await con.execute("SET LOCAL statement_timeout = 0")  # a migration may take long
        await con.execute(
            "CREATE SCHEMA IF NOT EXISTS renkei;"
            "CREATE TABLE IF NOT EXISTS renkei.migrations ("
            " scope text NOT NULL, version text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, version))"
        )
        done = {
            r["version"]
            for r in await con.fetch("SELECT version FROM renkei.migrations WHERE scope=$1", scope)
        }
        if schema is not None:
            await con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        for name, sql in _files(kind):
            if name in done:
                continue
            if schema is not None:
                sql = sql.replace("{schema}", quote_ident(schema))
            await con.execute(sql)
            await con.execute(
                "INSERT INTO renkei.migrations (scope, version) VALUES ($1, $2)", scope, name
            )
            applied += 1
    return applied


async def apply_global(con: asyncpg.Connection) -> int:
    return await _apply(con, "global", "global", None)


async def apply_tenant(con: asyncpg.Connection, schema: str) -> int:
    return await _apply(con, "tenant:" + schema, "tenant", schema)


def global_versions() -> list[str]:
    return [name for name, _ in _files("global")]


def tenant_versions() -> list[str]:
    return [name for name, _ in _files("tenant")]


async def apply_all(con: asyncpg.Connection) -> int:
    """Start-up: the global migrations, then every existing tenant's pending ones."""
    applied = await apply_global(con)
    for row in await con.fetch("SELECT schema_name FROM renkei.tenants ORDER BY schema_name"):
        applied += await apply_tenant(con, row["schema_name"])
    return applied
