"""One asyncpg pool per process, with orjson jsonb codecs and planner settings.

asyncpg prepares every statement. The session keeps PostgreSQL's ``plan_cache_mode = auto``
so the big write statement is planned once per connection (forcing custom plans there cost
~30 % of create throughput, measured); entity *queries* use a second, smaller pool whose
sessions have ``force_custom_plan`` (``keys.QUERY_POOL``), because after five executions a
selective ``attr > $1 LIMIT 20`` may otherwise switch to a generic plan that scans; a
``SET LOCAL`` per query instead cost two extra round trips on every query; the query pool
starts no parallel workers either, and hashes in 16 MB (``create_pool``). JIT is off
because every hub statement is short and JIT compilation would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import orjson

__all__ = [
    "CONNECTION_ERRORS",
    "DatabaseUnavailable",
    "DatabaseWatch",
    "HubPool",
    "PoolExhausted",
    "create_pool",
    "init_connection",
    "is_connection_error",
    "is_database_trouble",
    "until_reachable",
]

log = logging.getLogger("renkei.db")
T = TypeVar("T")

#: what asyncpg raises when PostgreSQL cannot be reached or drops a connection: refused or
#: reset sockets, a server shutting down or starting up (57P01-57P03), a connection lost
#: in the middle of a statement (class 08)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` says the database is out of reach, not that a statement is wrong
    (``DatabaseUnavailable`` included).

    asyncpg raises a bare ``InterfaceError`` for a connection it already knows closed; its
    other ``InterfaceError``s are programming errors and stay 500."""
    if isinstance(exc, (*CONNECTION_ERRORS, DatabaseUnavailable)):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


class DatabaseUnavailable(Exception):
    """No connection to PostgreSQL could be opened: it is down, restarting or refusing."""


class PoolExhausted(Exception):
    """No pooled connection came free within the pool's acquire timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no database connection came free within {timeout:g} s")
        self.timeout = timeout


def is_database_trouble(exc: BaseException) -> bool:
    """A failure that says the database is slow or away, not that the code is wrong: a
    background loop logs it once per outage, without a traceback."""
    return (isinstance(exc, PoolExhausted | DatabaseUnavailable | asyncpg.QueryCanceledError)
            or is_connection_error(exc))


class _QuietFloor(logging.Filter):
    """asyncpg warns, with a traceback, each time it fails to reopen a pool's minimum
    connections: once per pool per retry during an outage. The failure that matters
    reaches a request or a background round too, and the watch reports it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "connection floor" not in record.getMessage()


logging.getLogger("asyncpg.pool").addFilter(_QuietFloor())


class DatabaseWatch:
    """Whether PostgreSQL is reachable, as this process last saw it.

    During an outage every request fails the same way; logging each one buried the one
    fact that mattered (36 MB of tracebacks for a 16 s outage). The watch logs *one* line
    when the database is lost and one when it is back: the first failure starts a probe
    that reconnects with exponential back-off (0.25 s doubling to ``max_backoff``) and
    reports the recovery even when no request comes to notice it."""

    def __init__(self, url: str, *, max_backoff: float = 5.0) -> None:
        self.url = url
        self.max_backoff = max_backoff
        self.up = True
        self.since = time.monotonic()
        self._probe: asyncio.Task[None] | None = None

    def lost(self, exc: BaseException) -> None:
        """Record a connection failure; only the first of an outage is logged."""
        if not self.up:
            return
        self.up = False
        self.since = time.monotonic()
        log.error("database unreachable; answering 503 until it is back",
                  extra={"error": f"{type(exc).__name__}: {exc}"})
        self._probe = asyncio.get_running_loop().create_task(self._until_back())

    async def check(self) -> None:
        """Open and close one connection: raises when the database is out of reach."""
        con = await asyncpg.connect(self.url, timeout=5.0)
        await con.close()

    async def _until_back(self) -> None:
        delay = 0.25
        while True:
            await asyncio.sleep(delay)
            try:
                await self.check()
            except Exception:  # still down: wait longer, say nothing
                delay = min(delay * 2, self.max_backoff)
                continue
            log.warning("database reachable again",
                        extra={"down_s": round(time.monotonic() - self.since, 1)})
            self.up, self.since = True, time.monotonic()
            return

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)


class HubPool(asyncpg.Pool):
    """asyncpg's pool with a bounded wait and outages told apart from bugs.

    Every ``acquire`` (handlers through ``hub/api/tx.py``, background loops, the stores)
    waits at most ``acquire_timeout`` seconds, then raises ``PoolExhausted``: a request
    queued behind work that cannot finish would otherwise wait without end. A connection
    that cannot be opened raises ``DatabaseUnavailable`` and tells the ``watch``. The error
    middleware turns both into 503 with ``Retry-After`` in one place."""

    acquire_timeout: float = 0.0
    watch: DatabaseWatch | None = None

    def acquire(self, *, timeout: float | None = None) -> Any:
        if timeout is None and self.acquire_timeout > 0:
            timeout = self.acquire_timeout
        return super().acquire(timeout=timeout)

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's)
        try:
            return await super()._acquire(timeout)
        except TimeoutError:
            raise PoolExhausted(timeout or 0.0) from None
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            if self.watch is not None:
                self.watch.lost(exc)
            raise DatabaseUnavailable(str(exc)) from exc


async def until_reachable(make: Callable[[], Awaitable[T]], what: str, *,
                          max_backoff: float = 10.0) -> T:
    """``make()`` retried with exponential back-off while the database is out of reach.

    A hub started before its database (a host boot, an orchestrator starting both) waits
    instead of exiting; one line is logged when it starts waiting and one when it connects.
    Any other error (a wrong password, a missing database) still stops the start at once."""
    delay, waited = 0.5, False
    while True:
        try:
            result = await make()
        except Exception as exc:
            if not is_connection_error(exc) and not isinstance(exc, TimeoutError):
                raise
            if not waited:
                log.error("database unreachable at start-up; retrying with back-off",
                          extra={"what": what, "error": f"{type(exc).__name__}: {exc}"})
                waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
            continue
        if waited:
            log.warning("database reachable; starting", extra={"what": what})
        return result


def _jsonb_out(value: Any) -> bytes:
    """jsonb in binary form: a version byte, then the JSON text. orjson's bytes go out as
    they are; the text codec turned them into ``str`` and asyncpg back into bytes."""
    return b"\x01" + orjson.dumps(value)


def _jsonb_in(data: bytes) -> Any:
    return orjson.loads(memoryview(data)[1:])


async def init_connection(con: asyncpg.Connection) -> None:
    """The pool's codecs (jsonb and json through orjson), for a connection of one's own
    that must read and write as the hub's do (``bench/write_cost.py``)."""
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
    statement_timeout: float = 0.0, acquire_timeout: float = 0.0,
    watch: DatabaseWatch | None = None,
) -> HubPool:
    """A pool; ``custom_plans`` makes every statement planned for its parameter values.

    ``statement_timeout`` (seconds, 0 = none) bounds every statement of the pool's sessions
    in PostgreSQL itself, background work included: a costly query (a regex over every id,
    a broad jsonpath) is cancelled by the server, not left to hold a connection. It is a
    session setting given at connect, so it costs no round trip; migrations lift it for
    their own transaction (``SET LOCAL``). ``acquire_timeout`` (seconds, 0 = wait without
    end) bounds every wait for a connection (``HubPool``)."""
    settings = {"jit": "off", "application_name": "renkei-hub"}
    if statement_timeout > 0:
        settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
    if custom_plans:
        settings["plan_cache_mode"] = "force_custom_plan"
        # no parallel workers for queries: a short walk the planner costed just above the
        # threshold launched one (6-10 ms to start, for a 0.9 ms statement: a bounded
        # descending string walk at 200,000 entities), and with requests already
        # filling the cores a big count gains nothing from them (concurrency 4, 2 cores:
        # counts at 10-90 % within noise, 200-600 ms either way; one at a time, 233 ->
        # 349 ms at 90 %)
        settings["max_parallel_workers_per_gather"] = "0"
        # a dense count hash-joins its candidates' pks with the key index: 180,000 pks
        # at 90 % of 200,000 entities took ~9 MB, over the default 4 MB, and spilled to
        # disk (two batches; one statement 344 -> 241 ms). Per sort or hash node of a
        # query-pool session (pool_max / 2 sessions), never of the write pool
        settings["work_mem"] = "16MB"
    pool = HubPool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        server_settings=settings,
    )
    pool.acquire_timeout = acquire_timeout
    pool.watch = watch
    await pool  # opens min_size connections, as asyncpg.create_pool does
    return pool
