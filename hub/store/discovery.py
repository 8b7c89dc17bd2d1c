"""SQL for the discovery endpoints (types and attributes, GS CIM 009 5.7.5-5.7.10)."""

from __future__ import annotations

import asyncpg

__all__ = ["attribute_details", "attribute_names", "type_details", "type_names"]


async def type_names(con: asyncpg.Connection, schema: str) -> list[str]:
    rows = await con.fetch(f"SELECT DISTINCT unnest(types) AS t FROM {schema}.entities ORDER BY 1")
    return [r["t"] for r in rows]


async def type_details(con: asyncpg.Connection, schema: str) -> list[tuple[str, list[str]]]:
    """Every type with the attribute IRIs its entities use."""
    rows = await con.fetch(
        f"""SELECT t, array_remove(array_agg(DISTINCT k), NULL) AS attrs
            FROM {schema}.entities e CROSS JOIN unnest(e.types) AS t
            LEFT JOIN LATERAL jsonb_object_keys(e.attrs) AS k ON TRUE
            GROUP BY t ORDER BY t"""
    )
    return [(r["t"], sorted(r["attrs"])) for r in rows]


async def type_info(
    con: asyncpg.Connection, schema: str, type_iri: str
) -> tuple[int, list[tuple[str, list[str]]]]:
    """(entity count, [(attribute IRI, attribute types)]) for one type."""
    count = await con.fetchval(
        f"SELECT count(*) FROM {schema}.entities WHERE types @> ARRAY[$1]", type_iri
    )
    rows = await con.fetch(
        f"""SELECT a.key AS attr, array_agg(DISTINCT i->>'type') AS kinds
            FROM {schema}.entities e, jsonb_each(e.attrs) AS a,
                 jsonb_array_elements(a.value) AS i
            WHERE e.types @> ARRAY[$1] GROUP BY a.key ORDER BY a.key""",
        type_iri,
    )
    return int(count), [(r["attr"], sorted(r["kinds"])) for r in rows]


async def attribute_names(con: asyncpg.Connection, schema: str) -> list[str]:
    rows = await con.fetch(
        f"SELECT DISTINCT jsonb_object_keys(attrs) AS a FROM {schema}.entities ORDER BY 1"
    )
    return [r["a"] for r in rows]


async def attribute_details(
    con: asyncpg.Connection, schema: str, attr: str | None = None
) -> list[tuple[str, int, list[str], list[str]]]:
    """(attribute IRI, entity count, attribute types, entity types) per attribute."""
    rows = await con.fetch(
        f"""SELECT a.key AS attr, count(DISTINCT e.pk) AS n,
                   array_agg(DISTINCT i->>'type') AS kinds,
                   array_agg(DISTINCT t) AS types
            FROM {schema}.entities e, jsonb_each(e.attrs) AS a,
                 jsonb_array_elements(a.value) AS i, unnest(e.types) AS t
            WHERE $1::text IS NULL OR a.key = $1
            GROUP BY a.key ORDER BY a.key""",
        attr,
    )
    return [(r["attr"], int(r["n"]), sorted(r["kinds"]), sorted(r["types"])) for r in rows]
