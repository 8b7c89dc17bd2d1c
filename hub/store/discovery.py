"""SQL for the discovery endpoints (types and attributes, GS CIM 009 5.7.5-5.7.10).

``source`` is access control's view of the entities table (``hub.service.access.
entity_source``): a subquery holding only the entities, and attributes, the caller may
see, with its parameters numbered from ``$1``; None reads the table itself.
"""

from __future__ import annotations

from typing import Any

import asyncpg

Source = tuple[str, list[Any]] | None


def _from(schema: str, source: Source) -> tuple[str, list[Any]]:
    return (source[0], list(source[1])) if source else (f"{schema}.entities", [])

__all__ = ["attribute_details", "attribute_names", "type_details", "type_names"]


async def type_names(con: asyncpg.Connection, schema: str, source: Source = None) -> list[str]:
    src, params = _from(schema, source)
    rows = await con.fetch(f"SELECT DISTINCT unnest(types) AS t FROM {src} e ORDER BY 1",
                           *params)
    return [r["t"] for r in rows]


async def type_details(con: asyncpg.Connection, schema: str,
                       source: Source = None) -> list[tuple[str, list[str]]]:
    """Every type with the attribute IRIs its entities use."""
    src, params = _from(schema, source)
    rows = await con.fetch(
        f"""SELECT t, array_remove(array_agg(DISTINCT k), NULL) AS attrs
            FROM {src} e CROSS JOIN unnest(e.types) AS t
            LEFT JOIN LATERAL jsonb_object_keys(e.attrs) AS k ON TRUE
            GROUP BY t ORDER BY t""", *params
    )
    return [(r["t"], sorted(r["attrs"])) for r in rows]


async def type_info(
    con: asyncpg.Connection, schema: str, type_iri: str, source: Source = None
) -> tuple[int, list[tuple[str, list[str]]]]:
    """(entity count, [(attribute IRI, attribute types)]) for one type."""
    src, params = _from(schema, source)
    n = len(params) + 1
    count = await con.fetchval(
        f"SELECT count(*) FROM {src} e WHERE types @> ARRAY[${n}::text]", *params, type_iri
    )
    rows = await con.fetch(
        f"""SELECT a.key AS attr, array_agg(DISTINCT i->>'type') AS kinds
            FROM {src} e, jsonb_each(e.attrs) AS a,
                 jsonb_array_elements(a.value) AS i
            WHERE e.types @> ARRAY[${n}::text] GROUP BY a.key ORDER BY a.key""",
        *params, type_iri,
    )
    return int(count), [(r["attr"], sorted(r["kinds"])) for r in rows]


async def attribute_names(con: asyncpg.Connection, schema: str,
                          source: Source = None) -> list[str]:
    src, params = _from(schema, source)
    rows = await con.fetch(
        f"SELECT DISTINCT jsonb_object_keys(attrs) AS a FROM {src} e ORDER BY 1", *params
    )
    return [r["a"] for r in rows]


async def attribute_details(
    con: asyncpg.Connection, schema: str, attr: str | None = None, source: Source = None
) -> list[tuple[str, int, list[str], list[str]]]:
    """(attribute IRI, entity count, attribute types, entity types) per attribute."""
    src, params = _from(schema, source)
    n = len(params) + 1
    rows = await con.fetch(
        f"""SELECT a.key AS attr, count(DISTINCT e.pk) AS n,
                   array_agg(DISTINCT i->>'type') AS kinds,
                   array_agg(DISTINCT t) AS types
            FROM {src} e, jsonb_each(e.attrs) AS a,
                 jsonb_array_elements(a.value) AS i, unnest(e.types) AS t
            WHERE ${n}::text IS NULL OR a.key = ${n}
            GROUP BY a.key ORDER BY a.key""",
        *params, attr,
    )
    return [(r["attr"], int(r["n"]), sorted(r["kinds"]), sorted(r["types"])) for r in rows]
