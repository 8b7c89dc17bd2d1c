"""SQL for aggregate queries over current entity state (hub/api/aggregates.py).

Groups are keyed on the first instance of each ``groupBy`` attribute (its ``value``, or
``object`` for a relationship) and measured on numeric values only: a non-numeric value
is left out of sum/avg/min/max rather than failing the query, as SQL aggregates skip NULL.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.store.entities import Filter

__all__ = ["METHODS", "aggregate"]

METHODS = ("sum", "avg", "min", "max")


def _param(params: list[Any], value: Any) -> str:
    params.append(value)
    return f"${len(params)}"


async def aggregate(
    con: asyncpg.Connection, schema: str, flt: Filter, keys: list[str],
    measures: list[tuple[str, str]], min_group: int | None, limit: int, offset: int,
) -> list[tuple[list[Any], int, list[float | None]]]:
    """(group key values, entity count, one figure per measure) for each group of the
    entities passing ``flt`` with at least ``min_group`` members, ordered by key.

    ``measures`` are (method, attribute IRI) with the method one of ``METHODS``.
    """
    params = list(flt.params)
    key_sql = []
    for iri in keys:
        p = _param(params, iri)
        key_sql.append(f"coalesce(e.attrs->{p}->0->'value', e.attrs->{p}->0->'object')")
    measure_sql = []
    for method, iri in measures:
        if method not in METHODS:
            raise ValueError(method)
        p = _param(params, iri)
        value = f"e.attrs->{p}->0->'value'"
        measure_sql.append(f"{method}(CASE WHEN jsonb_typeof({value}) = 'number'"
                           f" THEN ({value})::float8 END)")
    columns = [*(f"{k} AS k{i}" for i, k in enumerate(key_sql)), "count(*) AS n",
               *(f"{m} AS m{i}" for i, m in enumerate(measure_sql))]
    group = f" GROUP BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
    having = f" HAVING count(*) >= {_param(params, min_group)}" if min_group else ""
    order = f" ORDER BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
    sql = (f"SELECT {', '.join(columns)} FROM {schema}.entities e WHERE {flt.where()}"
           f"{group}{having}{order} LIMIT {_param(params, limit)}"
           f" OFFSET {_param(params, offset)}")
    rows = await con.fetch(sql, *params)
    return [([r[f"k{i}"] for i in range(len(keys))], int(r["n"]),
             [r[f"m{i}"] for i in range(len(measures))]) for r in rows]
