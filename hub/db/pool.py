"""One asyncpg pool per process, with orjson jsonb codecs and planner settings.

``plan_cache_mode = force_custom_plan``: asyncpg prepares every statement, and after five
executions PostgreSQL may switch a selective ``attr > $1 LIMIT 20`` query to a generic plan
that scans; custom plans keep selective queries on their indexes. JIT is off because every
hub query is short and JIT compilation would cost more than it saves.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

__all__ = ["create_pool"]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(con: asyncpg.Connection) -> None:
    await con.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")
    await con.set_type_codec("json", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(url: str, min_size: int, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={
            "plan_cache_mode": "force_custom_plan",
            "jit": "off",
            "application_name": "renkei-hub",
        },
    )
    assert pool is not None
    return pool
