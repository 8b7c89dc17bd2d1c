"""Delivery of entities to a hub over its NGSI-LD API: batch upsert, nothing else.

``POST /ngsi-ld/v1/entityOperations/upsert`` (GS CIM 009 5.6.8) replaces each entity
whole, so re-sending the same row (a resumed run, a look-back window) converges on one
entity per id. Bodies are split to stay under the hub's body-size limit. A 207 answer
names the entities the hub refused; they come back to the runner, each reason a
:class:`~adapters.sdk.refusals.Refusal` saying whether the row is at fault (quarantined)
or the configuration is (the run stops before the row: sdk.refusals). Connection
failures and 5xx answers are retried briefly, then raised as :class:`HubUnavailable`;
a whole request refused for a configuration reason (401, 403, 404, 409, 429 …) raises
:class:`HubRefused` naming the fix. Either way the runner stops without saving state
past the last acknowledged batch.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp
import orjson

from adapters.sdk.refusals import HubRefused, HubUnavailable, Refusal, fix_for, hub_base
from contracts import LINK_HEADER

__all__ = ["HubRefused", "HubSink", "HubUnavailable", "Sink"]

Entity = dict[str, Any]


class Sink(Protocol):
    async def upsert(self, entities: list[Entity]) -> dict[str, str]:
        """Store the entities; answer {entity id: reason} for those refused."""
        ...


class HubSink:
    """Upserts into a hub at ``base_url`` (``http://127.0.0.1:1026``, with or without
    ``/ngsi-ld/v1``: both are what a user copies from the hub's documentation)."""

    def __init__(self, base_url: str, *, tenant: str | None = None, token: str | None = None,
                 max_bytes: int = 900_000, retries: int = 2, timeout: float = 60.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = hub_base(base_url) + "/ngsi-ld/v1/entityOperations/upsert"
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
                        return _refused(_json(text), self.url)
                    if r.status >= 500:
                        last = HubUnavailable(fix_for(r.status, _json(text), self.url))
                        continue
                    if r.status == 413:
                        return await self._split(body)
                    problem = _json(text)
                    fix = fix_for(r.status, problem, self.url)
                    if fix is not None:
                        # not the rows' fault: stop here, the next run resumes from the state
                        raise HubRefused(fix)
                    # the whole batch refused for what it holds: each entity with the reason
                    reason = _problem(problem, r.status)
                    return {e["id"]: Refusal(reason, fixable=False) for e in orjson.loads(body)}
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = exc
        if isinstance(last, HubUnavailable):
            raise last
        raise HubUnavailable(f"the hub is unreachable at {self.url} ({last or 'timeout'}): "
                             "check --hub and that the hub is running, then run again") from last


    async def _split(self, body: bytes) -> dict[str, str]:
        """A body the hub found too large: send it in halves (and remember the limit)."""
        entities = orjson.loads(body)
        if len(entities) < 2:
            return {e["id"]: Refusal("refused by hub (413): the entity alone exceeds the body "
                                     "limit", fixable=False) for e in entities}
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


def _json(text: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # an HTML error page of a proxy, say
    return data if isinstance(data, dict) else None


def _refused(result: dict[str, Any] | None, url: str) -> dict[str, str]:
    """A BatchOperationResult's errors: {entity id: Refusal}, fixable or the row's own."""
    out: dict[str, str] = {}
    for err in (result or {}).get("errors", []):
        problem = err.get("error", {}) if isinstance(err, dict) else {}
        text = f"refused by hub: {problem.get('title', '')} {problem.get('detail', '')}".strip()
        status = problem.get("status")
        fix = fix_for(status, problem, url) if isinstance(status, int) else None
        out[err.get("entityId", "?")] = Refusal(fix or text, fixable=fix is not None)
    return out


def _problem(p: dict[str, Any] | None, status: int) -> str:
    if p is None:
        return f"refused by hub ({status})"
    return f"refused by hub ({status}): {p.get('title', '')} {p.get('detail', '')}".strip()
