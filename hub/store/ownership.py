"""The SQL ownership needs on entity tables: stored owners, and entities owned per dataset.

Ownership lives in the entity itself (its ``refDataset`` relationship, see
``hub/service/ownership.py``); the value index row of that relationship makes both lookups
index scans.
"""

from __future__ import annotations

import asyncpg

from hub.db.migrations import quote_ident
from hub.service.ownership import DATASET, owner_of

__all__ = ["count_owned", "stored_owners"]


async def stored_owners(con: asyncpg.Connection, schema: str,
                        ids: list[str], *, for_update: bool = False) -> dict[str, str | None]:
    """``{id: dataset id or None}`` for the ids that exist (for blind upserts); with
    ``for_update`` those rows stay locked until the transaction ends, as
    ``store.entities.write_entities`` needs for entities it replaces."""
    if not ids:
        return {}
    lock = " ORDER BY id FOR UPDATE" if for_update else ""
    rows = await con.fetch(
        f"SELECT id, attrs -> $2 AS ds FROM {schema}.entities WHERE id = ANY($1::text[])"
        + lock, ids, DATASET)
    return {r["id"]: owner_of({DATASET: r["ds"]}) if r["ds"] else None for r in rows}


async def count_owned(pool: asyncpg.Pool, dataset_iri: str) -> int:
    """How many entities, over every tenant, name ``dataset_iri`` as their dataset."""
    total = 0
    async with pool.acquire() as con:
        for row in await con.fetch("SELECT schema_name FROM renkei.tenants"):
            schema = quote_ident(row["schema_name"])
            total += int(await con.fetchval(
                f"SELECT count(*) FROM {schema}.entity_values WHERE attr = $1 AND txt = $2",
                DATASET, dataset_iri))
    return total
