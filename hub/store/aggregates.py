"""SQL for aggregate queries over current entity state (hub/api/aggregates.py).

Groups are keyed on the first instance of each ``groupBy`` attribute (its ``value``, or
``object`` for a relationship) and measured on numeric values only: a non-numeric value
is left out of sum/avg/min/max rather than failing the query, as SQL aggregates skip NULL.

With a minimum group size ``k`` (aggregated-only data takes part) a group needs ``k``
entities, and each measured attribute's figures need ``k`` members that *contribute* a
value to it: a group of three entities of which one has the attribute would otherwise
show that one value as its sum. Such figures are withheld (NULL) in SQL, so the value
never leaves the database.
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
    entities passing ``flt`` with at least ``min_group`` members, ordered by key; a
    figure is None when fewer than ``min_group`` members have a numeric value for it.

    ``measures`` are (method, attribute IRI) with the method one of ``METHODS``.
    """
    params = list(flt.params)
    key_sql = []
    for iri in keys:
        p = _param(params, iri)
        key_sql.append(f"coalesce(e.attrs->{p}->0->'value', e.attrs->{p}->0->'object')")
    least = _param(params, min_group) if min_group else None
    measure_sql = []
    for method, iri in measures:
        if method not in METHODS:
            raise ValueError(method)
        p = _param(params, iri)
        value = f"e.attrs->{p}->0->'value'"
        number = f"CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::float8 END"
        figure = f"{method}({number})"
        if least is not None:  # count() skips NULL: only the members that contribute
            figure = f"CASE WHEN count({number}) >= {least} THEN {figure} END"
        measure_sql.append(figure)
    columns = [*(f"{k} AS k{i}" for i, k in enumerate(key_sql)), "count(*) AS n",
               *(f"{m} AS m{i}" for i, m in enumerate(measure_sql))]
    group = f" GROUP BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
    having = f" HAVING count(*) >= {least}" if least is not None else ""
    order = f" ORDER BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
    sql = (f"SELECT {', '.join(columns)} FROM {schema}.entities e WHERE {flt.where()}"
           f"{group}{having}{order} LIMIT {_param(params, limit)}"
           f" OFFSET {_param(params, offset)}")
    rows = await con.fetch(sql, *params)
    return [([r[f"k{i}"] for i in range(len(keys))], int(r["n"]),
             [r[f"m{i}"] for i in range(len(measures))]) for r in rows]
