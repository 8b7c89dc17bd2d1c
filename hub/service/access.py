"""The one enforcement point of access control: every NGSI-LD operation passes here.

``access_middleware`` authenticates the caller (``Authorization: Bearer``, RFC 6750),
refuses anonymous writes and missing scopes, applies the client's request rate and makes
the caller current for the request. Then the service layer asks this module:

- ``restrict(sel, ctx)``: one more SQL condition on a query, so ``limit``, ``offset`` and
  ``count`` are computed over what the caller may see, and attributes named in ``q``,
  ``scopeQ``, ``geoQ`` or ``attrs`` narrow the condition to data where the caller may read
  them (a query on a hidden attribute can neither match nor count hidden values);
- ``visible(ent)`` / ``require_visible(ent)``: the per-entity decision on a row (the
  second check behind the SQL), attributes removed per grant, ``ResourceNotFound`` rather
  than 403 so an invisible entity is indistinguishable from a missing one;
- ``calling_organisation()``: who writes, for the registry's ownership rule;
- ``may_see(consumer, ent, attrs)``: for notification delivery, evaluated when sent.

Decisions are the pure ``authz.policies``; state (keys, revoked tokens, grants, catalogue)
is ``AccessState``. Each decision is audited (batched, ``authz.audit``). In dev mode
(``auth_mode=dev``) everything is open and nothing is audited.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authz.model import Consumer, Decision, Resource
from authz.oauth2.rfc9068_access_tokens import InvalidToken, peek, validate_jwt
from authz.policies import Defaults, ReadScope, aggregated_grants, decide, read_scope
from hub.errors import Forbidden, NgsiLdError, TooManyRequests, Unauthorized
from hub.jsonld.active import ActiveContext
from hub.query.qlang import And, Comparison, Exists, Match, Or, QExpr
from hub.service.access_state import AccessState, DatasetInfo
from hub.service.catalogue import (
    DATASET_IRI,
    DATASET_PREFIX,
    column_dataset_sql,
    dataset_sql,
    entity_dataset,
)

__all__ = ["Caller", "access_middleware", "aggregate_condition", "authenticate",
           "caller_organisation", "calling_organisation", "current", "decide_stored",
           "entity_source", "may_see", "referenced", "require_visible", "restrict",
           "subscriber_consumer", "subscriber_record", "temporal_condition", "visible",
           "visible_rows"]

log = logging.getLogger("renkei.authz")
SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"
LOCATION_IRI = "https://uri.etsi.org/ngsi-ld/location"
PURPOSE_HEADER = "Renkei-Purpose"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Caller:
    consumer: Consumer = field(default_factory=Consumer)
    dev: bool = False
    state: AccessState | None = None
    defaults: Defaults = field(default_factory=Defaults)
    operation: str = ""


_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("renkei_caller",
                                                                        default=None)
_INTERNAL = Caller()


def current() -> Caller:
    """The caller of the running request; outside a request (background work such as
    notification matching) a caller without state, which the checks let through: that
    code decides with ``may_see`` explicitly."""
    return _CALLER.get() or _INTERNAL


def calling_organisation() -> str | None:
    """The organisation the running request acts for (None: anonymous or dev without a
    token)."""
    return current().consumer.organisation


async def caller_organisation(request: web.Request) -> str | None:
    """The registry's identity plug-in (``app[keys.CALLER_ORGANISATION]``): who writes.

    In dev mode None, so the registry applies no owner check; otherwise the organisation
    of the validated token (the middleware refused anonymous writes already).
    """
    caller = current()
    return None if caller.dev else caller.consumer.organisation


# -- authentication -----------------------------------------------------------------

async def _consumer(request: web.Request, state: AccessState, issuer: str, audience: str,
                    external: Any) -> Consumer:
    header = request.headers.get("Authorization")
    if header is None:
        return Consumer()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("use Authorization: Bearer <token>", error="invalid_request")
    cached = state.tokens.get(token)
    now = datetime.now(UTC).timestamp()
    try:
        if cached is not None and cached[1] > now:
            claims = cached[0]
        else:
            claims = await _validate(token, state, issuer, audience, external)
            if len(state.tokens) > 10_000:
                state.tokens.clear()
            state.tokens[token] = (claims, float(claims["exp"]))
        if claims["jti"] in state.revoked:
            raise InvalidToken("the token has been revoked")
    except InvalidToken as exc:
        raise Unauthorized(str(exc), error="invalid_token") from None
    purpose = request.headers.get(PURPOSE_HEADER) or claims.get("purpose")
    return Consumer(organisation=claims["organisation"], client_id=claims.get("client_id"),
                    subject=str(claims.get("sub")), scopes=frozenset(
                        str(claims.get("scope", "")).split()),
                    purpose=purpose, issuer=claims.get("iss"))


async def _validate(token: str, state: AccessState, issuer: str, audience: str,
                    external: Any) -> dict[str, Any]:
    header, unverified = peek(token)
    iss = unverified.get("iss")
    if iss == issuer:
        if state.keyset is None:
            raise InvalidToken("no signing keys")
        claims = validate_jwt(token, state.keyset, issuer=issuer, audience=audience)
        if not isinstance(claims.get("organisation"), str) or "client_id" not in claims:
            raise InvalidToken("the token names no organisation or client")
        if not await state.client_exists(str(claims["client_id"])):
            raise InvalidToken("the token's client no longer exists")
        return claims
    ext = external.get(iss) if external is not None else None
    if ext is None:
        raise InvalidToken("the token's issuer is not accepted here")
    claims = await external.validate(token, header, ext)
    claims["organisation"] = ext.organisation(claims)
    if state.organisations is not None and claims["organisation"] not in state.organisations:
        raise InvalidToken(f"organisation {claims['organisation']} is not registered")
    claims.setdefault("client_id", claims.get("azp") or claims.get("sub"))
    if ext.scopes is not None:
        claims["scope"] = " ".join(ext.scopes)
    return claims


async def authenticate(request: web.Request, state: AccessState, settings: Any,
                       external: Any) -> Consumer:
    """The caller of ``request`` from its bearer token (anonymous without one); 401
    ``Unauthorized`` with a ``WWW-Authenticate`` challenge for a token that fails."""
    from hub.service.oauth import audience_of, issuer_of

    return await _consumer(request, state, issuer_of(settings), audience_of(settings),
                           external)


def classify(method: str, path: str) -> str | None:
    """The action an HTTP operation needs; None for what needs no token here (reads
    outside NGSI-LD, and the OAuth and management endpoints, which authenticate
    themselves). Any other write — the registry's management API included — needs a
    token: nothing is writable anonymously."""
    if path.startswith(("/oauth2/", "/authz/", "/.well-known/")):
        return None
    if not path.startswith("/ngsi-ld/"):
        return None if method in ("GET", "HEAD", "OPTIONS") else "manage"
    if "/subscriptions" in path:
        return "subscribe"
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if method == "POST" and path.rstrip("/").endswith("/entityOperations/query"):
        return "read"
    return "write"


def _rate_limit(caller: Caller, state: AccessState, default: int) -> None:
    c = caller.consumer
    if c.client_id is None:
        return
    limits = [x for x in (state.clients.get(c.client_id),
                          *(g.rate_per_minute for g in state.grants_by_org.get(
                              c.organisation or "", ()))) if x]
    wait = state.hit(c.client_id, min(limits) if limits else default)
    if wait is not None:
        raise TooManyRequests(f"client {c.client_id} is over its request rate",
                              retry_after=wait)


@functools.lru_cache(maxsize=8)
def _defaults(prefecture: str, municipality: str) -> Defaults:
    return Defaults(prefecture, municipality)


def access_middleware(state_key: Any, settings_key: Any, external_key: Any) -> Any:
    """The middleware; keys are passed in so this module does not import ``hub.keys``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        action = classify(request.method, request.path)
        if action is None:
            return await handler(request)
        settings = request.app[settings_key]
        state: AccessState = request.app[state_key]
        dev = settings.auth_mode == "dev"
        consumer = await authenticate(request, state, settings, request.app.get(external_key))
        caller = Caller(consumer, dev, state, _defaults(settings.authz_prefecture_default,
                                                       settings.authz_municipality_default),
                        f"{request.method} {request.path}")
        if not dev:
            if consumer.anonymous and action != "read":
                raise Unauthorized("this operation needs an access token")
            if not consumer.anonymous and action not in consumer.scopes:
                _audit(caller, None, False, "scope", target=request.path)
                raise Forbidden(f"the token has no {action} scope")
            _rate_limit(caller, state, settings.default_rate_per_minute)
            if action == "subscribe":
                await check_subscription(request, caller)
        token = _CALLER.set(caller)
        try:
            return await handler(request)
        finally:
            _CALLER.reset(token)

    return middleware


# -- deletes ------------------------------------------------------------------------

async def refuse_deletes(con: Any, schema: str, ids: list[str]) -> dict[str, NgsiLdError]:
    """The entities of ``ids`` the caller may not delete, with the error for each: not
    found when it may not even see it, Forbidden when it sees but does not own it.
    (Creates and updates are settled by the registry's write guard; deletes change no
    ownership, so they are checked here.)"""
    caller = current()
    if caller.dev or caller.state is None or not ids:
        return {}
    from hub.errors import ResourceNotFound
    from hub.store import entities as store

    out: dict[str, NgsiLdError] = {}
    for eid, ent in (await store.fetch_many(con, schema, ids, for_update=True)).items():
        decision = decide_entity(caller.consumer, ent, "write", caller.state, caller.defaults)
        _audit(caller, ent, decision.allowed, decision.rule)
        if not decision.allowed:
            out[eid] = (ResourceNotFound(f"entity {eid} not found")
                        if visible(ent, audit=False) is None
                        else Forbidden(f"only the owner may delete {eid}"))
    return out


# -- subscriptions ------------------------------------------------------------------

def _subscribable(scope: ReadScope, datasets: dict[str, DatasetInfo], type_iri: str) -> bool:
    for src in _sources(scope, datasets, "e"):
        if src.type_iri is not None:
            if src.type_iri == type_iri:
                return True
        elif any(not datasets[d].entity_types or type_iri in datasets[d].entity_types
                 for d in src.datasets if d in datasets):
            return True
    return False


async def check_subscription(request: web.Request, caller: Caller) -> None:
    """Creating or changing a subscription: every entity type it names must be one the
    caller may receive (``subscribe``) from some dataset; otherwise 403 and nothing stored.
    What it may see of each entity is decided again when each notification is sent."""
    if caller.dev or caller.state is None or request.method not in ("POST", "PATCH"):
        return
    from hub.api.common import read_json, request_context

    body, media = await read_json(request, merge_patch=request.method == "PATCH")
    if not isinstance(body, dict) or not isinstance(body.get("entities"), list):
        return  # validated by the subscription API itself
    rc = await request_context(request, body, media)
    scope = _scope(caller, "subscribe")
    for sel in body["entities"]:
        t = sel.get("type") if isinstance(sel, dict) else None
        if isinstance(t, str) and t and not _subscribable(scope, caller.state.datasets,
                                                          rc.active.expand(t)):
            _audit(caller, None, False, "subscribe-type", target=t)
            raise Forbidden(f"you may not subscribe to entities of type {t}")


# -- reads --------------------------------------------------------------------------

def referenced(q: QExpr | None, expand: Callable[[str], str]) -> set[str]:
    """The attributes a ``q`` expression reads (so access control can require them)."""
    if q is None:
        return set()
    if isinstance(q, (And, Or)):
        out: set[str] = set()
        for item in q.items:
            out |= referenced(item, expand)
        return out
    if isinstance(q, (Comparison, Match, Exists)):
        return set() if q.path.system else {expand(q.path.attr)}
    return set()


def _order_attrs(order_by: str | None, expand: Callable[[str], str]) -> set[str]:
    """Ordering by an attribute reveals its values too: it counts as a reference."""
    out: set[str] = set()
    for item in (order_by or "").split(","):
        name = item.partition(";")[0].strip().split(".", 1)[0].split("[", 1)[0]
        if name and name not in ("id", "type", "createdAt", "modifiedAt"):
            out.add(expand(name))
    return out


def _scope(caller: Caller, action: str) -> ReadScope:
    assert caller.state is not None
    grants = caller.state.grants_by_org.get(caller.consumer.organisation or "", [])
    return read_scope(caller.consumer, action, grants=grants, defaults=caller.defaults,
                      now=datetime.now(UTC))


def _allows(attrs: frozenset[str] | None, wanted: set[str]) -> bool:
    return attrs is None or wanted <= attrs


@dataclass(frozen=True, slots=True)
class Source:
    """One part of what a consumer may read: datasets (whole, or only ``type_iri`` in
    them), the attributes readable there (None = all), and its SQL (placeholders ``{}``)."""

    sql: str
    params: list[Any]
    attrs: frozenset[str] | None
    datasets: tuple[str, ...]
    type_iri: str | None = None


def _sources(scope: ReadScope, datasets: dict[str, DatasetInfo],
             alias: str, dataset_column: str | None = None) -> list[Source]:
    """What ``scope`` may read as conditions on the row ``alias``; whole datasets first.

    The row's dataset is its ``refDataset`` stamp, or for tables that keep the owning
    dataset in a column of their own (the temporal representation), ``dataset_column``.
    """
    catch_all = _catch_all(datasets)
    if dataset_column is None:
        ds = dataset_sql(alias, catch_all)
    else:
        ds = column_dataset_sql(f"{alias}.{dataset_column}", catch_all)
    whole = {d.id for d in datasets.values()
             if d.open_data or d.owner == scope.own_org
             or (scope.default_read and not d.personal_data)}
    whole |= {d for d, attrs in scope.datasets.items() if attrs is None}
    out: list[Source] = []
    if whole:
        out.append(Source(f"{ds} = ANY({{}}::text[])", [sorted(whole)], None,
                          tuple(sorted(whole))))
    for d, attrs in sorted(scope.datasets.items()):
        if d not in whole:
            out.append(Source(f"{ds} = {{}}", [d], attrs, (d,)))
    for (owner, type_iri), attrs in sorted(scope.owner_types.items()):
        typed = _typed_source(ds, alias, datasets, owner, type_iri, attrs)
        if typed is not None:
            out.append(typed)
    return out


def _typed_source(ds: str, alias: str, datasets: dict[str, DatasetInfo], owner: str,
                  type_iri: str, attrs: frozenset[str] | None) -> Source | None:
    """An owner's entities of one type IRI (None when the owner has no dataset)."""
    owned = sorted(d.id for d in datasets.values() if d.owner == owner)
    if not owned:
        return None
    return Source(f"({ds} = ANY({{}}::text[]) AND {alias}.types @> ARRAY[{{}}::text])",
                  [owned, type_iri], attrs, tuple(owned), type_iri)


def _aggregated_sources(caller: Caller, alias: str) -> list[tuple[Source, int]]:
    """What the caller may see only aggregated, each with its minimum group size."""
    assert caller.state is not None
    datasets = caller.state.datasets
    ds = dataset_sql(alias, _catch_all(datasets))
    grants = aggregated_grants(caller.consumer, "read", now=datetime.now(UTC),
                               grants=caller.state.grants_by_org.get(
                                   caller.consumer.organisation or "", []))
    out: list[tuple[Source, int]] = []
    for g in grants:
        attrs = frozenset(g.attributes) if g.attributes is not None else None
        k = max(g.min_group_size or 2, 2)
        if g.dataset is not None:
            out.append((Source(f"{ds} = {{}}", [g.dataset], attrs, (g.dataset,)), k))
        elif g.entity_type is not None:
            typed = _typed_source(ds, alias, datasets, g.owner_org, g.entity_type, attrs)
            if typed is not None:
                out.append((typed, k))
    return out


def aggregate_condition(wanted: set[str]) -> tuple[tuple[str, list[Any]] | None, int | None]:
    """For an aggregate query (hub/api/aggregates.py) that groups, measures or filters
    on ``wanted``: the SQL condition (placeholders ``{}``; None when unrestricted) over
    what the caller may read raw or only aggregated, and the minimum group size the
    answer must respect (None: no aggregated-only data takes part). When both kinds take
    part, the largest minimum applies to every group, since a group may mix them."""
    caller = current()
    if caller.dev or caller.state is None:
        return None, None
    raw = [s for s in _sources(_scope(caller, "read"), caller.state.datasets, "e")
           if _allows(s.attrs, wanted)]
    agg = [(s, k) for s, k in _aggregated_sources(caller, "e") if _allows(s.attrs, wanted)]
    parts = [s.sql for s in raw] + [s.sql for s, _ in agg]
    params = [p for s in raw for p in s.params] + [p for s, _ in agg for p in s.params]
    k = max((k for _, k in agg), default=None)
    _audit(caller, None, bool(parts), "aggregate" if agg else "filter",
           target=f"aggregate, minimum group {k}" if k else "aggregate")
    return ((_estimated(" OR ".join(parts)) if parts else "FALSE"), params), k


def _catch_all(datasets: dict[str, DatasetInfo]) -> str | None:
    return next((d.id for d in datasets.values() if d.catch_all), None)


def access_condition(scope: ReadScope, datasets: dict[str, DatasetInfo],
                     wanted: set[str], alias: str = "e",
                     dataset_column: str | None = None) -> tuple[str, list[Any]]:
    """The SQL (placeholders ``{}``) selecting what ``scope`` may read, where every
    attribute in ``wanted`` is readable."""
    parts, params = [], []
    for src in _sources(scope, datasets, alias, dataset_column):
        if _allows(src.attrs, wanted):
            parts.append(src.sql)
            params += src.params
    return (_estimated(" OR ".join(parts)) if parts else "FALSE"), params


def _estimated(condition: str) -> str:
    """``coalesce(condition, false)``: the same rows, but PostgreSQL, which has no
    statistics on the dataset expression, estimates it at 0.5 instead of 0.005 — measured
    on a type+q query with LIMIT 20 (bench/authz_overhead.py) the 0.005 guess turned an
    index-ordered merge join (0.16 ms) into a scan-and-sort (11 ms)."""
    return f"coalesce({condition}, false)"


def _numbered(sql: str, values: list[Any], params: list[Any]) -> str:
    numbers = []
    for v in values:
        params.append(v)
        numbers.append(f"${len(params)}")
    return sql.format(*numbers)


def entity_source(schema: str) -> tuple[str, list[Any]] | None:
    """For /types and /attributes: the entities table as the caller may see it (rows and
    attribute keys), as a subquery with parameters from ``$1``; None when unrestricted."""
    caller = current()
    if caller.dev or caller.state is None:
        return None
    params: list[Any] = []
    conds, whens = [], []
    for src in _sources(_scope(caller, "read"), caller.state.datasets, "x"):
        cond = _numbered(src.sql, src.params, params)
        conds.append(cond)
        if src.attrs is None:
            whens.append(f"WHEN {cond} THEN x.attrs")
        else:
            keys = _numbered("{}::text[]", [sorted(src.attrs)], params)
            whens.append(f"WHEN {cond} THEN (SELECT coalesce(jsonb_object_agg(k, v), '{{}}')"
                         f" FROM jsonb_each(x.attrs) AS kv(k, v) WHERE k = ANY({keys}))")
    if not conds:
        return f"(SELECT * FROM {schema}.entities WHERE FALSE)", []
    return (f"(SELECT x.pk, x.id, x.types, x.scopes, CASE {' '.join(whens)} END AS attrs"
            f" FROM {schema}.entities x WHERE {' OR '.join(conds)})", params)


def _readable_somewhere(scope: ReadScope, datasets: dict[str, DatasetInfo],
                        attr: str) -> bool:
    if any(d.open_data or d.owner == scope.own_org
           or (scope.default_read and not d.personal_data) for d in datasets.values()):
        return True
    return any(_allows(a, {attr}) for a in (*scope.datasets.values(),
                                            *scope.owner_types.values()))


def restrict(sel: Any, ctx: ActiveContext, action: str = "read") -> None:
    """Add the caller's access condition to a ``Selection`` (no-op in dev mode).

    ``action`` is ``write`` for purge, so it only ever touches the caller's own data.
    """
    caller = current()
    if caller.dev or caller.state is None:
        return
    if action == "write":
        datasets = caller.state.datasets
        own = sorted(d.id for d in datasets.values()
                     if caller.consumer.organisation and d.owner == caller.consumer.organisation)
        sel.access = (_estimated(f"{dataset_sql('e', _catch_all(datasets))}"
                                 " = ANY({}::text[])"), [own])
        return
    wanted = set(sel.attrs) | referenced(sel.q, ctx.expand) | _order_attrs(sel.order_by,
                                                                             ctx.expand)
    if sel.scope_q is not None:
        wanted.add(SCOPE_IRI)
    if sel.geo is not None:
        wanted.add(ctx.expand(sel.geo.geoproperty) if sel.geo.geoproperty else LOCATION_IRI)
    sel.access = _read_condition(caller, wanted, ctx, action, "e", None)


def _read_condition(caller: Caller, wanted: set[str], ctx: ActiveContext, action: str,
                    alias: str, dataset_column: str | None) -> tuple[str, list[Any]]:
    """The caller's read condition on ``alias``; 403 when ``wanted`` names an attribute
    the caller may read nowhere (so a query cannot probe it)."""
    assert caller.state is not None
    datasets = caller.state.datasets
    scope = _scope(caller, action)
    hidden = sorted(a for a in wanted if not _readable_somewhere(scope, datasets, a))
    if hidden:
        _audit(caller, None, False, "hidden-attribute", target=",".join(hidden))
        raise Forbidden("the query refers to attributes you may not read: "
                        + ", ".join(ctx.compact(a) for a in hidden))
    return access_condition(scope, datasets, wanted, alias, dataset_column)


def temporal_condition(attrs: set[str], ctx: ActiveContext) -> tuple[str, list[Any]] | None:
    """The read condition for a temporal query, on ``temporal_entities`` as ``t`` (which
    keeps the owning dataset in its ``dataset`` column); None when unrestricted."""
    caller = current()
    if caller.dev or caller.state is None:
        return None
    return _read_condition(caller, attrs, ctx, "read", "t", "dataset")


def decide_stored(entity_id: str, types: list[str], dataset: str | None,
                  action: str = "read") -> Decision:
    """The audited decision on an entity known by id, types and owning dataset (the
    temporal representation, which stores no provenance attributes)."""
    caller = current()
    if caller.dev or caller.state is None:
        return Decision(True, "dev")
    ent = {"id": entity_id, "types": types,
           "attrs": {} if dataset is None else {DATASET_IRI: [{"object": DATASET_PREFIX
                                                                 + dataset}]}}
    decision = decide_entity(caller.consumer, ent, action, caller.state, caller.defaults)
    _audit(caller, ent, decision.allowed, decision.rule, grant_id=decision.grant_id)
    return decision


def _resource(ent: dict[str, Any], datasets: dict[str, DatasetInfo]) -> Resource:
    ds = entity_dataset(ent, _catch_all(datasets))
    info = datasets.get(ds) if ds else None
    return Resource(owner=info.owner if info else None, dataset=ds,
                    types=tuple(ent.get("types", ())),
                    open_data=bool(info and info.open_data),
                    personal_data=bool(info and info.personal_data))


def decide_entity(consumer: Consumer, ent: dict[str, Any], action: str, state: AccessState,
                  defaults: Defaults) -> Decision:
    grants = state.grants_by_org.get(consumer.organisation or "", [])
    return decide(consumer, _resource(ent, state.datasets), action, grants=grants,
                  defaults=defaults, now=datetime.now(UTC))


def _strip(ent: dict[str, Any], attrs: frozenset[str] | None) -> dict[str, Any]:
    if attrs is None:
        return ent
    return {**ent, "attrs": {k: v for k, v in ent["attrs"].items() if k in attrs}}


def visible(ent: dict[str, Any], action: str = "read",
            audit: bool = True) -> dict[str, Any] | None:
    """The entity as the caller may see it, or None."""
    caller = current()
    if caller.dev or caller.state is None:  # dev mode, or internal work outside a request
        return ent
    decision = decide_entity(caller.consumer, ent, action, caller.state, caller.defaults)
    if audit:
        _audit(caller, ent, decision.allowed, decision.rule, grant_id=decision.grant_id)
    return _strip(ent, decision.attributes) if decision.allowed else None


def require_visible(ent: dict[str, Any] | None, entity_id: str) -> dict[str, Any]:
    from hub.errors import ResourceNotFound

    shown = visible(ent) if ent is not None else None
    if shown is None:
        raise ResourceNotFound(f"entity {entity_id} not found")
    return shown


def visible_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a query (already filtered in SQL): attributes stripped, one audit row per
    dataset touched rather than per entity."""
    caller = current()
    if caller.dev:
        return rows
    if caller.state is None:
        return rows
    # one decision per (dataset, types): a page holds few distinct ones
    decided: dict[tuple[str | None, tuple[str, ...]], Decision] = {}
    out = []
    for r in rows:
        key = (entity_dataset(r, caller.state.catch_all), tuple(r.get("types", ())))
        d = decided.get(key)
        if d is None:
            d = decided[key] = decide_entity(caller.consumer, r, "read", caller.state,
                                             caller.defaults)
        if d.allowed:
            out.append(_strip(r, d.attributes))
    if out:
        per = Counter(entity_dataset(r, caller.state.catch_all) for r in out)
        for ds, n in per.items():
            info = caller.state.datasets.get(ds or "")
            _audit(caller, None, True, "filter", target=f"{n} entities",
                   owner=info.owner if info else None, dataset=ds)
    return out


def may_see(consumer: Consumer, ent: dict[str, Any], attrs: set[str] | None,
            state: AccessState, defaults: Defaults = Defaults(),
            dev: bool = False) -> dict[str, Any] | None:
    """For notification delivery, evaluated when a notification is sent: the entity as
    the subscriber may see it now (attributes stripped to ``attrs`` ∩ granted), or None
    when it may not see it or none of the notified attributes."""
    if dev:
        return ent
    decision = decide_entity(consumer, ent, "subscribe", state, defaults)
    caller = Caller(consumer, False, state, defaults, "notify")
    _audit(caller, ent, decision.allowed, decision.rule, grant_id=decision.grant_id)
    if not decision.allowed:
        return None
    shown = _strip(ent, decision.attributes)
    if attrs is not None and not (set(shown["attrs"]) & attrs):
        return None
    return shown


def subscriber_record() -> dict[str, Any] | None:
    """Who is creating a subscription, to store with it (None in dev mode or for internal
    work): notification delivery later rebuilds the consumer with ``subscriber_consumer``
    and asks ``may_see`` at send time."""
    caller = current()
    if caller.dev or caller.state is None or caller.consumer.anonymous:
        return None
    c = caller.consumer
    return {"organisation": c.organisation, "client_id": c.client_id, "subject": c.subject,
            "scopes": sorted(c.scopes), "purpose": c.purpose}


def subscriber_consumer(record: dict[str, Any]) -> Consumer:
    return Consumer(organisation=record.get("organisation"), client_id=record.get("client_id"),
                    subject=record.get("subject"), scopes=frozenset(record.get("scopes", ())),
                    purpose=record.get("purpose"))


# -- audit --------------------------------------------------------------------------

def _audit(caller: Caller, ent: dict[str, Any] | None, allowed: bool, rule: str, *,
           target: str | None = None, owner: str | None = None, dataset: str | None = None,
           grant_id: str | None = None) -> None:
    state = caller.state
    if state is None or caller.dev:
        return
    if ent is not None:
        res = _resource(ent, state.datasets)
        owner, dataset, target = res.owner, res.dataset, ent.get("id")
    c = caller.consumer
    state.record((datetime.now(UTC), c.subject, c.client_id, c.organisation, caller.operation,
                  target, owner, dataset, allowed, rule, grant_id, c.purpose))
