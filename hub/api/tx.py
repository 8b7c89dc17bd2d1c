"""One request, one transaction: a failed request leaves nothing half-written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from aiohttp import web

from hub import keys
from hub.service.entities import EntityChanged

__all__ = ["read", "rewrite", "single", "write"]

T = TypeVar("T")

#: optimistic attempts of a single entity's read-modify-write before it locks (``rewrite``)
OPTIMISTIC_ATTEMPTS = 2


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


async def rewrite(request: web.Request, attempt: Callable[[asyncpg.Connection], Awaitable[T]]
                  ) -> T:
    """A read-modify-write of one entity (``hub/service/entities.py``): ``attempt`` reads
    the entity and writes it back, each one statement.

    First without a transaction: the read takes the row's version and the write changes
    only that version (``store.write_entities(versioned=True)``), so no lock is held
    across round trips and BEGIN/COMMIT are saved — two of a PATCH's four round trips,
    ~15 % of the hub's CPU per attribute update (docs/performance.md). A concurrent write
    in between makes the write change nothing (``EntityChanged``), and ``attempt`` runs
    again from the start; it must therefore not change its own inputs (``EntityDoc.copy``).
    After ``OPTIMISTIC_ATTEMPTS`` such losses (an entity many writers update at once) it
    runs once more in a transaction that locks the row, which cannot lose."""
    pool = request.app[keys.POOL]
    for _ in range(OPTIMISTIC_ATTEMPTS):
        async with pool.acquire() as con:
            try:
                return await attempt(con)
            except EntityChanged:
                continue
    async with pool.acquire() as con, con.transaction():
        return await attempt(con)
