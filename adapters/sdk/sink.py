"""Delivery of entities to a hub over its NGSI-LD API: batch upsert, nothing else.

``POST /ngsi-ld/v1/entityOperations/upsert`` (GS CIM 009 5.6.8) replaces each entity
whole, so re-sending the same row (a resumed run, a look-back window) converges on one
entity per id. Bodies are split to stay under the hub's body-size limit. A 207 answer
names the entities the hub refused; they come back to the runner to be quarantined.
Connection failures and 5xx answers are retried briefly, then raised as
:class:`HubUnavailable` so the runner stops without saving state past the last
acknowledged batch.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp
import orjson

from contracts import LINK_HEADER

__all__ = ["HubSink", "HubUnavailable", "Sink"]

Entity = dict[str, Any]


class HubUnavailable(Exception):
    """The hub could not be reached or failed; nothing after the last ack was stored."""


class Sink(Protocol):
    async def upsert(self, entities: list[Entity]) -> dict[str, str]:
        """Store the entities; answer {entity id: reason} for those refused."""
        ...


class HubSink:
    """Upserts into a hub at ``base_url`` (e.g. ``http://127.0.0.1:1026``)."""

    def __init__(self, base_url: str, *, tenant: str | None = None, token: str | None = None,
                 max_bytes: int = 900_000, retries: int = 2, timeout: float = 60.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = base_url.rstrip("/") + "/ngsi-ld/v1/entityOperations/upsert"
        # the entities use the contracts' terms: name their @context once per request
        self.headers = {"Content-Type": "application/json", "Link": LINK_HEADER}
        if tenant:
            self.headers["NGSILD-Tenant"] = tenant
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.max_bytes = max_bytes
        self.retries = retries
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> HubSink:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def upsert(self, entities: list[Entity]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for body in _chunks(entities, self.max_bytes):
            refused.update(await self._post(body))
        return refused

    async def _post(self, body: bytes) -> dict[str, str]:
        assert self._session is not None, "use HubSink as an async context manager"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(0.2 * 2**attempt)
            try:
                async with self._session.post(self.url, data=body, headers=self.headers) as r:
                    text = await r.read()
                    if r.status in (200, 201, 204):
                        return {}
                    if r.status == 207:
                        return _refused(orjson.loads(text))
                    if r.status >= 500:
                        last = HubUnavailable(f"hub answered {r.status}: {text[:200]!r}")
                        continue
                    if r.status in (401, 429):
                        # not the rows' fault: stop here, the next run resumes from the state
                        raise HubUnavailable(f"hub answered {r.status}: {_problem(text, r.status)}")
                    if r.status == 413:
                        return await self._split(body)
                    # 4xx on the whole batch: every entity of it is refused with the reason
                    reason = _problem(text, r.status)
                    return {e["id"]: reason for e in orjson.loads(body)}
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = exc
        raise HubUnavailable(f"hub unreachable at {self.url}: {last}") from last


    async def _split(self, body: bytes) -> dict[str, str]:
        """A body the hub found too large: send it in halves (and remember the limit)."""
        entities = orjson.loads(body)
        if len(entities) < 2:
            return {e["id"]: "refused by hub (413): the entity alone exceeds the body limit"
                    for e in entities}
        self.max_bytes = max(1024, len(body) // 2)
        half = len(entities) // 2
        refused: dict[str, str] = {}
        for part in (entities[:half], entities[half:]):
            for chunk in _chunks(part, self.max_bytes):
                refused.update(await self._post(chunk))
        return refused


def _chunks(entities: list[Entity], max_bytes: int) -> list[bytes]:
    """JSON array bodies of at most ``max_bytes`` each (one entity may exceed it alone).

    A batch that fits is serialised by one ``orjson.dumps`` call (the common case); only a
    larger one is serialised entity by entity to find where to cut."""
    if not entities:
        return []
    whole = orjson.dumps(entities)
    if len(whole) <= max_bytes:
        return [whole]
    out: list[bytes] = []
    parts: list[bytes] = []
    size = 2
    for e in entities:
        b = orjson.dumps(e)
        if parts and size + len(b) + 1 > max_bytes:
            out.append(b"[" + b",".join(parts) + b"]")
            parts, size = [], 2
        parts.append(b)
        size += len(b) + 1
    if parts:
        out.append(b"[" + b",".join(parts) + b"]")
    return out


def _refused(result: Any) -> dict[str, str]:
    errors = result.get("errors", []) if isinstance(result, dict) else []
    out = {}
    for err in errors:
        problem = err.get("error", {})
        out[err.get("entityId", "?")] = (
            f"refused by hub: {problem.get('title', '')} {problem.get('detail', '')}".strip())
    return out


def _problem(text: bytes, status: int) -> str:
    try:
        p = orjson.loads(text)
        return f"refused by hub ({status}): {p.get('title', '')} {p.get('detail', '')}".strip()
    except orjson.JSONDecodeError:
        return f"refused by hub ({status})"
