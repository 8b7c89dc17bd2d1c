"""Deliver leased notifications concurrently, then settle them in PostgreSQL.

Each claimed notification is sent in its own task, bounded by a global limit. Only the head
of a subscription's queue is ever claimed, so a subscription has at most one delivery in
flight in the whole hub and its notifications go out in order; a slow receiver occupies one
slot and a dead one backs off as a whole (``blocked_until``) instead of being retried in a
loop; neither holds up other subscriptions, whatever their queues hold. Queues are bounded
(``queue_limit``, oldest dropped and counted). Outcomes are settled in batches; a process
that dies before settling leaves its leases to expire, and another process delivers those
notifications again (at least once, each with the same notification id, so receivers can
de-duplicate), the redelivered one before anything newer of its subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from hub.db.pool import is_database_trouble
from hub.egress import EgressPolicy, EgressRefused
from hub.jsonld.core import LD_CONTEXT_REL
from hub.ngsild.checks import utc_iso
from hub.store import subscriptions as store
from hub.store.subscriptions import ClaimedNotification
from hub.subscriptions.senders import DeliveryError, Message, MqttSender, send_http

__all__ = ["Deliverer", "DeliveryConfig", "Visibility"]

log = logging.getLogger("renkei.subscriptions")

# (subscription, notification payload) -> the payload the subscriber may see now, or None
# to drop it: the access-control hook, applied at send time so a revoked grant stops
# notifications that were already queued.
Visibility = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 64
    lease_s: float = 60.0
    timeout_s: float = 10.0
    max_attempts: int = 12
    max_backoff_s: float = 300.0
    max_bytes: int = 1_048_576
    queue_limit: int = 10_000  # notifications kept per subscription; older ones dropped
    trim_every_s: float = 1.0  # how often each process enforces queue_limit per tenant


class Deliverer:
    def __init__(
        self, pool: asyncpg.Pool, http: aiohttp.ClientSession, policy: EgressPolicy,
        config: DeliveryConfig, tenant_of: Callable[[str], Awaitable[str | None]],
        context_link: Callable[[dict[str, Any]], tuple[str, Any]],
        visibility: Visibility,
    ) -> None:
        self.pool = pool
        self.http = http
        self.policy = policy
        self.config = config
        self.tenant_of = tenant_of
        self.context_link = context_link
        self.visibility = visibility
        self.mqtt = MqttSender()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: list[tuple[ClaimedNotification, datetime]] = []
        self._dropped: list[ClaimedNotification] = []  # the subscriber may no longer see it
        self._failed: list[tuple[ClaimedNotification, datetime, str, float | None]] = []
        self._deferred: list[tuple[ClaimedNotification, float]] = []
        self._last_sent: dict[str, float] = {}
        self._trimmed: dict[str, float] = {}  # schema -> when queue_limit was last enforced
        self._slot_freed = asyncio.Event()  # a delivery ended: there is room to claim more
        self._settling = asyncio.Lock()  # one settlement at a time; the next takes the rest

    def free(self) -> int:
        return self.config.concurrency - sum(self._in_flight.values())

    async def claim_and_send(self, schema: str) -> int:
        """Lease what fits in the free slots and start sending; returns how many.

        Each claim is the head of one subscription's queue (``store.claim_notifications``),
        so a subscription never has two deliveries in flight, in this process or any."""
        await self.trim(schema)
        room = self.free()
        if room <= 0:
            return 0
        async with self.pool.acquire() as con:
            claimed = await store.claim_notifications(con, schema, room, self.config.lease_s)
        for item in claimed:
            self._in_flight[item.sub_id] += 1
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    async def trim(self, schema: str) -> None:
        """Enforce ``queue_limit`` in ``schema``, at most every ``trim_every_s``: a queue
        may exceed the limit by what the matcher adds in that time, never more."""
        now = time.monotonic()
        if now - self._trimmed.get(schema, float("-inf")) < self.config.trim_every_s:
            return
        self._trimmed[schema] = now
        try:
            async with self.pool.acquire() as con:
                dropped = await store.trim_queues(con, schema, self.config.queue_limit)
        except asyncpg.PostgresError as exc:
            if is_database_trouble(exc):  # the round's guard logs an outage once
                raise
            log.warning("could not trim notification queues", exc_info=True)  # next time
            return
        for sub_id, n in dropped:
            log.warning("notification queue full: oldest dropped",
                        extra={"subscription": sub_id, "dropped": n,
                               "queue_limit": self.config.queue_limit})

    async def _deliver(self, item: ClaimedNotification) -> None:
        try:
            async with self._slots:
                await self._send(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # settled as a failure below
            log.exception("notification delivery crashed", extra={"subscription": item.sub_id})
            self._failed.append((item, datetime.now(UTC), "internal error", self._retry(item)))
        finally:
            self._in_flight[item.sub_id] -= 1
            if self._in_flight[item.sub_id] <= 0:
                del self._in_flight[item.sub_id]
        try:  # settle at once: a client may read the counters right after its receiver
            await self.settle()  # answered; under load one call settles many outcomes
        except Exception:
            log.exception("could not settle notifications")
        self._slot_freed.set()

    def _retry(self, item: ClaimedNotification) -> float | None:
        if item.attempts >= self.config.max_attempts:
            return None
        return float(min(2 ** (item.attempts - 1), self.config.max_backoff_s))

    async def _send(self, item: ClaimedNotification) -> None:
        sub = item.sub
        throttling = sub.get("throttling")
        if throttling:
            last = max(self._last_sent.get(item.sub_id, 0.0),
                       item.last_notification.timestamp() if item.last_notification else 0.0)
            wait = last + throttling - time.time()
            if wait > 0:  # throttling delays a notification, never drops it
                self._deferred.append((item, wait))
                return
            self._last_sent[item.sub_id] = time.time()
        payload = await self.visibility(item.schema, sub, item.payload)
        if payload is None:  # not sent, so not counted: nothing to learn from the counters
            self._dropped.append(item)
            return
        try:
            msg = await self._message(item, payload)
            if len(msg.encoded()) > self.config.max_bytes:
                self._failed.append((item, datetime.now(UTC),
                                     f"notification larger than {self.config.max_bytes} bytes",
                                     None))
                return
            await self.policy.check_resolved(msg.uri)
            if msg.uri.lower().startswith(("mqtt:", "mqtts:")):
                await self.mqtt.send(msg)
            else:
                await send_http(self.http, msg)
        except EgressRefused as exc:
            self._failed.append((item, datetime.now(UTC), str(exc), None))
            return
        except DeliveryError as exc:
            self._failed.append((item, datetime.now(UTC), str(exc), self._retry(item)))
            return
        self._done.append((item, datetime.now(UTC)))

    async def _message(self, item: ClaimedNotification, payload: dict[str, Any]) -> Message:
        sub = item.sub
        endpoint = sub["notification"]["endpoint"]
        accept = endpoint.get("accept", "application/json")
        body: dict[str, Any] = {
            "id": item.id,
            # a registration subscription's notification (hub/federation/) is a
            # ContextSourceNotification (GS CIM 009 5.3.3); the rest is the same
            "type": "ContextSourceNotification" if payload.get("csource") else "Notification",
            "subscriptionId": item.sub_id,
            "notifiedAt": utc_iso(datetime.now(UTC)),
            "data": payload["data"],
        }
        if payload.get("triggerReason"):
            body["triggerReason"] = payload["triggerReason"]
        link_url, body_context = self.context_link(sub)
        headers = {p["key"]: p["value"] for p in endpoint.get("receiverInfo", [])}
        if accept == "application/ld+json":
            body["data"] = [{"@context": body_context, **e} for e in body["data"]]
        else:
            headers["Link"] = (f'<{link_url}>; rel="{LD_CONTEXT_REL}"; type="application/ld+json"')
        tenant = await self.tenant_of(item.schema)
        if tenant:
            headers["NGSILD-Tenant"] = tenant
        notifier = {p["key"]: p["value"] for p in endpoint.get("notifierInfo", [])}
        return Message(endpoint["uri"], body, accept if accept != "application/geo+json"
                       else "application/geo+json", headers,
                       float(endpoint.get("timeout", self.config.timeout_s)), notifier)

    async def settle(self) -> None:
        """Write the outcomes gathered since the last call, one transaction per tenant."""
        async with self._settling:
            await self._settle_gathered()

    async def _settle_gathered(self) -> None:
        done, self._done = self._done, []
        failed, self._failed = self._failed, []
        deferred, self._deferred = self._deferred, []
        dropped, self._dropped = self._dropped, []
        if not done and not failed and not deferred and not dropped:
            return
        by_schema: dict[str, tuple[list[Any], list[Any], list[Any]]] = defaultdict(
            lambda: ([], [], []))
        for item, wait in deferred:
            by_schema[item.schema][2].append((item.seq, item.sub_id, wait))
        for item, at in done:
            by_schema[item.schema][0].append((item.seq, item.sub_id, at))
        unsent: dict[str, list[ClaimedNotification]] = defaultdict(list)
        for item in dropped:
            unsent[item.schema].append(item)
        for item, at, error, retry in failed:
            by_schema[item.schema][1].append((item.seq, item.sub_id, at, error, retry))
            log.warning("notification not delivered",
                        extra={"subscription": item.sub_id, "error": error,
                               "attempt": item.attempts, "retry_in_s": retry})
        for schema in sorted(set(by_schema) | set(unsent)):
            ok, bad, later = by_schema.get(schema, ([], [], []))
            async with self.pool.acquire() as con:
                if ok:  # one statement: no BEGIN/COMMIT round trips before it is visible
                    await store.settle_successes(con, schema, ok)
                if unsent.get(schema):
                    await store.settle_unsent(con, schema, [
                        (i.seq, i.sub_id, i.last_notification) for i in unsent[schema]])
                if bad or later:
                    async with con.transaction():
                        if bad:
                            await store.settle_failures(con, schema, bad)
                        if later:
                            await store.defer_notifications(con, schema, later)

    async def wait_slot(self, seconds: float) -> None:
        await wait_event(self._slot_freed, seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.settle()
        finally:
            await self.mqtt.close()


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` pass, then clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    event.clear()
