"""SQL for the temporal representation of entities (GS CIM 009 5.6.11-5.6.16)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from hub.store.entities import Filter

__all__ = [
    "add_instances",
    "delete_attribute",
    "delete_entity",
    "delete_instance",
    "entity_heads",
    "head",
    "instances",
    "replace_instance",
    "upsert_entity",
]


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


async def upsert_entity(con: asyncpg.Connection, schema: str, entity_id: str,
                        types: list[str], dataset: str) -> bool:
    """Create or touch the temporal entity (owned by ``dataset``); True when created."""
    row = await con.fetchrow(
        f"INSERT INTO {schema}.temporal_entities AS t (id, types, dataset) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET modified_at = now(),"
        " types = ARRAY(SELECT DISTINCT unnest(t.types || EXCLUDED.types)),"
        " dataset = coalesce(t.dataset, EXCLUDED.dataset)"
        " RETURNING (xmax = 0) AS inserted",
        entity_id,
        types,
        dataset,
    )
    return bool(row["inserted"])


async def head(con: asyncpg.Connection, schema: str, entity_id: str, *,
               for_update: bool = False) -> tuple[list[str], str | None] | None:
    """(types, owning dataset) of a temporal entity, or None when there is none."""
    lock = " FOR UPDATE" if for_update else ""
    row = await con.fetchrow(
        f"SELECT types, dataset FROM {schema}.temporal_entities WHERE id = $1{lock}",
        entity_id)
    return None if row is None else (list(row["types"]), row["dataset"])


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


async def instances(con: asyncpg.Connection, schema: str,
                    entity_id: str) -> list[asyncpg.Record]:
    """Every stored attribute instance of a temporal entity (whose existence and types
    ``head`` read), ordered by attribute and observation time."""
    return await con.fetch(
        f"SELECT attr, instance_id, data FROM {schema}.temporal_instances"
        " WHERE entity_id = $1 ORDER BY attr, observed_at NULLS LAST, pk",
        entity_id,
    )


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


async def entity_heads(
    con: asyncpg.Connection, schema: str, types: list[str] | None, ids: list[str] | None,
    limit: int, offset: int, access: tuple[str, list[Any]] | None = None,
) -> list[tuple[str, list[str], str | None]]:
    """(id, types, dataset) of a page of temporal entities; ``access`` is an extra
    condition on ``t`` with ``{}`` placeholders (access control's), so the page is
    computed over what the caller may see."""
    flt = Filter()
    if types is not None:
        flt.add("t.types && {}::text[]", types)
    if ids is not None:
        flt.add("t.id = ANY({}::text[])", ids)
    if access is not None:
        flt.add(access[0], *access[1])
    n = len(flt.params)
    rows = await con.fetch(
        f"SELECT id, types, dataset FROM {schema}.temporal_entities t WHERE {flt.where()}"
        f" ORDER BY id LIMIT ${n + 1} OFFSET ${n + 2}",
        *flt.params, limit, offset,
    )
    return [(r["id"], list(r["types"]), r["dataset"]) for r in rows]
