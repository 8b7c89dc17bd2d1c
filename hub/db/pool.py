"""One asyncpg pool per process, with orjson jsonb codecs and planner settings.

asyncpg prepares every statement. The session keeps PostgreSQL's ``plan_cache_mode = auto``
so the big write statement is planned once per connection (forcing custom plans there cost
~30 % of create throughput, measured); entity *queries* use a second, smaller pool whose
sessions have ``force_custom_plan`` (``keys.QUERY_POOL``), because after five executions a
selective ``attr > $1 LIMIT 20`` may otherwise switch to a generic plan that scans; a
``SET LOCAL`` per query instead cost two extra round trips on every query. JIT is off because
every hub statement is short and JIT compilation would cost more than it saves.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

__all__ = ["create_pool"]


def _jsonb_out(value: Any) -> bytes:
    """jsonb in binary form: a version byte, then the JSON text. orjson's bytes go out as
    they are; the text codec turned them into ``str`` and asyncpg back into bytes."""
    return b"\x01" + orjson.dumps(value)


def _jsonb_in(data: bytes) -> Any:
    return orjson.loads(memoryview(data)[1:])


async def _init_connection(con: asyncpg.Connection) -> None:
    await con.set_type_codec("jsonb", encoder=_jsonb_out, decoder=_jsonb_in,
                             schema="pg_catalog", format="binary")
    await con.set_type_codec("json", encoder=orjson.dumps, decoder=orjson.loads,
                             schema="pg_catalog", format="binary")


async def _keep_session(con: asyncpg.Connection) -> None:
    """The pool's reset, run as a connection is released: nothing to undo, so no round trip.

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`` on every release, a second round trip for a request of one statement. The hub
    leaves no session state on pooled connections: settings are given at connect
    (``server_settings``) or with ``SET LOCAL``, advisory locks are transaction-scoped
    (``pg_advisory_xact_lock``), listeners have connections of their own, and cursors live
    inside transactions. asyncpg still rolls back a transaction left open before this."""


async def create_pool(
    url: str, min_size: int, max_size: int, *, custom_plans: bool = False,
    statement_timeout: float = 0.0,
) -> asyncpg.Pool:
    """A pool; ``custom_plans`` makes every statement planned for its parameter values.

    ``statement_timeout`` (seconds, 0 = none) bounds every statement of the pool's sessions
    in PostgreSQL itself, background work included: a costly query (a regex over every id,
    a broad jsonpath) is cancelled by the server, not left to hold a connection. It is a
    session setting given at connect, so it costs no round trip; migrations lift it for
    their own transaction (``SET LOCAL``)."""
    settings = {"jit": "off", "application_name": "renkei-hub"}
    if statement_timeout > 0:
        settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
    if custom_plans:
        settings["plan_cache_mode"] = "force_custom_plan"
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=settings,
    )
    assert pool is not None
    return pool
