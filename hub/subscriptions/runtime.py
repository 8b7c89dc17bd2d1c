"""The background side of subscriptions in each hub process: matcher, periodic notifier,
deliverer and housekeeping, woken by PostgreSQL ``LISTEN``/``NOTIFY`` and by a slow poll.

Every process runs all of them; the work itself is shared through row locks in PostgreSQL
(``hub/store/subscriptions.py``), so any number of processes behave as one hub. The poll
(``poll_s``) is the safety net for a lost wake-up (a dropped listener connection): nothing
waits on it in normal operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
import asyncpg

from hub.db.migrations import quote_ident
from hub.db.pool import is_database_trouble
from hub.egress import EgressPolicy
from hub.errors import NgsiLdError
from hub.jsonld.active import ActiveContext
from hub.jsonld.core import CORE_CONTEXT_URL
from hub.jsonld.process import ContextCache
from hub.jsonld.remote import ContextStore
from hub.ngsild.render import render_entity
from hub.service.access import visible
from hub.service.access_caller import Caller, acting_as
from hub.service.entities import query as query_entities
from hub.store import subscriptions as store
from hub.subscriptions.delivery import Deliverer, DeliveryConfig, wait_event
from hub.subscriptions.matcher import match_round, new_notification_id, periodic_payload
from hub.subscriptions.matching import render_options, subscription_selection
from hub.subscriptions.senders import MqttSender
from hub.subscriptions.visibility import SubscriberAccess

__all__ = ["SubscriptionRuntime"]

log = logging.getLogger("renkei.subscriptions")

#: the longest pause between failing rounds of a background loop (seconds)
MAX_BACKOFF = 10.0


class SubscriptionRuntime:
    def __init__(
        self, pool: asyncpg.Pool, database_url: str, http: aiohttp.ClientSession,
        contexts: ContextStore, cache: ContextCache, policy: EgressPolicy,
        config: DeliveryConfig, access: SubscriberAccess, *, poll_s: float = 1.0,
        max_entities: int = 1000,
    ) -> None:
        self.pool = pool
        self.database_url = database_url
        self.contexts = contexts
        self.cache = cache
        self.poll_s = poll_s
        self.max_entities = max_entities
        self.access = access  # whose rights each subscription's notifications use
        self.deliverer = Deliverer(pool, http, policy, config, self.tenant_of,
                                   self.context_link, access.visibility(self.render_context))
        self.deliverer.mqtt = MqttSender(policy)  # MQTT connects through the egress policy
        self._tenants: dict[str, str] = {}  # quoted schema -> tenant name
        self._changes = asyncio.Event()
        self._notifications = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None
        self._failures: dict[str, int] = {}  # kind of round -> failures in a row
        self._listen_failures = 0

    # -- contexts and tenants ------------------------------------------------------------

    async def resolve(self, raw: Any) -> ActiveContext:
        return await self.cache.get(raw, self.contexts)

    async def render_context(self, sub: dict[str, Any]) -> ActiveContext:
        return await self.resolve(sub.get("jsonldContext", sub.get("context")))

    def subscriber(self, sub: dict[str, Any]) -> Caller:
        return self.access.caller(sub)

    def context_link(self, sub: dict[str, Any]) -> tuple[str, Any]:
        """The URL for a ``Link`` header and the value for an ``@context`` member: the
        context itself, or the first URL of a list (a composite one got an
        ImplicitlyCreated ``jsonldContext`` URL when the subscription was made)."""
        raw = sub.get("jsonldContext", sub.get("context"))
        if raw is None:
            return CORE_CONTEXT_URL, CORE_CONTEXT_URL
        if isinstance(raw, str):
            return raw, raw
        urls = [r for r in raw if isinstance(r, str)] if isinstance(raw, list) else []
        return (urls[0] if urls else CORE_CONTEXT_URL), raw

    async def schemas(self) -> dict[str, str]:
        rows = await self.pool.fetch("SELECT name, schema_name FROM renkei.tenants")
        self._tenants = {quote_ident(r["schema_name"]): r["name"] for r in rows}
        return self._tenants

    async def tenant_of(self, schema: str) -> str | None:
        if schema not in self._tenants:
            await self.schemas()
        return self._tenants.get(schema) or None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen()
        self._spawn(self._match_loop())
        self._spawn(self._delivery_loop())
        self._spawn(self._periodic_loop())
        self._spawn(self._housekeeping_loop())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def _listen(self) -> None:
        try:
            con = await asyncpg.connect(self.database_url)
            await con.add_listener("renkei_changes", lambda *_: self._changes.set())
            await con.add_listener("renkei_notifications",
                                   lambda *_: self._notifications.set())
            con.add_termination_listener(lambda _c: self._lost_listener())
            self._listener = con
            if self._listen_failures:
                log.warning("LISTEN connection restored")
            self._listen_failures = 0
        except (OSError, asyncpg.PostgresError) as exc:
            if not self._listen_failures:  # once per outage, not every retry
                log.warning("LISTEN connection failed; relying on polling: %s",
                            type(exc).__name__)
            self._listen_failures += 1
            self._listener = None

    def _lost_listener(self) -> None:
        self._listener = None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.deliverer.close()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _guarded(self, what: str, step: Callable[[], Awaitable[Any]]) -> Any:
        """One round of a background loop, which must survive a failed round.

        Repeated failures back off exponentially (``poll_s``, doubling, at most
        ``MAX_BACKOFF``): when the database is slow (statement timeouts, no free
        connection) or down, the loops stop adding to its load instead of retrying every
        poll. Each kind of round logs the first failure of a streak and its recovery, not
        every failure; a traceback only when the cause is not the database."""
        try:
            result = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            healthy = not self._failures
            streak = self._failures[what] = self._failures.get(what, 0) + 1
            if not is_database_trouble(exc):
                if streak == 1:
                    log.exception("subscription %s round failed, backing off", what)
            elif healthy:  # one line for all the loops when the database goes away
                log.warning("subscription rounds failing, backing off: %s",
                            type(exc).__name__)
            await asyncio.sleep(min(self.poll_s * 2 ** (streak - 1), MAX_BACKOFF))
            return None
        if self._failures.pop(what, 0) and not self._failures:
            log.warning("subscription rounds succeed again")
        return result

    # -- loops ---------------------------------------------------------------------------

    async def _match_loop(self) -> None:
        while True:
            created = 0
            for schema in list((await self._guarded("tenant", self.schemas)) or {}):
                while True:
                    n = await self._guarded(
                        "matching", partial(match_round, self.pool, schema, self, 500))
                    if not n:
                        break
                    created += n
            if created:
                self._notifications.set()
            else:
                await wait_event(self._changes, self.poll_s)

    async def _delivery_loop(self) -> None:
        while True:
            started = 0
            for schema in list(self._tenants or await self._guarded("tenant", self.schemas)
                               or {}):
                n = await self._guarded(
                    "delivery", partial(self.deliverer.claim_and_send, schema))
                started += n or 0
            # each delivery settles itself; this retries outcomes a failed settlement left
            await self._guarded("settling", self.deliverer.settle)
            if self.deliverer.free() <= 0 or not started:
                waiters = [asyncio.create_task(wait_event(self._notifications, self.poll_s)),
                           asyncio.create_task(self.deliverer.wait_slot(self.poll_s))]
                _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for p in pending:
                    p.cancel()

    async def _periodic_loop(self) -> None:
        while True:
            for schema in list(self._tenants or await self._guarded("tenant", self.schemas)
                               or {}):
                await self._guarded("periodic", partial(self._periodic_round, schema))
            await asyncio.sleep(min(self.poll_s, 0.25))

    async def _periodic_round(self, schema: str) -> None:
        async with self.pool.acquire() as con, con.transaction():
            due = await store.claim_periodic(con, schema, 50)
            items = []
            for sub in due:
                ctx = await self.resolve(sub.get("context"))
                sel = subscription_selection(sub)
                try:  # the subscriber's query, with its rights, as its GET would run
                    with acting_as(self.subscriber(sub)):
                        rows, _ = await query_entities(con, schema, sel, ctx,
                                                       limit=self.max_entities, offset=0,
                                                       count=False, action="subscribe")
                        shown = [(r, v) for r in rows
                                 if (v := visible(r, "subscribe", audit=False)) is not None]
                except NgsiLdError:  # e.g. a filter on attributes it may no longer read
                    continue
                if not shown:
                    continue
                rctx = await self.render_context(sub)
                opts = render_options(sub)
                data = [render_entity(v, rctx, opts) for _, v in shown]
                items.append((new_notification_id(), sub["id"], periodic_payload(
                    data, [r for r, _ in shown], datetime.now(UTC))))
            await store.insert_notifications(con, schema, items)
        if items:
            self._notifications.set()

    async def _housekeeping_loop(self) -> None:
        while True:
            for schema in list(self._tenants or await self._guarded("tenant", self.schemas)
                               or {}):
                await self._guarded("expiry", partial(self._expire, schema))
            if self._listener is None:
                await self._guarded("listen", self._listen)
            await asyncio.sleep(max(self.poll_s, 1.0))

    async def _expire(self, schema: str) -> None:
        async with self.pool.acquire() as con:
            await store.expire_subscriptions(con, schema)
