"""Remote @context documents: fetched over HTTP once, then served from PostgreSQL.

Order of lookup: process memory, then ``renkei.contexts`` (so contexts survive restarts and
outages of their host), then HTTP with a tight timeout and size cap. A failure raises
``LdContextNotAvailable`` (503), as GS CIM 009 6.3.5 requires. Hosted contexts
(``POST /jsonldContexts``) are found by id when a client names their URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson

from hub.errors import LdContextNotAvailable
from hub.store import contexts as ctx_sql

__all__ = ["ContextStore", "context_id_for"]

log = logging.getLogger("renkei.jsonld")
_HOSTED = re.compile(r"/ngsi-ld/v1/jsonldContexts/([^/?#]+)$")


def context_id_for(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


class ContextStore:
    """Implements the ``ContextLoader`` protocol of ``hub.jsonld.process``."""

    def __init__(
        self, pool: asyncpg.Pool, http: aiohttp.ClientSession, timeout: float, max_bytes: int
    ) -> None:
        self._pool = pool
        self._http = http
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._memory: dict[str, Any] = {}
        self._hits: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def count_use(self, url: str) -> None:
        """Record one use of a remote context (5.13.3 numberOfHits), flushed in batches."""
        self._hits[url] = self._hits.get(url, 0) + 1

    async def load(self, url: str) -> Any:
        if url in self._memory:
            return self._memory[url]
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            if url in self._memory:
                return self._memory[url]
            doc = await self._load_uncached(url)
            self._memory[url] = doc
            return doc

    async def _load_uncached(self, url: str) -> Any:
        hosted = _HOSTED.search(url)
        row = await ctx_sql.get_context(
            self._pool, ctx_id=hosted.group(1) if hosted else None, url=url
        )
        if row is not None:
            return row["body"]
        doc = await self.fetch(url)
        await ctx_sql.put_context(self._pool, context_id_for(url), url, "Cached", doc)
        return doc

    async def fetch(self, url: str) -> Any:
        if not url.startswith(("http://", "https://")):
            raise LdContextNotAvailable(f"@context {url} is not dereferenceable")
        try:
            async with self._http.get(
                url,
                headers={"Accept": "application/ld+json, application/json;q=0.9"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                if resp.status != 200:
                    raise LdContextNotAvailable(f"@context {url} answered HTTP {resp.status}")
                raw = await resp.content.read(self._max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LdContextNotAvailable(f"@context {url} could not be fetched: {exc}") from exc
        if len(raw) > self._max_bytes:
            raise LdContextNotAvailable(f"@context {url} is larger than {self._max_bytes} bytes")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise LdContextNotAvailable(f"@context {url} is not JSON") from exc

    def forget(self, url: str) -> None:
        self._memory.pop(url, None)

    async def flush_usage(self) -> None:
        """Write the in-memory hit counters to PostgreSQL (called periodically)."""
        hits, self._hits = self._hits, {}
        now = datetime.now(UTC)
        for url, n in hits.items():
            await ctx_sql.touch_context(self._pool, url, n, now)
        if hits:
            log.debug("context usage flushed", extra={"contexts": len(hits)})
