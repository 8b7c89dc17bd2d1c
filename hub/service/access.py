"""The one enforcement point of access control: every NGSI-LD operation passes here.

``access_middleware`` authenticates the caller (``Authorization: Bearer``, RFC 6750),
refuses anonymous writes and missing scopes, applies the client's request rate, checks
what a new subscription names, and makes the caller current for the request
(``hub.service.access_caller``). The service layer then asks, through this module's
re-exports, what the caller may read (``hub.service.access_reads``: ``restrict``,
``visible``, ``temporal_condition``, ``aggregate_condition``, ``may_see`` …), who writes
(``calling_organisation``, for the registry's ownership rule) and which deletes to
refuse (``refuse_deletes``).

Decisions are the pure ``authz.policies``; state (keys, revoked tokens, grants, catalogue)
is ``AccessState``. Each decision is audited (batched, ``authz.audit``). In dev mode
(``auth_mode=dev``) everything is open and nothing is audited.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authz.model import Consumer
from authz.oauth2.rfc9068_access_tokens import InvalidToken, peek, validate_jwt
from authz.policies import Defaults
from hub.errors import Forbidden, NgsiLdError, TooManyRequests, Unauthorized
from hub.service.access_caller import (
    CALLER,
    Caller,
    audit_decision,
    caller_organisation,
    calling_organisation,
    current,
    enforced,
    scope_of,
)
from hub.service.access_reads import (
    aggregate_condition,
    decide_entity,
    decide_stored,
    entity_source,
    may_see,
    ordered_by,
    referenced,
    require_visible,
    restrict,
    subscribable,
    temporal_condition,
    visible,
    visible_rows,
)
from hub.service.access_state import AccessState
from hub.service.route_policy import UNROUTED, Need, route_need

__all__ = ["Caller", "access_middleware", "aggregate_condition", "authenticate",
           "caller_organisation", "calling_organisation", "current", "decide_stored",
           "entity_source", "may_see", "ordered_by", "referenced", "refuse_deletes",
           "require_visible",
           "restrict", "subscriber_caller", "subscriber_consumer", "subscriber_record",
           "temporal_condition", "visible", "visible_rows"]

log = logging.getLogger("renkei.authz")
PURPOSE_HEADER = "Renkei-Purpose"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def classify(request: web.Request) -> Need | None:
    """What the request needs, from the one route table (``hub.service.route_policy``)
    by its *resolved* route, never by a substring of its path; None when no route
    matched (aiohttp's own 404/405 follows). A route missing from the table is refused
    here: fail closed, and the route walk test fails CI first."""
    need = route_need(request)
    if need is UNROUTED:
        return None
    if need is None:
        log.error("a route has no access policy; refused",
                  extra={"method": request.method, "path": request.path})
        raise Forbidden("this route has no access policy")
    assert isinstance(need, Need)
    return need


def _rate_limit(request: web.Request, caller: Caller, state: AccessState,
                settings: Any) -> None:
    """A client's rate (its own, else the smallest of its organisation's grants', else
    ``default_rate_per_minute``); an anonymous caller's per client address
    (``anonymous_rate_per_minute``; behind a proxy that is the proxy's address)."""
    c = caller.consumer
    if c.client_id is None:
        limit = settings.anonymous_rate_per_minute
        if not c.anonymous or limit <= 0:
            return  # an external token without client id is bounded by its issuer
        wait = state.hit(f"addr:{request.remote or '?'}", limit)
        if wait is not None:
            raise TooManyRequests("too many requests without a token from this address",
                                  retry_after=wait)
        return
    limits = [x for x in (state.clients.get(c.client_id),
                          *(g.rate_per_minute for g in state.grants_by_org.get(
                              c.organisation or "", ()))) if x]
    wait = state.hit(c.client_id, min(limits) if limits else settings.default_rate_per_minute)
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
        need = classify(request)
        if need is None or need is Need.OAUTH:
            return await handler(request)  # unrouted, or self-authenticating (RFC 6749)
        settings = request.app[settings_key]
        state: AccessState = request.app[state_key]
        dev = settings.auth_mode == "dev"
        consumer = (Consumer() if need is Need.PUBLIC else
                    await authenticate(request, state, settings, request.app.get(external_key)))
        caller = Caller(consumer, dev, state, _defaults(settings.authz_prefecture_default,
                                                       settings.authz_municipality_default),
                        f"{request.method} {request.path}")
        if not dev:
            if need is not Need.PUBLIC:
                if consumer.anonymous and need is not Need.READ:
                    raise Unauthorized("this operation needs an access token")
                if not consumer.anonymous and need.value not in consumer.scopes:
                    audit_decision(caller, None, False, "scope", target=request.path)
                    raise Forbidden(f"the token has no {need.value} scope")
            _rate_limit(request, caller, state, settings)
            if need is Need.SUBSCRIBE:
                await check_subscription(request, caller)
        token = CALLER.set(caller)
        try:
            return await handler(request)
        finally:
            CALLER.reset(token)

    return middleware


# -- deletes ------------------------------------------------------------------------

async def refuse_deletes(con: Any, schema: str, ids: list[str]) -> dict[str, NgsiLdError]:
    """The entities of ``ids`` the caller may not delete, with the error for each: not
    found when it may not even see it, Forbidden when it sees but does not own it.
    (Creates and updates are settled by the registry's write guard; deletes change no
    ownership, so they are checked here.)"""
    caller = current()
    if not ids or (state := enforced(caller)) is None:
        return {}
    from hub.errors import ResourceNotFound
    from hub.store import entities as store

    out: dict[str, NgsiLdError] = {}
    for eid, ent in (await store.fetch_many(con, schema, ids, for_update=True)).items():
        decision = decide_entity(caller.consumer, ent, "write", state, caller.defaults)
        audit_decision(caller, ent, decision.allowed, decision.rule)
        if not decision.allowed:
            out[eid] = (ResourceNotFound(f"entity {eid} not found")
                        if visible(ent, audit=False) is None
                        else Forbidden(f"only the owner may delete {eid}"))
    return out



# -- subscriptions ------------------------------------------------------------------

async def check_subscription(request: web.Request, caller: Caller) -> None:
    """Creating or changing a subscription: every entity type it names must be one the
    caller may receive (``subscribe``) from some dataset; otherwise 403 and nothing stored.
    What it may see of each entity is decided again when each notification is sent."""
    if request.method not in ("POST", "PATCH") or (state := enforced(caller)) is None:
        return
    resource = request.match_info.route.resource  # the resolved route, not the path
    if resource is None or not resource.canonical.startswith("/ngsi-ld/v1/subscriptions"):
        return  # e.g. replaying dead letters: subscribe scope, no subscription body
    from hub.api.common import read_json, request_context

    body, media = await read_json(request, merge_patch=request.method == "PATCH")
    if not isinstance(body, dict) or not isinstance(body.get("entities"), list):
        return  # validated by the subscription API itself
    rc = await request_context(request, body, media)
    scope = scope_of(caller, "subscribe")
    for sel in body["entities"]:
        t = sel.get("type") if isinstance(sel, dict) else None
        if isinstance(t, str) and t and not subscribable(scope, state.datasets,
                                                          rc.active.expand(t)):
            audit_decision(caller, None, False, "subscribe-type", target=t)
            raise Forbidden(f"you may not subscribe to entities of type {t}")



def subscriber_record() -> dict[str, Any] | None:
    """Who is creating a subscription, to store with it (None in dev mode or for internal
    work): notification delivery later rebuilds the consumer with ``subscriber_consumer``
    and asks ``may_see`` at send time."""
    caller = current()
    if enforced(caller) is None or caller.consumer.anonymous:
        return None
    c = caller.consumer
    return {"organisation": c.organisation, "client_id": c.client_id, "subject": c.subject,
            "scopes": sorted(c.scopes), "purpose": c.purpose}


def subscriber_caller(sub: dict[str, Any], state: AccessState, defaults: Defaults,
                      dev: bool) -> Caller:
    """Whose rights a subscription's notifications use: the consumer stored with it when it
    was made. One stored without a subscriber (made in development mode) is anonymous
    once access control is on: open data only."""
    if dev:
        return Caller(dev=True, operation=f"notify {sub.get('id')}")
    record = sub.get("subscriber")
    consumer = subscriber_consumer(record) if record else Consumer()
    return Caller(consumer, False, state, defaults, f"notify {sub.get('id')}")


def subscriber_consumer(record: dict[str, Any]) -> Consumer:
    return Consumer(organisation=record.get("organisation"), client_id=record.get("client_id"),
                    subject=record.get("subject"), scopes=frozenset(record.get("scopes", ())),
                    purpose=record.get("purpose"))

