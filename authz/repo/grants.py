"""SQL for grants and their approval state (``authz.grants``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authz.model import Grant

__all__ = ["approved_changed_since", "decide", "get", "insert", "list_grants",
           "live_approved"]

_COLS = ("id::text AS id, consumer_org, consumer_client, owner_org, dataset, entity_type,"
         " actions, attributes, purpose, valid_from, valid_until, granularity,"
         " min_group_size, rate_per_minute, status, requested_by, requested_at, decided_by,"
         " decided_at, reason")


def to_grant(row: asyncpg.Record) -> Grant:
    return Grant(
        id=row["id"], consumer_org=row["consumer_org"], owner_org=row["owner_org"],
        actions=tuple(row["actions"]), purpose=row["purpose"], valid_from=row["valid_from"],
        valid_until=row["valid_until"], status=row["status"],
        consumer_client=row["consumer_client"], dataset=row["dataset"],
        entity_type=row["entity_type"],
        attributes=tuple(row["attributes"]) if row["attributes"] is not None else None,
        granularity=row["granularity"], min_group_size=row["min_group_size"],
        rate_per_minute=row["rate_per_minute"])


async def insert(con: asyncpg.Connection, g: Grant, requested_by: str) -> None:
    await con.execute(
        "INSERT INTO authz.grants (id, consumer_org, consumer_client, owner_org, dataset,"
        " entity_type, actions, attributes, purpose, valid_from, valid_until, granularity,"
        " min_group_size, rate_per_minute, status, requested_by)"
        " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
        " 'requested', $15)",
        g.id, g.consumer_org, g.consumer_client, g.owner_org, g.dataset, g.entity_type,
        list(g.actions), list(g.attributes) if g.attributes is not None else None,
        g.purpose, g.valid_from, g.valid_until, g.granularity, g.min_group_size,
        g.rate_per_minute, requested_by)


async def get(con: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    try:
        return await con.fetchrow(f"SELECT {_COLS} FROM authz.grants WHERE id = $1::uuid",
                                  grant_id)
    except asyncpg.DataError:
        return None


async def decide(con: asyncpg.Connection, grant_id: str, status: str, by: str,
                 reason: str | None, from_status: tuple[str, ...]) -> asyncpg.Record | None:
    """Move a grant to ``status`` if it is in one of ``from_status``; the updated row."""
    return await con.fetchrow(
        f"UPDATE authz.grants SET status = $2, decided_by = $3, decided_at = now(),"
        f" reason = $4 WHERE id = $1::uuid AND status = ANY($5::text[]) RETURNING {_COLS}",
        grant_id, status, by, reason, list(from_status))


async def list_grants(con: asyncpg.Connection, *, organisation: str | None,
                      status: str | None) -> list[asyncpg.Record]:
    """Grants where ``organisation`` is the consumer or the owner (None: all of them)."""
    return list(await con.fetch(
        f"SELECT {_COLS} FROM authz.grants WHERE ($1::text IS NULL OR consumer_org = $1"
        " OR owner_org = $1) AND ($2::text IS NULL OR status = $2)"
        " ORDER BY requested_at, id", organisation, status))


async def live_approved(con: asyncpg.Connection) -> list[Grant]:
    """Every approved grant not yet ended: small (one row per agreement), cached per
    process and refreshed every few seconds."""
    rows = await con.fetch(
        f"SELECT {_COLS} FROM authz.grants WHERE status = 'approved' AND valid_until > now()")
    return [to_grant(r) for r in rows]


async def approved_changed_since(con: asyncpg.Connection, since: datetime) -> bool:
    return bool(await con.fetchval(
        "SELECT EXISTS (SELECT 1 FROM authz.grants WHERE coalesce(decided_at, requested_at)"
        " >= $1)", since))
