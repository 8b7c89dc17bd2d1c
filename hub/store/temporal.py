"""SQL for the temporal representation of entities (GS CIM 009 5.6.11-5.6.16)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

__all__ = [
    "add_instances",
    "delete_attribute",
    "delete_entity",
    "delete_instance",
    "entity_ids",
    "fetch",
    "replace_instance",
    "upsert_entity",
]


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


async def upsert_entity(con: asyncpg.Connection, schema: str, entity_id: str,
                        types: list[str]) -> bool:
    """Create or touch the temporal entity; True when it was created."""
    row = await con.fetchrow(
        f"INSERT INTO {schema}.temporal_entities AS t (id, types) VALUES ($1, $2)"
        " ON CONFLICT (id) DO UPDATE SET modified_at = now(),"
        " types = ARRAY(SELECT DISTINCT unnest(t.types || EXCLUDED.types))"
        " RETURNING (xmax = 0) AS inserted",
        entity_id,
        types,
    )
    return bool(row["inserted"])


async def exists(con: asyncpg.Connection, schema: str, entity_id: str) -> bool:
    return bool(await con.fetchval(
        f"SELECT 1 FROM {schema}.temporal_entities WHERE id = $1 FOR UPDATE", entity_id))


async def add_instances(
    con: asyncpg.Connection, schema: str, entity_id: str, rows: list[tuple[str, str, Any]]
) -> None:
    """``rows``: (attribute IRI, instanceId, stored instance).

    An instance observed at the same instant as a stored one of the same attribute and
    datasetId replaces it (5.6.11 update: a corrected reading, not a second one).
    """
    await con.execute(
        f"DELETE FROM {schema}.temporal_instances WHERE entity_id = $1"
        " AND (attr, coalesce(dataset_id, ''), observed_at) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[]))",
        entity_id,
        [attr for attr, _, _ in rows],
        [inst.get("datasetId") or "" for _, _, inst in rows],
        [_ts(inst.get("observedAt")) for _, _, inst in rows],
    )
    await con.executemany(
        f"INSERT INTO {schema}.temporal_instances"
        " (entity_id, attr, instance_id, dataset_id, observed_at, data)"
        " VALUES ($1, $2, $3, $4, $5::timestamptz, $6)",
        [(entity_id, attr, iid, inst.get("datasetId"), _ts(inst.get("observedAt")), inst)
         for attr, iid, inst in rows],
    )


async def fetch(
    con: asyncpg.Connection, schema: str, entity_id: str
) -> tuple[list[str], list[asyncpg.Record]] | None:
    types = await con.fetchval(
        f"SELECT types FROM {schema}.temporal_entities WHERE id = $1", entity_id)
    if types is None:
        return None
    rows = await con.fetch(
        f"SELECT attr, instance_id, data FROM {schema}.temporal_instances"
        " WHERE entity_id = $1 ORDER BY attr, observed_at NULLS LAST, pk",
        entity_id,
    )
    return list(types), rows


async def delete_entity(con: asyncpg.Connection, schema: str, entity_id: str) -> bool:
    status = await con.execute(
        f"DELETE FROM {schema}.temporal_entities WHERE id = $1", entity_id)
    return status.endswith(" 1")


async def delete_attribute(
    con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
    dataset_id: str | None, delete_all: bool,
) -> int:
    status = await con.execute(
        f"DELETE FROM {schema}.temporal_instances WHERE entity_id = $1 AND attr = $2"
        " AND ($3 OR dataset_id IS NOT DISTINCT FROM $4)",
        entity_id, attr, delete_all, dataset_id,
    )
    return int(status.split()[-1])


async def has_attribute(con: asyncpg.Connection, schema: str, entity_id: str,
                        attr: str) -> bool:
    return bool(await con.fetchval(
        f"SELECT 1 FROM {schema}.temporal_instances WHERE entity_id = $1 AND attr = $2"
        " LIMIT 1", entity_id, attr))


async def delete_instance(con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
                          instance_id: str) -> bool:
    status = await con.execute(
        f"DELETE FROM {schema}.temporal_instances"
        " WHERE entity_id = $1 AND attr = $2 AND instance_id = $3",
        entity_id, attr, instance_id,
    )
    return status.endswith(" 1")


async def replace_instance(con: asyncpg.Connection, schema: str, entity_id: str, attr: str,
                           instance_id: str, inst: dict[str, Any]) -> bool:
    status = await con.execute(
        f"UPDATE {schema}.temporal_instances SET data = $5,"
        " dataset_id = $6, observed_at = $7::timestamptz"
        " WHERE entity_id = $1 AND attr = $2 AND instance_id = $3 AND $4",
        entity_id, attr, instance_id, True, inst, inst.get("datasetId"),
        _ts(inst.get("observedAt")),
    )
    return status.endswith(" 1")


async def entity_ids(
    con: asyncpg.Connection, schema: str, types: list[str] | None, ids: list[str] | None,
    limit: int, offset: int,
) -> list[str]:
    rows = await con.fetch(
        f"SELECT id FROM {schema}.temporal_entities WHERE ($1::text[] IS NULL OR types && $1)"
        " AND ($2::text[] IS NULL OR id = ANY($2)) ORDER BY id LIMIT $3 OFFSET $4",
        types, ids, limit, offset,
    )
    return [r["id"] for r in rows]
