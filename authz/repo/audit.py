"""SQL for the audit log (``authz.audit``): one row per access decision.

Rows are written in batches (``insert_many``) by the hub's audit writer, a few per second
at most, so recording every decision does not add a statement to every request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["AUDIT_FIELDS", "insert_many", "query_for_owner"]

AUDIT_FIELDS = ("at", "subject", "client_id", "organisation", "operation", "target",
                "owner_org", "dataset", "allowed", "rule", "grant_id", "purpose")


async def insert_many(con: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        await con.copy_records_to_table("audit", schema_name="authz", records=rows,
                                        columns=list(AUDIT_FIELDS))


async def query_for_owner(con: asyncpg.Connection, owner: str | None, *,
                          since: datetime | None, limit: int, offset: int,
                          allowed: bool | None = None) -> list[dict[str, Any]]:
    """Decisions about ``owner``'s data (None: every owner, for the prefecture)."""
    rows = await con.fetch(
        "SELECT at, subject, client_id, organisation, operation, target, owner_org, dataset,"
        " allowed, rule, grant_id::text AS grant_id, purpose FROM authz.audit"
        " WHERE ($1::text IS NULL OR owner_org = $1) AND ($2::timestamptz IS NULL OR at >= $2)"
        " AND ($5::boolean IS NULL OR allowed = $5)"
        " ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4", owner, since, limit, offset, allowed)
    return [dict(r) for r in rows]
