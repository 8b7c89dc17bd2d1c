"""Remote @context documents: fetched over HTTP once, through the egress policy, then served
from PostgreSQL.

Order of lookup: process memory (an LRU bounded in entries and bytes), then
``renkei.contexts`` (so contexts survive restarts and outages of their host), then HTTP
through ``hub.egress`` (the session's connector refuses inside addresses; redirects are
followed by hand, each hop checked). Any failure — a refused address, a closed port, a
timeout, a body that is not a JSON object with an ``@context`` member — raises the same
``LdContextNotAvailable`` (503, GS CIM 009 6.3.5) with the same text, so the answer says
nothing about what is at an address; the reason goes to the server log. Only a valid
document is stored.

In enforcing mode a context that is not stored yet is fetched only for an authenticated
caller (anonymous → 401; background work, which has no caller, never fetches), and it
counts against that organisation's quota (``context_quota``; over it → 403). Hosted contexts
(``POST /jsonldContexts``) are found by id when a client names their URL.

Every process listens on ``renkei_contexts`` (NOTIFYed by a trigger when a stored document
is replaced or deleted, migration ``0030_context_owner``) and drops its copy, the pattern
of the registry's ``renkei_registry`` channel (``hub.service.ownership.RulesCache``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson

from hub.db.listen import listen_forever
from hub.egress import FetchFailed, get_document
from hub.errors import Forbidden, LdContextNotAvailable, Unauthorized
from hub.jsonld.active import has_scheme
from hub.jsonld.terms import invalid_context
from hub.service import access_caller
from hub.store import contexts as ctx_sql

__all__ = ["CHANNEL", "ContextStore", "context_id_for", "requesting_organisation",
           "valid_context_document"]

log = logging.getLogger("renkei.jsonld")
_HOSTED = re.compile(r"/ngsi-ld/v1/jsonldContexts/([^/?#]+)$")
CHANNEL = "renkei_contexts"
_ACCEPT = "application/ld+json, application/json;q=0.9"


def context_id_for(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def requesting_organisation() -> str | None:
    """The organisation of the running request; None for an anonymous caller and for work
    outside any request (no caller named: ``NoCaller``), which therefore fetches nothing
    new in enforcing mode."""
    try:
        return access_caller.current().consumer.organisation
    except access_caller.NoCaller:
        return None


def valid_context_document(doc: Any) -> bool:
    """A JSON-LD context document: a JSON object whose ``@context`` is an object, an array
    or a string (JSON-LD 1.1 3.1). Anything else is never stored nor served."""
    return isinstance(doc, dict) and isinstance(doc.get("@context"), (dict, list, str))


class ContextStore:
    """Implements the ``ContextLoader`` protocol of ``hub.jsonld.process``."""

    def __init__(
        self, pool: asyncpg.Pool, http: aiohttp.ClientSession, timeout: float, max_bytes: int,
        *, enforce: bool = True, quota: int = 100, max_entries: int = 1000,
        max_cached_bytes: int = 33_554_432,
        requester: Callable[[], str | None] = requesting_organisation,
    ) -> None:
        self._pool = pool
        self._http = http
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._enforce = enforce
        self._quota = quota
        self._requester = requester
        self._max_entries = max_entries
        self._max_cached_bytes = max_cached_bytes
        self._memory: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._memory_bytes = 0
        self._hits: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        #: called with a URL whose document changed (or None: all); the active-context cache
        self.on_change: Callable[[str | None], None] | None = None

    def count_use(self, url: str) -> None:
        """Record one use of a remote context (5.13.3 numberOfHits), flushed in batches."""
        self._hits[url] = self._hits.get(url, 0) + 1

    # -- the bounded memory ---------------------------------------------------------------

    def _remembered(self, url: str) -> Any | None:
        if self._task is not None and not self._listening:
            return None  # nobody would tell us of a change: read PostgreSQL meanwhile
        entry = self._memory.get(url)
        if entry is None:
            return None
        self._memory.move_to_end(url)
        return entry[0]

    def _remember(self, url: str, doc: Any) -> None:
        size = len(orjson.dumps(doc)) + len(url)
        if size > self._max_cached_bytes:
            return
        self.forget(url)
        self._memory[url] = (doc, size)
        self._memory_bytes += size
        while (len(self._memory) > self._max_entries
               or self._memory_bytes > self._max_cached_bytes):
            _url, (_doc, dropped) = self._memory.popitem(last=False)
            self._memory_bytes -= dropped

    def forget(self, url: str) -> None:
        entry = self._memory.pop(url, None)
        if entry is not None:
            self._memory_bytes -= entry[1]

    def forget_document(self, url: str) -> None:
        """Drop a stored document that changed, under every name it is held by: a hosted
        context may have been named by another origin or by its bare path."""
        self.forget(url)
        hosted = _HOSTED.search(url)
        if hosted:
            for name in [u for u in self._memory if u.endswith(hosted.group(0))]:
                self.forget(name)

    def forget_all(self) -> None:
        self._memory.clear()
        self._memory_bytes = 0

    @property
    def memory_usage(self) -> tuple[int, int]:
        """(entries, bytes) held in memory now."""
        return len(self._memory), self._memory_bytes

    # -- loading ----------------------------------------------------------------------------

    async def load(self, url: str) -> Any:
        doc = self._remembered(url)
        if doc is not None:
            return doc
        lock = self._locks.setdefault(url, asyncio.Lock())
        try:
            async with lock:
                doc = self._remembered(url)
                if doc is None:
                    doc = await self._load_uncached(url)
                    self._remember(url, doc)
                return doc
        finally:
            if not lock.locked():
                self._locks.pop(url, None)

    async def _load_uncached(self, url: str) -> Any:
        hosted = _HOSTED.search(url)
        row = await ctx_sql.get_context(
            self._pool, ctx_id=hosted.group(1) if hosted else None, url=url
        )
        if row is not None:
            return row["body"]
        if not hosted and not has_scheme(url):  # "" or "ctx.jsonld": names nothing
            raise invalid_context(f"{url!r} is neither an absolute URL nor a hosted @context")
        owner = self._new_fetch_owner(url)
        doc = await self.fetch(url)
        stored = await ctx_sql.put_owned_context(self._pool, context_id_for(url), url,
                                                 "Cached", doc, owner,
                                                 self._quota if self._enforce else None)
        if not stored:
            raise Forbidden(f"organisation {owner} already stores {self._quota} @contexts"
                            " (context_quota); delete some with DELETE /jsonldContexts/{id}")
        return doc

    def _new_fetch_owner(self, url: str) -> str | None:
        """Who a new remote context is fetched for (and counted against); refuses anonymous
        and caller-less fetches in enforcing mode."""
        owner = self._requester()
        if self._enforce and owner is None:
            raise Unauthorized(f"@context {url} is not stored on this hub; fetching a new"
                               " remote @context needs an access token")
        return owner

    async def fetch(self, url: str) -> Any:
        """The document at ``url`` when it is a valid context document; the one opaque
        ``LdContextNotAvailable`` otherwise (the reason is logged, never answered)."""
        try:
            raw = await get_document(self._http, url, seconds=self._timeout,
                                     max_bytes=self._max_bytes, accept=_ACCEPT)
            doc = orjson.loads(raw)
            if not valid_context_document(doc):
                raise FetchFailed(f"{url} is not a JSON object with an @context member")
        except (FetchFailed, orjson.JSONDecodeError) as exc:
            log.info("@context not retrieved", extra={"url": url, "reason": str(exc)})
            raise LdContextNotAvailable(
                f"@context {url} could not be retrieved as a JSON-LD context") from None
        return doc

    async def flush_usage(self) -> None:
        """Write the in-memory hit counters to PostgreSQL (called periodically)."""
        hits, self._hits = self._hits, {}
        now = datetime.now(UTC)
        for url, n in hits.items():
            await ctx_sql.touch_context(self._pool, url, n, now)
        if hits:
            log.debug("context usage flushed", extra={"contexts": len(hits)})

    # -- invalidation across processes --------------------------------------------------------

    def _notified(self, con: Any, pid: int, channel: str, payload: str) -> None:
        if payload:
            self.forget_document(payload)
        else:
            self.forget_all()
        if self.on_change is not None:
            self.on_change(payload or None)

    async def start(self, database_url: str) -> None:
        self._task = asyncio.create_task(self._listen_forever(database_url))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self, database_url: str) -> None:
        await listen_forever(database_url, CHANNEL, self._notified,
                             name="renkei-contexts-listener",
                             resync=lambda: self._notified(None, 0, CHANNEL, ""),
                             listening=self._set_listening)

    def _set_listening(self, value: bool) -> None:
        self._listening = value
