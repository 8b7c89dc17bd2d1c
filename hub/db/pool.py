"""One asyncpg pool per process, with orjson jsonb codecs and planner settings.

asyncpg prepares every statement. The session keeps PostgreSQL's ``plan_cache_mode = auto``
so the big write statement is planned once per connection (forcing custom plans there cost
~30 % of create throughput, measured); entity *queries* run with ``force_custom_plan`` set
locally (``hub/api/tx.py``), because after five executions a selective
``attr > $1 LIMIT 20`` may otherwise switch to a generic plan that scans. JIT is off because
every hub statement is short and JIT compilation would cost more than it saves.
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
            "jit": "off",
            "application_name": "renkei-hub",
        },
    )
    assert pool is not None
    return pool
