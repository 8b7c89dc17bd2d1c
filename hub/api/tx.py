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
    """A connection of the query pool, whose statements are planned per execution.

    Custom plans keep selective q/geo/type queries on their indexes whatever the parameter
    values (see ``hub/db/pool.py``); ``snapshot`` makes a page and its count see the same
    data (a single statement is consistent by itself).
    """
    async with request.app[keys.QUERY_POOL].acquire() as con:
        if not snapshot:
            yield con
            return
        async with con.transaction(isolation="repeatable_read", readonly=True):
            yield con


@asynccontextmanager
async def single(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    """For an operation that is exactly one SQL statement, which PostgreSQL already runs
    atomically: skipping BEGIN/COMMIT saves two round trips on the hottest write paths."""
    async with request.app[keys.POOL].acquire() as con:
        yield con
