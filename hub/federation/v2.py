"""NGSI v2 brokers (FIWARE Orion) as context sources of the hub.

A municipality that runs Orion registers it like any context source; the hub then calls its
NGSI v2 API and translates both ways (``hub.federation.v2_translate``, docs/federation-v2.md).

**How a registration says "NGSI v2".** GS CIM 009 has no member for the API a source
speaks; its extension point is ``contextSourceInfo``, a list of key-value pairs the broker
passes on. Neither Orion-LD nor Scorpio forward to NGSI v2 sources natively (FIWARE puts an
NGSI-LD adapter such as Lepus in front of the v2 broker instead), so there is no established
marker to follow; this hub uses one reserved ``contextSourceInfo`` entry::

    "contextSourceInfo": [{"key": "ngsi-version", "value": "v2"}]

and the registration's ``endpoint`` is then the v2 root (``http://orion:1026``, without
``/v2``). ``is_ngsi_v2`` is that test; the entry is never sent to the source as a header.

**Tenant and service path.** NGSI v2 multi-tenancy is the ``Fiware-Service`` header: a
registration's ``tenant`` (the tenant *at the source*, 5.2.9) is sent as ``Fiware-Service``
(Orion keeps service names lower-case, letters, digits and ``_``, at most 50; another tenant
name is an error, never a call to the default service). ``Fiware-ServicePath`` is ``/``
unless the registration's headers (its ``contextSourceInfo``) set one, e.g.
``{"key": "Fiware-ServicePath", "value": "/north"}``; a ``Fiware-Service`` there overrides
the tenant mapping.

**Failures.** Timeouts (``SourceTarget.timeout`` bounds the whole call, pages included),
refused connections, redirects, 4xx/5xx answers, bodies that are not JSON or not v2
entities all raise ``SourceError`` with the HTTP status (when there was one) and a detail;
``retrieve`` answers None for an entity the source does not have (404).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import yarl

from hub.errors import NgsiLdError
from hub.federation.sources import SourceAnswer, SourceError, SourceQuery, SourceTarget
from hub.federation.v2_translate import (
    QPlan,
    V2FormatError,
    V2Names,
    entity_to_ld,
    plan_query,
    project,
    v2_id_candidates,
)

__all__ = ["NGSI_VERSION_KEY", "NgsiV2Source", "V2Source", "is_ngsi_v2", "service_headers"]

#: the ``contextSourceInfo`` key whose value ``v2`` marks an NGSI v2 source
NGSI_VERSION_KEY = "ngsi-version"
_V2_VALUES = frozenset({"v2", "ngsiv2", "ngsi-v2"})
_CSI_KEYS = ("contextSourceInfo", "https://uri.etsi.org/ngsi-ld/contextSourceInfo")
#: registration keys that are instructions to this hub, not headers for the source
_NOT_HEADERS = frozenset({NGSI_VERSION_KEY, "jsonldcontext"})
_SERVICE = re.compile(r"[a-z0-9_]{1,50}")
_PATH_ELEMENT = re.compile(r"[A-Za-z0-9_]{1,50}")
#: Orion's largest page (``limit`` above it is refused with 400)
V2_MAX_LIMIT = 1000
#: the largest answer body read from a source
MAX_BODY = 32 * 1024 * 1024


def _csi_value(entry: Any) -> tuple[str, Any] | None:
    """(key, value) of one contextSourceInfo entry, compacted or expanded."""
    if not isinstance(entry, Mapping):
        return None
    key = entry.get("key", entry.get("https://uri.etsi.org/ngsi-ld/key"))
    value = entry.get("value", entry.get("https://uri.etsi.org/ngsi-ld/hasValue"))
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, Mapping) and "@value" in value:
        value = value["@value"]
    return (key, value) if isinstance(key, str) else None


def is_ngsi_v2(registration_body: dict[str, Any]) -> bool:
    """Whether a context source registration (as stored or as posted) names an NGSI v2
    source: a ``contextSourceInfo`` entry ``{"key": "ngsi-version", "value": "v2"}`` (key
    and value compared case-insensitively)."""
    for name in _CSI_KEYS:
        entries = registration_body.get(name)
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        for entry in entries:
            kv = _csi_value(entry)
            if (kv is not None and kv[0].lower() == NGSI_VERSION_KEY
                    and isinstance(kv[1], str) and kv[1].strip().lower() in _V2_VALUES):
                return True
    return False


def _service_path(path: str) -> str:
    """A ``Fiware-ServicePath`` for queries: up to 10 comma-separated absolute paths of
    at most 10 elements, each optionally ending in ``/#`` (this and below)."""
    parts = [p.strip() for p in path.split(",")]
    if not 1 <= len(parts) <= 10:
        raise SourceError(f"Fiware-ServicePath {path!r} names more than 10 paths")
    for part in parts:
        body = (part[:-2] or "/") if part.endswith("/#") else part
        elements = [e for e in body.split("/")[1:] if e] if body.startswith("/") else None
        if (elements is None or len(elements) > 10
                or not all(_PATH_ELEMENT.fullmatch(e) for e in elements)):
            raise SourceError(f"Fiware-ServicePath {path!r} is not a valid service path")
    return ",".join(parts)


def service_headers(target: SourceTarget) -> dict[str, str]:
    """The headers of every request to ``target``: the registration's own headers, then
    ``Fiware-Service`` from the tenant and ``Fiware-ServicePath`` (default ``/``).

    A tenant Orion cannot name raises ``SourceError`` rather than falling back to the
    default service, which would answer with another tenant's data."""
    headers: dict[str, str] = {}
    service = path = None
    for key, value in target.headers.items():
        low = key.lower()
        if low in _NOT_HEADERS:
            continue
        if low == "fiware-service":
            service = value
        elif low == "fiware-servicepath":
            path = value
        else:
            headers[key] = value
    if service is None and target.tenant:
        service = target.tenant
    if service is not None:
        service = service.strip().lower()
        if not _SERVICE.fullmatch(service):
            raise SourceError(f"tenant {service!r} cannot be an NGSI v2 Fiware-Service "
                              f"(letters, digits and _, at most 50)")
        headers["Fiware-Service"] = service
    headers["Fiware-ServicePath"] = _service_path(path if path is not None else "/")
    headers["Accept"] = "application/json"
    return headers


class NgsiV2Source:
    """The ``Source`` (hub.federation.sources) for NGSI v2 brokers.

    ``names`` maps v2 names to IRIs beyond the default rule (a registration's term table);
    ``max_scan`` bounds how many candidates a query that v2 cannot express (see
    ``v2_translate.plan_query``) may read from one source before it fails instead.
    """

    def __init__(self, names: V2Names | None = None, *, page_size: int = V2_MAX_LIMIT,
                 max_scan: int = 10_000) -> None:
        self.names = names or V2Names()
        self.page_size = max(1, min(page_size, V2_MAX_LIMIT))
        self.max_scan = max_scan

    # -- HTTP ------------------------------------------------------------------------------

    async def _get(self, http: aiohttp.ClientSession, target: SourceTarget, path: str,
                   params: Mapping[str, str], *, missing_ok: bool = False
                   ) -> tuple[Any, Mapping[str, str]] | None:
        """GET ``endpoint + path``: the decoded JSON body and the response headers; None
        for a 404 when ``missing_ok``. Every failure is a ``SourceError``."""
        url = target.endpoint.rstrip("/") + path
        shown = _shown(url)
        try:
            async with http.get(url, params=params, headers=service_headers(target),
                                allow_redirects=False) as resp:
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise SourceError(f"{shown} answered more than {MAX_BODY} bytes",
                                          resp.status)
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, OSError) as exc:
            raise SourceError(f"{shown}: {type(exc).__name__}: {exc}") from exc
        if status == 404 and missing_ok:
            return None
        if status >= 300:
            raise SourceError(f"{shown} answered {status}{_v2_error(bytes(body))}", status)
        try:
            return orjson.loads(body), headers
        except orjson.JSONDecodeError:
            raise SourceError(f"{shown} answered {status} with a body that is not JSON "
                              f"({headers.get('Content-Type', 'no content type')})",
                              status) from None

    async def _bounded(self, target: SourceTarget, work: Any) -> Any:
        """Run ``work`` (a coroutine) within the target's timeout."""
        try:
            async with asyncio.timeout(target.timeout):
                return await work
        except TimeoutError:
            raise SourceError(f"{_shown(target.endpoint)} did not answer within "
                              f"{target.timeout:g} s") from None

    def _entities(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise SourceError("the source answered something other than a list of entities")
        try:
            return [entity_to_ld(e, self.names) for e in body]
        except V2FormatError as exc:
            raise SourceError(f"the source answered an invalid entity: {exc}") from None

    # -- Source ----------------------------------------------------------------------------

    async def query(self, http: aiohttp.ClientSession, target: SourceTarget,
                    q: SourceQuery) -> SourceAnswer:
        """GET /v2/entities with what v2 can express; the rest checked here (a scan)."""
        try:
            plan = plan_query(types=q.types, ids=q.ids, id_pattern=q.id_pattern,
                              attrs=q.attrs, q=q.q, names=self.names)
        except (ValueError, NgsiLdError) as exc:
            raise SourceError(f"the query cannot be run on an NGSI v2 source: {exc}") from None
        if plan.empty or getattr(q, "scope_q", None) is not None:
            # nothing at the source can match; v2 entities have no scopes either
            return SourceAnswer([], 0 if q.count else None)
        if q.limit <= 0 and not q.count:
            return SourceAnswer([])
        if plan.scan:
            return await self._bounded(target, self._scan(http, target, q, plan))
        return await self._bounded(target, self._page(http, target, q, plan))

    async def _page(self, http: aiohttp.ClientSession, target: SourceTarget, q: SourceQuery,
                    plan: QPlan) -> SourceAnswer:
        """v2 answers the whole query, page and count: one request per ``page_size``."""
        entities: list[dict[str, Any]] = []
        total: int | None = None
        offset, want = q.offset, q.limit
        while True:
            size = min(want - len(entities), self.page_size)
            params = dict(plan.params, offset=str(offset), limit=str(max(size, 1)))
            if q.count and total is None:
                params["options"] = "count"
            got = await self._get(http, target, "/v2/entities", params)
            assert got is not None
            body, headers = got
            if q.count and total is None:
                total = _total(headers)
            page = self._entities(body)
            if size <= 0:
                break  # limit=0: only the count was wanted
            entities.extend(page)
            offset += len(page)
            if len(page) < size or len(entities) >= want:
                break
        return SourceAnswer(entities, total)

    async def _scan(self, http: aiohttp.ClientSession, target: SourceTarget, q: SourceQuery,
                    plan: QPlan) -> SourceAnswer:
        """Read every candidate the pushed-down part selects, keep what the rest accepts,
        then page and count here: exact, bounded by ``max_scan``."""
        matches: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = dict(plan.params, offset=str(offset), limit=str(self.page_size))
            got = await self._get(http, target, "/v2/entities", params)
            assert got is not None
            page = self._entities(got[0])
            matches.extend(e for e in page if plan.keep(e))
            offset += len(page)
            if len(page) < self.page_size:
                break
            if offset >= self.max_scan:
                raise SourceError(f"the query needs more than {self.max_scan} entities of "
                                  f"this NGSI v2 source filtered by the hub; narrow it "
                                  f"(type, a simpler q)")
        page_out = matches[q.offset:q.offset + q.limit]
        if plan.attrs:
            page_out = [project(e, plan.attrs) for e in page_out]
        return SourceAnswer(page_out, len(matches) if q.count else None)

    async def retrieve(self, http: aiohttp.ClientSession, target: SourceTarget,
                       entity_id: str, attrs: tuple[str, ...]) -> dict[str, Any] | None:
        """GET /v2/entities/{id}: the literal id first, then ``<id>`` of ``<Type>`` for
        ``urn:ngsi-ld:<Type>:<id>``; None when the source has neither."""
        return await self._bounded(target, self._retrieve(http, target, entity_id, attrs))

    async def _retrieve(self, http: aiohttp.ClientSession, target: SourceTarget,
                        entity_id: str, attrs: tuple[str, ...]) -> dict[str, Any] | None:
        v2_attrs = sorted({n for a in attrs if (n := self.names.name(a)) is not None})
        for v2_id, v2_type in v2_id_candidates(entity_id):
            params: dict[str, str] = {}
            if v2_type is not None:
                params["type"] = v2_type
            if v2_attrs:
                params["attrs"] = ",".join(v2_attrs)
            got = await self._get(http, target, "/v2/entities/" + quote(v2_id, safe=":"),
                                  params, missing_ok=True)
            if got is None:
                continue
            entity = self._entities([got[0]])[0]
            if entity["id"] != entity_id:
                continue  # e.g. the literal id names an entity of another type
            return project(entity, attrs) if attrs else entity
        return None

    async def _all_types(self, http: aiohttp.ClientSession, target: SourceTarget,
                         values: bool) -> list[Any]:
        """Every entry of GET /v2/types, page by page (Orion pages types like entities)."""
        out: list[Any] = []
        offset = 0
        while True:
            params = {"offset": str(offset), "limit": str(self.page_size)}
            if values:
                params["options"] = "values"
            got = await self._get(http, target, "/v2/types", params)
            assert got is not None
            if not isinstance(got[0], list):
                raise SourceError("GET /v2/types answered something other than a list")
            out.extend(got[0])
            offset += len(got[0])
            if len(got[0]) < self.page_size or offset >= self.max_scan:
                return out

    async def types(self, http: aiohttp.ClientSession, target: SourceTarget) -> list[str]:
        """GET /v2/types?options=values, as type IRIs."""
        names = await self._bounded(target, self._all_types(http, target, values=True))
        return sorted({self.names.iri(n) for n in names if isinstance(n, str) and n})

    async def attributes(self, http: aiohttp.ClientSession,
                         target: SourceTarget) -> list[str]:
        """The union of the ``attrs`` of every type of GET /v2/types, as IRIs."""
        entries = await self._bounded(target, self._all_types(http, target, values=False))
        found: set[str] = set()
        for entry in entries:
            attrs = entry.get("attrs") if isinstance(entry, dict) else None
            if not isinstance(attrs, dict):
                raise SourceError("GET /v2/types answered a type without attrs")
            found.update(self.names.iri(a) for a in attrs if isinstance(a, str) and a)
        return sorted(found)


def _shown(url: str) -> str:
    """``url`` without user information: an error detail never carries credentials."""
    parsed = yarl.URL(url)
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url


def _total(headers: Mapping[str, str]) -> int | None:
    """The ``Fiware-Total-Count`` header (``options=count``), when it is a number."""
    raw = headers.get("Fiware-Total-Count")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _v2_error(body: bytes) -> str:
    """``: <error>: <description>`` of a v2 error body, or a short excerpt of another."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:120].decode("utf-8", "replace").strip()
        return f": {text}" if text else ""
    if isinstance(data, dict) and "error" in data:
        description = data.get("description")
        return f": {data['error']}" + (f": {description}" if description else "")
    return ""


#: the name the distributed-operation engine (hub/federation/forward.py) instantiates
V2Source = NgsiV2Source
