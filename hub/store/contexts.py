"""SQL for the JSON-LD @context store (GS CIM 009 5.13), shared by all tenants.

A row's ``owner`` is the organisation that hosted it or whose request first fetched it; it
alone may delete it, and its rows count against its quota (``put_owned_context``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["ContextRow", "delete_context", "get_context", "list_contexts", "put_context",
           "put_owned_context", "touch_context"]

ContextRow = dict[str, Any]


def _row(r: asyncpg.Record) -> ContextRow:
    return dict(r)


async def put_context(
    con: asyncpg.Connection | asyncpg.Pool, ctx_id: str, url: str, kind: str, body: Any
) -> None:
    await con.execute(
        "INSERT INTO renkei.contexts (id, url, kind, body) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (url) DO UPDATE SET body = EXCLUDED.body, created_at = now()",
        ctx_id,
        url,
        kind,
        body,
    )


async def put_owned_context(
    pool: asyncpg.Pool, ctx_id: str, url: str, kind: str, body: Any, owner: str | None,
    quota: int | None,
) -> bool:
    """Store a new context owned by ``owner``; False (nothing stored) when the owner holds
    ``quota`` contexts already. The owner's rows are counted under a transaction-scoped
    advisory lock on the owner, so concurrent requests cannot overshoot the quota. A URL
    stored meanwhile by someone else keeps its row and owner (its body is refreshed)."""
    async with pool.acquire() as con, con.transaction():
        if owner is not None and quota is not None:
            await con.execute("SELECT pg_advisory_xact_lock(hashtext('renkei.contexts:' || $1))",
                              owner)
            held = await con.fetchval("SELECT count(*) FROM renkei.contexts WHERE owner = $1",
                                      owner)
            if held >= quota:
                return False
        await con.execute(
            "INSERT INTO renkei.contexts (id, url, kind, body, owner) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (url) DO UPDATE SET body = EXCLUDED.body, created_at = now()",
            ctx_id, url, kind, body, owner)
    return True


async def get_context(
    con: asyncpg.Connection | asyncpg.Pool, *, ctx_id: str | None = None, url: str | None = None
) -> ContextRow | None:
    row = await con.fetchrow(
        "SELECT id, url, kind, body, created_at, last_used, uses, owner FROM renkei.contexts"
        " WHERE id = $1 OR url = $2",
        ctx_id,
        url,
    )
    return _row(row) if row is not None else None


async def list_contexts(
    con: asyncpg.Connection | asyncpg.Pool, kind: str | None
) -> list[ContextRow]:
    rows = await con.fetch(
        "SELECT id, url, kind, body, created_at, last_used, uses, owner FROM renkei.contexts"
        " WHERE $1::text IS NULL OR kind = $1 ORDER BY created_at, id",
        kind,
    )
    return [_row(r) for r in rows]


async def delete_context(con: asyncpg.Connection | asyncpg.Pool, ctx_id: str) -> bool:
    status = await con.execute("DELETE FROM renkei.contexts WHERE id = $1", ctx_id)
    return status.endswith(" 1")


async def touch_context(
    con: asyncpg.Connection | asyncpg.Pool, url: str, hits: int, when: datetime
) -> None:
    await con.execute(
        "UPDATE renkei.contexts SET uses = uses + $2, last_used = $3 WHERE url = $1",
        url,
        hits,
        when,
    )
