"""Request plumbing every NGSI-LD handler shares (GS CIM 009 clause 6.3).

Media types in and out, the JSON body, the request's @context (Link header or inline), the
tenant, and rendering a JSON result with the right @context placement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web

from hub import keys
from hub.errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from hub.jsonld.active import ActiveContext
from hub.jsonld.core import CORE_CONTEXT_URL, LD_CONTEXT_REL
from hub.service.access_caller import current

__all__ = [
    "GEOJSON",
    "JSON",
    "JSONLD",
    "MERGE_PATCH",
    "RequestContext",
    "accepted_type",
    "dumps",
    "json_response",
    "read_json",
    "request_context",
    "tenant_schema",
]

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@dataclass(slots=True)
class RequestContext:
    """The active context to expand/compact with, and what to echo back to the client."""

    active: ActiveContext
    raw: Any  # what the client supplied (URL, list, dict) or None for core only

    def link_url(self) -> str:
        if isinstance(self.raw, str):
            return self.raw
        return CORE_CONTEXT_URL

    def body_context(self, as_list: bool = False) -> Any:
        """The @context member for JSON-LD bodies, in the shape the client sent it (the
        ETSI suite checks the echo is exactly that: 102 of its tests fail when the core
        context is appended to a context that did not name it); the core context when the
        client sent none."""
        raw = self.raw if self.raw is not None else CORE_CONTEXT_URL
        return [raw] if as_list and not isinstance(raw, list) else raw


def _media_type(request: web.Request) -> str:
    return request.content_type.lower() if request.body_exists else ""


async def read_json(request: web.Request, *, merge_patch: bool = False) -> tuple[Any, str]:
    """The parsed body and its media type; 415 / 400 / 413 on the wrong kind of body."""
    if not request.body_exists:
        raise InvalidRequest("the request needs a JSON body")
    media = _media_type(request)
    allowed = {JSON, JSONLD} | ({MERGE_PATCH} if merge_patch else set())
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'} is not supported; use one of {sorted(allowed)}"
        )
    limit = request.app[keys.SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    try:
        raw = await request.read()  # bounded by client_max_size == max_body_bytes
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    return body, media


def _link_context(request: web.Request) -> str | None:
    header = request.headers.getall("Link", [])
    found: list[str] = []
    for value in header:
        found.extend(_context_links(value))
    if len(found) > 1:
        raise BadRequestData("more than one JSON-LD context Link header")
    return found[0] if found else None


_CONTEXT_REL = re.compile(r'rel\s*=\s*"?' + re.escape(LD_CONTEXT_REL) + '"?')


@lru_cache(maxsize=256)
def _context_links(value: str) -> tuple[str, ...]:
    """The JSON-LD context URLs one ``Link`` header value names. A client sends the same
    value on every request: parsed once (bounded; a header line is at most 8 KiB)."""
    return tuple(match.group(1).strip() for match in _LINK.finditer(value)
                 if _CONTEXT_REL.search(match.group(2)))


async def request_context(
    request: web.Request, body: Any = None, media: str | None = None
) -> RequestContext:
    """Resolve the request's @context (6.3.5): Link header for JSON, body for JSON-LD."""
    link = _link_context(request)
    raw: Any = None
    if media == JSONLD:
        if link is not None:
            raise BadRequestData("a JSON-LD Link header must not accompany application/ld+json")
        if not isinstance(body, (dict, list)):
            raise BadRequestData("an application/ld+json body must carry @context")
        items = body if isinstance(body, list) else [body]
        contexts = [i.get("@context") for i in items if isinstance(i, dict)]
        if not contexts or any(c is None for c in contexts):
            raise BadRequestData("an application/ld+json body must carry @context")
        raw = contexts[0]
    else:
        if media in (JSON, MERGE_PATCH) and _has_context(body):
            raise BadRequestData("@context in an application/json body; use the Link header")
        raw = link
    cache = request.app[keys.CONTEXT_CACHE]
    store = request.app[keys.CONTEXTS]
    active = await cache.get(raw, store)
    for url in raw if isinstance(raw, list) else [raw]:
        if isinstance(url, str):
            store.count_use(url)
    return RequestContext(active=active, raw=raw)


def _has_context(body: Any) -> bool:
    if isinstance(body, dict):
        return "@context" in body
    if isinstance(body, list):
        return any(isinstance(i, dict) and "@context" in i for i in body)
    return False


def accepted_type(request: web.Request, offered: tuple[str, ...] = (JSON, JSONLD)) -> str:
    """Pick the response media type from ``Accept`` (6.3.4); 406 when none fits."""
    header = request.headers.get("Accept", "").strip()
    if not header:
        return offered[0]
    choice = _accepted(header, offered)
    if choice is None:
        raise NotAcceptable(f"none of {header!r} can be produced; offered {list(offered)}")
    return choice


@lru_cache(maxsize=256)
def _accepted(header: str, offered: tuple[str, ...]) -> str | None:
    """The media type ``header`` prefers among ``offered`` (None: none of them). A client
    sends the same ``Accept`` on every request: decided once per value (bounded)."""
    best: tuple[float, int, str] | None = None
    for pos, part in enumerate(header.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        q = 1.0
        for p in pieces[1:]:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in ("*/*", "application/*"):
            choice = offered[0]
        elif media in offered:
            choice = media
        else:
            continue
        key = (q, -pos, choice)
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else best[2]


async def tenant_schema(request: web.Request, *, create: bool = False) -> str:
    """The request's tenant schema. ``create``: the operation creates a tenant that does
    not exist (GS CIM 009 4.14). In enforcing mode only a token with the ``write`` scope
    may (any other caller is answered as a read is: NonexistentTenant), within the
    ``max_tenants`` quota and with a checked name: a tenant is a schema and background
    work, not something a read or subscribe client may multiply."""
    tenant = request.headers.get("NGSILD-Tenant")
    settings = request.app[keys.SETTINGS]
    enforce = settings.auth_mode != "dev"
    if create and enforce:
        create = "write" in current().consumer.scopes
    return await request.app[keys.TENANTS].resolve(request.app[keys.POOL], tenant, create,
                                                   quota=settings.max_tenants,
                                                   checked=enforce)


def dumps(data: Any) -> str:
    """JSON text as aiohttp's ``json_response`` wants it, serialized by orjson."""
    return orjson.dumps(data).decode()


def json_response(
    data: Any,
    rc: RequestContext | None,
    media: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Serialize ``data``; JSON-LD gets ``@context`` in the body, JSON gets a Link header."""
    out_headers = dict(headers or {})
    if rc is not None:
        if media in (JSONLD, GEOJSON):
            ctx = rc.body_context(as_list=media == GEOJSON)
            if isinstance(data, list):
                data = [{"@context": ctx, **item} for item in data]
            elif isinstance(data, dict):
                data = {"@context": ctx, **data}
        else:
            out_headers["Link"] = (
                f'<{rc.link_url()}>; rel="{LD_CONTEXT_REL}"; type="application/ld+json"'
            )
    return web.Response(
        status=status,
        body=orjson.dumps(data),
        content_type=media,
        headers=out_headers,
    )
