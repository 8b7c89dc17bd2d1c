"""Distributed operations (GS CIM 009 4.3.6, 5.7, 6.3.18): which registrations a request
concerns, asking their sources concurrently, and what is done with the answers.

* **Which.** The active registrations of the tenant (cached per process for
  ``federation_cache_ttl`` seconds: a query with no registration costs no extra round
  trip) are matched on the request's entity types, ids / idPattern and attributes against
  each ``information`` entry, and on the operation (``operations`` and its groups;
  ``federationOps`` when a registration names none). ``local=true``, the setting
  ``federation=false``, or a ``Via`` header already naming this hub (a loop, 6.3.18) keep a
  read local; a write that would be forwarded in a loop is refused with 508.
* **How.** Each source is called through the app's egress-checked session with the
  headers its registration configures (``contextSourceInfo``) — never the caller's
  ``Authorization`` or cookies — plus ``Via`` naming this hub, under a per-source timeout
  and a circuit breaker (hub/federation/circuit.py). A failed source is logged, counted
  (``FederationStats``) and reported in an ``NGSILD-Warning`` header; the others answer.
* **Whose data.** A remote entity is data of the registration's owner organisation: it is
  stamped with the dataset that organisation's registry rules assign (by id and types),
  else its default dataset, and goes through the same per-entity decision and attribute
  stripping as a stored entity (``access.visible``), audited the same way. A registration
  without owner is followed in development mode only.
* **Merge** (hub/federation/merge.py): per entity and attribute, inclusive sources add
  instances and the most recent instance per ``datasetId`` wins; exclusive and redirect
  registrations own their attributes; auxiliary ones answer only for entities nobody else
  has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import asyncpg
from aiohttp import web

from hub import keys
from hub.errors import NgsiLdError
from hub.federation.circuit import Breakers
from hub.federation.ld_source import LdSource
from hub.federation.sources import Source, SourceError, SourceTarget
from hub.query.linear_regex import id_pattern_matcher

__all__ = [
    "FederationStats",
    "LoopDetected",
    "Registration",
    "federation_context",
    "federation_of",
    "invalidate_registrations",
    "matching",
]

log = logging.getLogger("renkei.federation")
T = TypeVar("T")

#: operation groups (GS CIM 009 Table 4.20-1 / 5.2.9 ``operations``)
GROUPS: dict[str, frozenset[str]] = {
    "federationOps": frozenset({
        "retrieveEntity", "queryEntity", "queryBatch", "retrieveEntityTypes",
        "retrieveEntityTypeDetails", "retrieveEntityTypeInfo", "retrieveAttrTypes",
        "retrieveAttrTypeDetails", "retrieveAttrTypeInfo", "createSubscription",
        "updateSubscription", "retrieveSubscription", "querySubscription",
        "deleteSubscription"}),
    "updateOps": frozenset({"updateEntity", "updateAttrs", "replaceEntity", "replaceAttrs"}),
    "retrieveOps": frozenset({"retrieveEntity", "queryEntity"}),
    "redirectionOps": frozenset({
        "createEntity", "updateEntity", "appendAttrs", "updateAttrs", "deleteAttrs",
        "deleteEntity", "mergeEntity", "replaceEntity", "replaceAttrs", "purgeEntity",
        "retrieveEntity", "queryEntity", "retrieveEntityTypes", "retrieveEntityTypeDetails",
        "retrieveEntityTypeInfo", "retrieveAttrTypes", "retrieveAttrTypeDetails",
        "retrieveAttrTypeInfo"}),
}
#: batch operations forward as their single-entity counterpart
BATCH_OPS = {"createBatch": "createEntity", "upsertBatch": "createEntity",
             "updateBatch": "updateEntity", "deleteBatch": "deleteEntity",
             "mergeBatch": "mergeEntity"}
WRITE_OPS = frozenset({"createEntity", "updateEntity", "appendAttrs", "updateAttrs",
                       "deleteAttrs", "deleteEntity", "mergeEntity", "replaceEntity",
                       "replaceAttrs", "purgeEntity", *BATCH_OPS})


class LoopDetected(NgsiLdError):
    """6.3.18: the request already passed through this hub."""

    problem_type = "https://uri.etsi.org/ngsi-ld/errors/LoopDetected"
    status = 508
    title = "Loop detected"


def _expand_ops(ops: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for op in ops:
        out |= GROUPS.get(op, frozenset({op}))
    for batch, single in BATCH_OPS.items():
        if single in out:
            out.add(batch)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class EntitySel:
    id: str | None
    id_pattern: str | None
    types: frozenset[str]

    def matches(self, entity_id: str | None, types: Iterable[str]) -> bool:
        ts = set(types)
        if self.types and ts and not (self.types & ts):
            return False
        if entity_id is not None:
            if self.id is not None and self.id != entity_id:
                return False
            if self.id_pattern is not None:
                pattern = id_pattern_matcher(self.id_pattern)  # RE2: linear time
                if pattern is None or not pattern.search(entity_id):
                    return False
        return True


@dataclass(frozen=True, slots=True)
class Info:
    """One ``information`` entry: entity selectors (empty: any) and attribute names
    (None: any)."""

    entities: tuple[EntitySel, ...]
    attrs: frozenset[str] | None

    def matches(self, entity_id: str | None, types: Iterable[str],
                attrs: Iterable[str] = ()) -> bool:
        types = tuple(types)
        if self.entities and not any(s.matches(entity_id, types) for s in self.entities):
            return False
        wanted = set(attrs)
        return not (wanted and self.attrs is not None and not (wanted & self.attrs))


@dataclass(frozen=True, slots=True)
class Registration:
    """What the engine needs of one stored registration."""

    id: str
    owner: str | None
    endpoint: str
    mode: str
    operations: frozenset[str]
    information: tuple[Info, ...]
    headers: tuple[tuple[str, str], ...]
    tenant: str | None
    kind: str = "ld"
    local_only: bool = False
    #: ``management.timeout`` / ``cooldown`` (5.2.34), seconds; None: the hub's settings
    timeout: float | None = None
    cooldown: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def allows(self, op: str) -> bool:
        return op in self.operations

    def infos(self, entity_id: str | None, types: Iterable[str],
              attrs: Iterable[str] = ()) -> list[Info]:
        types, attrs = tuple(types), tuple(attrs)
        return [i for i in self.information if i.matches(entity_id, types, attrs)]

    def owned_attrs(self, entity_id: str | None, types: Iterable[str]) -> frozenset[str] | None:
        """The attributes this registration names for the entity (None: all of it)."""
        out: set[str] = set()
        for info in self.infos(entity_id, types):
            if info.attrs is None:
                return None
            out |= info.attrs
        return frozenset(out)


#: contextSourceInfo keys never sent as headers (they configure the hub, not the call)
_NOT_HEADERS = frozenset({"jsonldcontext", "ngsi-version", "ngsiversion", "kind"})
#: headers a registration may not set: the hub's own protocol headers (4.3.6.5: tenant
#: and binding-specific information are not contextSourceInfo)
_RESERVED = frozenset({"via", "ngsild-tenant", "link", "content-type", "accept", "host",
                       "content-length", "cookie", "connection", "transfer-encoding"})
#: 4.3.6.5: this value means "the header of the same name from the triggering request"
FROM_REQUEST = "urn:ngsi-ld:request"
#: never copied from the caller's request, whatever a registration says: the caller's
#: credentials stay at this hub (issue #17's trust boundary)
_NEVER_COPIED = frozenset({"authorization", "proxy-authorization", "cookie"})


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _millis(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value / 1000.0
    return None


def parse_registration(row: dict[str, Any]) -> Registration | None:
    """A stored registration (hub/store/csources.py row), or None when unusable."""
    body = row.get("body") or {}
    if isinstance(body, str):
        import orjson
        body = orjson.loads(body)
    infos = []
    for item in _as_list(body.get("information")):
        if not isinstance(item, dict):
            continue
        sels = tuple(
            EntitySel(e.get("id"), e.get("idPattern"),
                      frozenset(t for t in _as_list(e.get("type")) if isinstance(t, str)))
            for e in _as_list(item.get("entities")) if isinstance(e, dict))
        names = [*_as_list(item.get("propertyNames")), *_as_list(item.get("relationshipNames"))]
        has_names = "propertyNames" in item or "relationshipNames" in item
        infos.append(Info(sels, frozenset(n for n in names if isinstance(n, str))
                          if has_names else None))
    if not infos:
        infos.append(Info((), None))
    ops = [o for o in _as_list(body.get("operations")) if isinstance(o, str)]
    headers: list[tuple[str, str]] = []
    kind = "ld"
    for kv in _as_list(body.get("contextSourceInfo")):
        if not isinstance(kv, dict):
            continue
        key, value = kv.get("key"), kv.get("value")
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        low = key.lower()
        if low in ("ngsi-version", "ngsiversion", "kind") and value.lower() in (
                "v2", "ngsi-v2", "ngsiv2"):
            kind = "v2"
        if low in _NOT_HEADERS or low in _RESERVED or not re.fullmatch(r"[!-9;-~]+", key):
            continue
        headers.append((key, value))
    endpoint = row.get("endpoint") or body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    mgmt = body.get("management")
    management: dict[str, Any] = mgmt if isinstance(mgmt, dict) else {}
    from hub.federation.v2 import is_ngsi_v2  # the marker hub/federation/v2.py documents
    if is_ngsi_v2(body):
        kind = "v2"
    return Registration(
        id=str(row.get("id") or body.get("id")), owner=row.get("owner"),
        endpoint=endpoint, mode=str(row.get("mode") or body.get("mode") or "inclusive"),
        operations=_expand_ops(ops or ["federationOps"]), information=tuple(infos),
        headers=tuple(headers), tenant=body.get("tenant") if isinstance(
            body.get("tenant"), str) else None, kind=kind,
        local_only=management.get("localOnly") is True or any(
            v is True for k, v in body.items() if k.rsplit("/", 1)[-1] == "localOnly"),
        timeout=_millis(management.get("timeout")), cooldown=_millis(management.get("cooldown")),
        raw=body)


# -- the registrations of a tenant, cached -----------------------------------------------------

async def _load_rows(con: asyncpg.Connection, schema: str) -> list[dict[str, Any]]:
    from hub.store import csources
    return await csources.active_registrations(con, schema)


class RegistrationCache:
    """Active registrations per tenant schema, per process.

    While the LISTEN connection on ``renkei_csources`` is up (``federation_context``) a
    registration write in any process drops that tenant's entry and the next request
    reloads it; while it is down the cache is trusted for ``ttl`` seconds only (0: read
    each time), so a lost notification costs at most that."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.listening = False
        self._held: dict[str, tuple[float, list[Registration]]] = {}

    def invalidate(self, schema: str | None = None) -> None:
        if schema is None:
            self._held.clear()
        else:
            self._held.pop(schema, None)

    def notified(self, con: Any, pid: int, channel: str, payload: str) -> None:
        self.invalidate(payload or None)

    def set_listening(self, value: bool) -> None:
        self.listening = value

    async def get(self, pool: asyncpg.Pool, schema: str) -> list[Registration]:
        held = self._held.get(schema)
        now = time.monotonic()
        if held is not None and (self.listening or now - held[0] < self.ttl):
            return held[1]
        async with pool.acquire() as con:
            rows = await _load_rows(con, schema)
        regs = [r for r in (parse_registration(dict(row)) for row in rows) if r is not None]
        self._held[schema] = (now, regs)
        return regs


# -- statistics ------------------------------------------------------------------------------

@dataclass(slots=True)
class FederationStats:
    """Counters of this process (shown by /health's federation member when wired)."""

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    skipped_open: int = 0
    loops: int = 0


@dataclass(slots=True)
class Failure:
    """One source that failed, and the 6.3.17 warning code saying how: 199 no answer in
    time (or skipped by its breaker), 299 an error answer, 111 an invalid answer."""

    registration: str
    detail: str
    code: int = 199
    status: int | None = None  # the source's HTTP status, when it answered


class Federation:
    """The per-app engine state: registrations cache, breakers, sources, identity."""

    def __init__(self, app: web.Application) -> None:
        settings = app[keys.SETTINGS]
        self.app = app
        self.enabled: bool = bool(getattr(settings, "federation", True))
        self.timeout: float = float(getattr(settings, "federation_timeout", 5.0))
        #: set from the database at start-up (``federation_context``) unless configured
        self.identity: str = getattr(settings, "federation_identity", "") or ""
        self.cache = RegistrationCache(float(getattr(settings, "federation_cache_ttl", 1.0)))
        self.breakers = Breakers()
        self.stats = FederationStats()
        self.dev = settings.auth_mode == "dev"
        self._ld: Source = LdSource()
        self._v2: Source | None = None

    def source_for(self, reg: Registration) -> Source:
        if reg.kind == "v2":
            if self._v2 is None:
                from hub.federation import v2  # the NGSI v2 source (hub/federation/v2.py)
                self._v2 = v2.NgsiV2Source()
            return self._v2
        return self._ld

    # -- which registrations -------------------------------------------------------------

    def via_names_me(self, request: web.Request) -> bool:
        return any(self.identity in v for v in request.headers.getall("Via", []))

    def via(self, request: web.Request) -> str:
        mine = f"1.1 {self.identity}"
        seen = ", ".join(request.headers.getall("Via", []))
        return f"{seen}, {mine}" if seen else mine

    async def write_registrations(self, request: web.Request, schema: str,
                                  ) -> list[Registration]:
        """The registrations a write may be forwarded to: those of the writing
        organisation only (development mode: all). A write is its writer's data; another
        organisation's registration, exclusive or not, never receives it — it would
        otherwise be a way to siphon off a municipality's writes by registering its
        entity ids."""
        regs = await self.registrations(request, schema)
        if self.dev:
            return regs
        from hub.service import access
        writer = access.calling_organisation()
        return [r for r in regs if writer is not None and r.owner == writer]

    async def registrations(self, request: web.Request, schema: str) -> list[Registration]:
        """The registrations a request may follow (none when federation is off)."""
        if not self.enabled:
            return []
        regs = await self.cache.get(self.app[keys.POOL], schema)
        if not self.dev:
            regs = [r for r in regs if r.owner is not None]
        return regs

    def target(self, request: web.Request, reg: Registration, context_url: str | None,
               active: Any) -> SourceTarget:
        headers: dict[str, str] = {}
        for key, value in reg.headers:
            if value != FROM_REQUEST:
                headers[key] = value
            elif key.lower() not in _NEVER_COPIED and key in request.headers:
                headers[key] = request.headers[key]
        headers["Via"] = self.via(request)
        tenant = reg.tenant or request.headers.get("NGSILD-Tenant")
        return SourceTarget(endpoint=reg.endpoint, headers=headers, tenant=tenant,
                            timeout=reg.timeout or self.timeout, context_url=context_url,
                            active=active,
                            local_only=reg.local_only)

    # -- calling -------------------------------------------------------------------------

    async def guarded(self, reg: Registration,
                      call: Callable[[], Awaitable[T]]) -> T | Failure:
        """Run one source call under the breaker and the timeout; a failure is returned,
        logged and counted, never raised."""
        key = f"{reg.id} {reg.endpoint}"
        if not self.breakers.allow(key, reg.cooldown):
            self.stats.skipped_open += 1
            return Failure(reg.id, "source skipped: its circuit is open after repeated "
                                   "failures", 199)
        self.stats.calls += 1
        try:
            async with asyncio.timeout((reg.timeout or self.timeout) + 0.5):
                result = await call()
        except asyncio.CancelledError:  # no verdict on the source: free its probe
            self.breakers.release(key)
            raise
        except (SourceError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            detail = exc.detail if isinstance(exc, SourceError) else (
                f"no answer within {self.timeout:g} s" if isinstance(exc, TimeoutError)
                else type(exc).__name__)
            if "within" in detail:
                self.stats.timeouts += 1
            self.stats.failures += 1
            code = 199
            if isinstance(exc, SourceError) and exc.invalid:
                code = 111
            elif isinstance(exc, SourceError) and exc.status is not None:
                code = 299
            if code != 299:  # an error answer is the source's decision, not its outage
                self.breakers.failure(key)
            log.warning("context source %s (%s) failed: %s", reg.id, reg.endpoint, detail)
            return Failure(reg.id, detail, code,
                           exc.status if isinstance(exc, SourceError) else None)
        self.breakers.success(key)
        return result


_ENGINES: weakref.WeakKeyDictionary[web.Application, Federation] = (
    weakref.WeakKeyDictionary())


def federation_of(app: web.Application) -> Federation:
    """The app's engine, made on first use (no start-up cost when nothing is registered)."""
    fed = _ENGINES.get(app)
    if fed is None:
        fed = _ENGINES[app] = Federation(app)
    return fed


async def federation_context(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx``: this process's engine with its identity and registration cache.

    The identity in ``Via`` is the ``federation_identity`` setting, else the hub's
    ContextSourceIdentity (one per database, hub/store/csources.py ``hub_identity``), so
    every process of one hub recognises a loop through any of them. The cache listens on
    the channel every registration write notifies."""
    from hub.db.listen import listen_forever
    from hub.store import csources

    fed = federation_of(app)
    if not fed.identity:
        async with app[keys.POOL].acquire() as con:
            fed.identity = await csources.hub_identity(con)
    task = asyncio.create_task(listen_forever(
        app[keys.DATABASE_URL], csources.CHANNEL, fed.cache.notified,
        name="renkei-csources-listener", resync=fed.cache.invalidate,
        listening=fed.cache.set_listening))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def invalidate_registrations(app: web.Application, schema: str | None = None) -> None:
    """Forget this process's cached registrations (of ``schema``, or all): for the
    registration API to call after a change, so this process follows it at once (other
    processes within ``federation_cache_ttl``)."""
    fed = _ENGINES.get(app)
    if fed is not None:
        fed.cache.invalidate(schema)


def matching(regs: Iterable[Registration], op: str, entity_id: str | None,
             types: Iterable[str], attrs: Iterable[str] = ()) -> list[Registration]:
    types, attrs = tuple(types), tuple(attrs)
    return [r for r in regs if r.allows(op) and r.infos(entity_id, types, attrs)]


def warning_header(failures: list[Failure]) -> dict[str, str]:
    """``NGSILD-Warning`` naming each failed source (a partial answer)."""
    if not failures:
        return {}
    text = ", ".join(
        f'{f.code} {f.registration} "{f.detail.replace(chr(34), chr(39))}"' for f in failures)
    return {"NGSILD-Warning": text}
