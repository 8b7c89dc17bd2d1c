"""An NGSI-LD context source (another NGSI-LD broker, or another Renkei), GS CIM 009 6.3.

The hub asks with terms compacted under the @context it names in the ``Link`` header (the
caller's, so a source sharing the caller's vocabulary sees the names the caller used) and
expands the answer with the same context, so what crosses into the engine is full IRIs
whichever vocabulary the source speaks. Every failure — timeout, refused connection,
non-2xx answer, a body that is not NGSI-LD — is one ``SourceError``: the engine reports it
and answers with the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from hub.federation.qnames import map_q_names
from hub.federation.sources import SourceAnswer, SourceError, SourceQuery, SourceTarget
from hub.jsonld.core import CORE_CONTEXT_URL
from hub.jsonld.process import core_active_context
from hub.ngsild.checks import now_iso
from hub.ngsild.entity import parse_entity

__all__ = ["API", "LdSource", "base_url", "call", "to_full_iri"]

API = "/ngsi-ld/v1"
#: the largest answer read from a source (a bigger one is a failure, not a memory risk)
MAX_ANSWER_BYTES = 16 * 1024 * 1024
LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


def base_url(endpoint: str) -> str:
    """The NGSI-LD API root of a registered endpoint (given with or without /ngsi-ld/v1)."""
    root = endpoint.rstrip("/")
    return root if root.endswith(API) else root + API


def _headers(target: SourceTarget, body: Any = None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    headers.update(target.headers)
    if target.tenant:
        headers["NGSILD-Tenant"] = target.tenant
    inline = (isinstance(body, dict) and "@context" in body) or (isinstance(body, list) and any(
        isinstance(b, dict) and "@context" in b for b in body))
    if inline:  # the body names its own @context: JSON-LD, and no Link beside it
        headers["Content-Type"] = "application/ld+json"
    else:
        link = target.context_url or CORE_CONTEXT_URL
        headers["Link"] = f'<{link}>; rel="{LD_CONTEXT_REL}"; type="application/ld+json"'
        if body is not None:
            headers["Content-Type"] = "application/json"
    return headers


async def call(
    http: aiohttp.ClientSession, target: SourceTarget, method: str, path: str, *,
    params: Mapping[str, str] | None = None, body: Any = None,
) -> tuple[int, Any, Mapping[str, str]]:
    """One request to the source: (status, parsed body or None, headers). Raises
    ``SourceError`` on timeout, connection failure, 5xx or an unparsable body; a 4xx is
    returned (the caller decides what a 404 means)."""
    url = base_url(target.endpoint) + path
    if target.local_only:
        params = {**(params or {}), "local": "true"}
    data = None if body is None else orjson.dumps(body)
    try:
        async with asyncio.timeout(target.timeout):
            async with http.request(method, url, params=params, data=data,
                                    headers=_headers(target, body),
                                    allow_redirects=False) as resp:
                raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
                status, headers = resp.status, resp.headers
    except TimeoutError:
        raise SourceError(f"no answer within {target.timeout:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise SourceError(f"connection failed: {type(exc).__name__}") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise SourceError("the answer is too large", status, invalid=True)
    if status >= 500:
        raise SourceError(f"the source answered {status}", status)
    parsed: Any = None
    if raw.strip():
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if 200 <= status < 300:
                raise SourceError("the answer is not JSON", status, invalid=True) from None
    return status, parsed, headers


def to_full_iri(raw: Any, active: Any, now: str | None = None) -> dict[str, Any]:
    """A source's normalized entity (compact names under ``active``) with every type and
    attribute name a full IRI; ``SourceError`` when it is no valid entity. ``now`` (the
    parser's stamp, dropped again below) is taken once per answer by callers with many."""
    if not isinstance(raw, dict):
        raise SourceError("an entity in the answer is not a JSON object", invalid=True)
    body = {k: v for k, v in raw.items() if k != "@context"}
    try:
        doc = parse_entity(body, active, now or now_iso())
    except Exception as exc:  # the source's data breaks an NGSI-LD rule
        raise SourceError(f"an entity in the answer is invalid: {exc}", invalid=True) from None
    out: dict[str, Any] = {"id": doc.id, "type": doc.types}
    if doc.scopes:
        out["scope"] = doc.scopes
    for iri, instances in doc.attrs.items():
        kept = []
        raw_value = raw.get(active.compact(iri), raw.get(iri))
        raw_list = raw_value if isinstance(raw_value, list) else [raw_value]
        for i, inst in enumerate(instances):
            inst = dict(inst)
            inst.pop("createdAt", None)  # stamped by the parser, not the source's
            inst.pop("modifiedAt", None)
            src = raw_list[i] if i < len(raw_list) else None
            if isinstance(src, dict) and isinstance(src.get("modifiedAt"), str):
                inst["modifiedAt"] = src["modifiedAt"]
            kept.append(inst)
        out[iri] = kept[0] if len(kept) == 1 else kept
    return out


class LdSource:
    """``Source`` for NGSI-LD brokers (hub/federation/sources.py)."""

    def _active(self, target: SourceTarget) -> Any:
        return target.active if target.active is not None else core_active_context()

    async def query(self, http: aiohttp.ClientSession, target: SourceTarget,
                    q: SourceQuery) -> SourceAnswer:
        active = self._active(target)
        params: dict[str, str] = {}
        if q.types:
            params["type"] = ",".join(active.compact(t) for t in q.types)
        if q.ids:
            params["id"] = ",".join(q.ids)
        if q.id_pattern:
            params["idPattern"] = q.id_pattern
        if q.attrs:
            params["attrs"] = ",".join(active.compact(a) for a in q.attrs)
        if q.q:
            params["q"] = map_q_names(q.q, active.compact)
        params["limit"] = str(q.limit)
        if q.offset:
            params["offset"] = str(q.offset)
        if q.count:
            params["count"] = "true"
        if q.scope_q:
            params["scopeQ"] = q.scope_q
        status, body, headers = await call(http, target, "GET", "/entities", params=params)
        if status != 200:
            raise SourceError(f"the query answered {status}", status)
        if isinstance(body, dict) and "id" in body:  # one entity, not in an array: taken
            body = [body]
        if not isinstance(body, list):
            raise SourceError("the query answer is not an array", status, invalid=True)
        total = None
        if q.count:
            try:
                total = int(headers.get("NGSILD-Results-Count", ""))
            except ValueError:
                total = None
        stamp = now_iso()
        return SourceAnswer([to_full_iri(e, active, stamp) for e in body], total)

    async def retrieve(self, http: aiohttp.ClientSession, target: SourceTarget,
                       entity_id: str, attrs: tuple[str, ...]) -> dict[str, Any] | None:
        active = self._active(target)
        params = {"attrs": ",".join(active.compact(a) for a in attrs)} if attrs else None
        status, body, _ = await call(http, target, "GET",
                                     "/entities/" + quote(entity_id, safe=":"),
                                     params=params)
        if status == 404:
            return None
        if status != 200:
            raise SourceError(f"the retrieval answered {status}", status)
        return to_full_iri(body, active)

    async def query_batch(self, http: aiohttp.ClientSession, target: SourceTarget,
                          q: SourceQuery) -> SourceAnswer:
        """POST /entityOperations/query (5.7.2 through the batch query), for a
        registration that allows ``queryBatch`` only."""
        active = self._active(target)
        selector: dict[str, Any] = {}
        if q.types:
            selector["type"] = ",".join(active.compact(t) for t in q.types)
        if q.ids:
            selector["id"] = q.ids[0]
        if q.id_pattern:
            selector["idPattern"] = q.id_pattern
        body: dict[str, Any] = {"type": "Query"}
        if selector:
            body["entities"] = [selector]
        if q.attrs:
            body["attrs"] = [active.compact(a) for a in q.attrs]
        if q.q:
            body["q"] = map_q_names(q.q, active.compact)
        status, answer, _ = await call(http, target, "POST", "/entityOperations/query",
                                       params={"limit": str(q.limit)}, body=body)
        if status != 200:
            raise SourceError(f"the batch query answered {status}", status)
        if isinstance(answer, dict) and "id" in answer:
            answer = [answer]
        if not isinstance(answer, list):
            raise SourceError("the query answer is not an array", status, invalid=True)
        stamp = now_iso()
        return SourceAnswer([to_full_iri(e, active, stamp) for e in answer])

    async def types(self, http: aiohttp.ClientSession, target: SourceTarget) -> list[str]:
        status, body, _ = await call(http, target, "GET", "/types")
        if status != 200 or not isinstance(body, dict):
            raise SourceError(f"/types answered {status}", status)
        active = self._active(target)
        return [active.expand(t) for t in body.get("typeList", []) if isinstance(t, str)]

    async def attributes(self, http: aiohttp.ClientSession,
                         target: SourceTarget) -> list[str]:
        status, body, _ = await call(http, target, "GET", "/attributes")
        if status != 200 or not isinstance(body, dict):
            raise SourceError(f"/attributes answered {status}", status)
        active = self._active(target)
        return [active.expand(a) for a in body.get("attributeList", []) if isinstance(a, str)]
