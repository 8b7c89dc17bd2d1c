"""One request, one transaction: a failed request leaves nothing half-written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web

from hub import keys

__all__ = ["read", "single", "write"]


@asynccontextmanager
async def write(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app[keys.POOL].acquire() as con, con.transaction():
        yield con


@asynccontextmanager
async def read(request: web.Request, *, snapshot: bool = True) -> AsyncIterator[asyncpg.Connection]:
    """A read-only transaction for entity queries, planned per execution.

    ``force_custom_plan`` keeps selective q/geo/type queries on their indexes whatever the
    parameter values (see ``hub/db/pool.py``); ``snapshot`` makes the page and its count
    see the same data.
    """
    isolation = "repeatable_read" if snapshot else "read_committed"
    async with request.app[keys.POOL].acquire() as con, con.transaction(
        isolation=isolation, readonly=True
    ):
        await con.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield con


@asynccontextmanager
async def single(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    """For an operation that is exactly one SQL statement, which PostgreSQL already runs
    atomically: skipping BEGIN/COMMIT saves two round trips on the hottest write paths."""
    async with request.app[keys.POOL].acquire() as con:
        yield con
