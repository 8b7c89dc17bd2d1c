"""The request deadline: no request holds the hub's resources longer than ``request_deadline``.

A handler still running when its deadline passes is cancelled (which rolls back its
transaction and returns its connection to the pool) and the client gets 503 Service
Unavailable with ``Retry-After``, as NGSI-LD problem details. Together with PostgreSQL's
``statement_timeout`` (``hub/db/pool.py``) this bounds what one request can cost: a slow
statement is stopped by the database, anything else (a slow remote @context, Python work
between statements) by this middleware.

Only requests pass through here; background loops (notifications, context flushes,
registry refresh) run outside any request and are never cut short by it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub import keys
from hub.errors import ServiceUnavailable

__all__ = ["deadline_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler under the configured deadline (0 disables it)."""
    seconds = request.app[keys.SETTINGS].request_deadline
    if seconds <= 0:
        return await handler(request)
    try:
        async with asyncio.timeout(seconds):
            return await handler(request)
    except TimeoutError:
        raise ServiceUnavailable(
            f"the request did not complete within its deadline of {seconds:g} s",
            retry_after=max(1, math.ceil(seconds / 10)),
        ) from None
