"""The request deadline: no request holds the hub's resources longer than ``request_deadline``.

A handler still running when its deadline passes is cancelled (which rolls back its
transaction and returns its connection to the pool) and the client gets 503 Service
Unavailable with ``Retry-After``, as NGSI-LD problem details. Together with PostgreSQL's
``statement_timeout`` (``hub/db/pool.py``) this bounds what one request can cost: a slow
statement is stopped by the database, anything else (a slow remote @context, Python work
between statements) by this middleware.

Only requests pass through here; background loops (notifications, context flushes,
registry refresh) run outside any request and are never cut short by it. The deadline also
bounds how long a slow client may take to send its body (the body is read inside the
handler); ``keepalive_timeout`` bounds its headers (``hub/cli.py``).

The bulk gate keeps small requests from queueing behind batches: at most
``bulk_concurrency`` bulk requests (``/entityOperations/*`` writes, bodies over 64 KiB) run
at once per process, so the other connections, and most of the event loop's time, stay
free for reads and small writes. A bulk request waits for its turn before its body is read (so
waiting batches hold no memory), within ``pool_acquire_timeout``, then 503.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from hub import keys
from hub.errors import ServiceUnavailable
from hub.settings import Settings

__all__ = ["BULK_BODY_BYTES", "bulk_gate", "deadline_middleware", "is_bulk"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: a body larger than this makes a request bulk, whatever its route
BULK_BODY_BYTES = 65_536


def is_bulk(request: web.Request) -> bool:
    """A batch write, or any request with a large body. ``entityOperations/query`` is a
    read with a small body and stays interactive."""
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    if "/entityOperations/" in request.path and not request.path.rstrip("/").endswith(
            "/query"):
        return True
    return (request.content_length or 0) > BULK_BODY_BYTES


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler under the configured deadline (0 disables it)."""
    seconds = request.app[keys.SETTINGS].request_deadline
    if seconds <= 0:
        return await handler(request)
    timer = asyncio.timeout(seconds)
    try:
        async with timer:
            return await handler(request)
    except TimeoutError:
        if not timer.expired():  # a timeout of the handler's own, not the deadline
            raise
        raise ServiceUnavailable(
            f"the request did not complete within its deadline of {seconds:g} s",
            retry_after=max(1, math.ceil(seconds / 10)),
        ) from None


def bulk_gate(settings: Settings) -> Middleware:
    """The middleware limiting concurrent bulk requests (``bulk_concurrency``; 0 = a
    quarter of ``pool_max``, at least 1). A batch costs the event loop's CPU as much as
    connections: measured (bench/overload.py, 8 clients sending 1,000-entity upserts,
    pool_max 10), small requests' p95 was 854 ms with no limit, 116 ms with 2, 60 ms
    with 1, for 110, 57 and 48 batches in 15 s."""
    limit = settings.bulk_concurrency or max(1, settings.pool_max // 4)
    wait = settings.pool_acquire_timeout
    semaphore = asyncio.Semaphore(limit)  # binds to the serving loop at its first wait

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_bulk(request):
            return await handler(request)
        try:
            async with asyncio.timeout(wait if wait > 0 else None):
                await semaphore.acquire()
        except TimeoutError:
            raise ServiceUnavailable(
                f"{limit} batch requests are already running; retry later",
                retry_after=max(1, math.ceil(wait))) from None
        try:
            return await handler(request)
        finally:
            semaphore.release()

    return gate
