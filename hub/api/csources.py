"""Context sources (GS CIM 009 V1.9.1): registrations ``/csourceRegistrations`` (5.9
create / update / delete, 5.10 retrieve and discovery), subscriptions to them
``/csourceSubscriptions`` (5.11) and ``/info/sourceIdentity`` (this hub as a source).

The data types live in ``hub/federation/registration.py`` and
``hub/federation/csource_subscriptions.py``, the SQL in ``hub/store/csources.py``; the
distributed operations that use the registrations are ``hub/federation/forward*.py``.

Trust (docs/access-control.md): a registration records the registering organisation as
its owner, and only the owner or an operator organisation changes or deletes it (another
organisation: 403, as for an entity it can see but does not own). A registration's
endpoint is checked against the egress policy when written, so a firm cannot register an
inside address (``http://127.0.0.1:5432``) for the hub to call. Registrations are metadata
about sources, readable by every authenticated caller; anonymous callers see none when
access control is on. Registration subscriptions follow the rules of entity
subscriptions: an organisation sees and changes only its own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import orjson
from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.common import (
    JSON,
    JSONLD,
    accepted_type,
    json_response,
    read_json,
    request_context,
    tenant_schema,
)
from hub.api.entities import BASE
from hub.api.params import ListParams, csv, parse_pagination
from hub.api.subscriptions import (
    _composite,
    _implicit_context,
    check_notification_endpoint,
    list_page,
    render_row,
    visible_subscription,
    with_links,
)
from hub.db.tenants import valid_name
from hub.egress import EgressRefused
from hub.errors import (
    AlreadyExists,
    BadRequestData,
    Forbidden,
    InvalidRequest,
    ResourceNotFound,
)
from hub.federation.csource_subscriptions import (
    apply_csource_members,
    notification,
    notifications_for_change,
    parse_csource_subscription,
    render_csource_subscription,
    subscription_matches,
)
from hub.federation.forward import invalidate_registrations
from hub.federation.registration import (
    TemporalFilter,
    entity_conflict,
    matches_query,
    merge_registration,
    parse_registration,
    registered_ids,
    registration_conflict,
    render_registration,
    stored_expiry,
)
from hub.federation.subscriptions import forget_registration
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_uri, utc_iso
from hub.query.geo import parse_geo_query
from hub.query.linear_regex import check_id_pattern
from hub.query.qlang import parse_q
from hub.query.scopeq import ScopeExpr, parse_scope_q
from hub.service import access
from hub.service.admin import is_operator
from hub.store import csources as store
from hub.store import entities as entity_store
from hub.store.subscriptions import SubscriptionRow
from hub.subscriptions.model import expires, q_text
from registry.service import may_change

__all__ = ["routes"]

routes = web.RouteTableDef()
REGS = BASE + "/csourceRegistrations"
SUBS = BASE + "/csourceSubscriptions"
_STARTED = time.monotonic()  # this process's start, for contextSourceUptime

_DISCOVERY = {"type", "id", "idPattern", "attrs", "q", "csf", "scopeQ", "georel", "geometry",
              "coordinates", "geoproperty", "timerel", "timeAt", "endTimeAt",
              "timeproperty", "limit", "offset", "count", "options", "local", "lang"}
_SELECTING = ("type", "id", "idPattern", "attrs", "q", "csf", "scopeQ", "georel",
              "timerel")


def _check_params(request: web.Request, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise InvalidRequest(f"unknown query parameters {sorted(unknown)}")


def _path_id(request: web.Request, name: str, what: str) -> str:
    value = request.match_info[name]
    if not is_uri(value):
        raise BadRequestData(f"{what} id {value!r} is not a URI")
    return value


def _changed_id(request: web.Request, name: str, what: str) -> str:
    """The id a PATCH or DELETE names in its path; those take no parameter but ``local``."""
    _check_params(request, {"local"})
    return _path_id(request, name, what)


def _dev(request: web.Request) -> bool:
    return request.app[keys.SETTINGS].auth_mode == "dev"


def _may_read(request: web.Request) -> bool:
    """Registrations name the hub's sources and their endpoints: not open data. Any
    authenticated caller reads them (with the route's read scope); anonymous callers
    see none when access control is on."""
    return _dev(request) or not access.current().consumer.anonymous


def _check_endpoint(request: web.Request, endpoint: str) -> None:
    """The egress policy decides where the hub may call (hub/egress.py); a registration
    whose endpoint it refuses is refused when written (400), not when first used."""
    try:
        request.app[keys.EGRESS_POLICY].check_literal(endpoint)
    except EgressRefused as exc:
        raise BadRequestData(f"endpoint refused by the egress policy: {exc}") from None


async def _check_owner(request: web.Request, row: store.RegistrationRow) -> None:
    """Only the registering organisation or an operator changes a registration."""
    org = await request.app[keys.CALLER_ORGANISATION](request)
    if not may_change(org, row.owner, is_operator(request.app[keys.SETTINGS], org)):
        raise Forbidden(f"only the owner of registration {row.id} may change it")


async def _check_conflicts(con: Any, schema: str, reg: dict[str, Any], *,
                           creating: bool) -> None:
    """4.3.6.3 / 5.9.2.4: a proxied registration may not overlap an exclusive one nor,
    when it is created, claim an entity that exists here (409). Proxied registrations of
    one tenant are written one at a time (a transaction-scoped advisory lock), so two
    concurrent ones cannot both pass the check. Only what the caller may see of the
    entities counts: a conflict must not reveal an entity or attribute it may not read."""
    if reg.get("mode") not in ("exclusive", "redirect"):
        return
    await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                      f"{schema}.csource_registrations")
    others = [r.body for r in await store.list_registrations(con, schema)]
    why = registration_conflict(reg, others)
    if why is None and creating and (ids := registered_ids(reg)):
        seen = {}
        for eid, ent in (await entity_store.fetch_many(con, schema, ids)).items():
            if (shown := access.visible(ent, audit=False)) is not None:
                seen[eid] = shown
        why = entity_conflict(reg, seen)
    if why is not None:
        raise AlreadyExists(why)


async def _read_patch(request: web.Request) -> tuple[Any, str]:
    """A PATCH body; one sent without any Content-Type that is not even JSON is an
    InvalidRequest (as the ETSI suite sends it), a JSON one still 415."""
    if request.body_exists and "Content-Type" not in request.headers:
        try:
            orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    return await read_json(request, merge_patch=True)


async def _sub_context(request: web.Request, sub: dict[str, Any]) -> ActiveContext:
    raw = sub.get("jsonldContext", sub.get("context"))
    return await request.app[keys.CONTEXT_CACHE].get(raw, request.app[keys.CONTEXTS])


async def _notify_change(request: web.Request, con: Any, schema: str,
                         before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Queue, in the writing transaction, what this registration change notifies (and
    announce the change to the registration caches of every process)."""
    await store.notify_registrations_changed(con, schema)
    subs = await store.live_csource_subscriptions(con, schema)
    if not subs:
        return

    async def resolve(sub: dict[str, Any]) -> ActiveContext:
        return await _sub_context(request, sub)

    await store.queue_notifications(
        con, schema, await notifications_for_change(subs, before, after, resolve))


def _location(path: str, item_id: str) -> dict[str, str]:
    return {"Location": f"{path}/{quote(item_id, safe=':')}"}


def _page_links(request: web.Request, path: str, page: ListParams, total: int
                ) -> str | None:
    """``prev``/``next`` links of a page (6.3.13): the same query, offset moved by limit,
    typed ``application/ld+json`` as the clause's examples and the ETSI suite have it."""
    media = JSONLD
    kept = [(k, v) for k, v in request.query.items() if k not in ("limit", "offset")]
    links = []

    def url(offset: int) -> str:
        return f"{path}?{urlencode([*kept, ('limit', page.limit), ('offset', offset)])}"

    if page.offset > 0:
        prev = url(max(page.offset - page.limit, 0))
        links.append(f'<{prev}>;rel="prev";type="{media}"')
    if page.limit and page.offset + page.limit < total:
        links.append(f'<{url(page.offset + page.limit)}>;rel="next";type="{media}"')
    return ",".join(links) or None


# -- registrations (5.9, 5.10) ------------------------------------------------------------

@routes.post(REGS)
async def create_registration(request: web.Request) -> web.Response:
    _check_params(request, {"local"})
    body, media = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequestData("a context source registration must be a JSON object")
    rc = await request_context(request, body, media)
    reg = parse_registration(body, rc.active)
    _check_endpoint(request, reg["endpoint"])
    owner = await request.app[keys.CALLER_ORGANISATION](request)
    schema = await tenant_schema(request, create=True)
    async with tx.write(request) as con:
        await _check_conflicts(con, schema, reg, creating=True)
        if not await store.insert_registration(con, schema, reg, owner=owner,
                                               expires_at=stored_expiry(reg),
                                               now=datetime.now(UTC)):
            raise AlreadyExists(f"registration {reg['id']} already exists")
        await _notify_change(request, con, schema, None, reg)
    invalidate_registrations(request.app, schema)  # this process at once; others by NOTIFY
    return web.Response(status=201, headers=_location(REGS, reg["id"]))


@routes.get(REGS)
async def query_registrations(request: web.Request) -> web.Response:
    """Discovery (5.10.2): the registrations matching the query, oldest first."""
    _check_params(request, _DISCOVERY)
    q = request.query
    if not any(k in q for k in _SELECTING):
        raise BadRequestData("discovery needs at least one of type, attrs, id, idPattern, "
                             "q, csf, a geo-query or a temporal query")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    ctx = rc.active
    settings = request.app[keys.SETTINGS]
    options = set(csv(q.get("options")))
    page = parse_pagination(q, settings.default_limit, settings.max_limit, options)
    ids = csv(q.get("id")) or None
    for i in ids or []:
        if not is_uri(i):
            raise BadRequestData(f"id {i!r} is not a URI")
    type_text = q.get("type", "").replace(";", ",").replace("|", ",")
    types = {ctx.expand(t) for t in csv(type_text)} or None
    id_pattern = check_id_pattern(q["idPattern"]) if "idPattern" in q else None
    selectors = None
    if types is not None or ids is not None or id_pattern is not None:
        selectors = [{"types": types, "ids": set(ids) if ids else None,
                      "idPattern": id_pattern}]
    attrs = {ctx.expand(a) for a in csv(q.get("attrs"))} or None
    q_expr = _query(q.get("q"), "q")
    csf = _query(q.get("csf"), "csf")
    geo = parse_geo_query(q.get("georel"), q.get("geometry"), q.get("coordinates"),
                          q.get("geoproperty"))
    temporal = TemporalFilter(q["timerel"], q.get("timeAt", ""), q.get("endTimeAt"),
                              q.get("timeproperty")) if "timerel" in q else None
    scope_q = _scope_query(q.get("scopeQ"))
    schema = await tenant_schema(request)
    async with tx.read(request) as con:
        rows = await store.list_registrations(con, schema) if _may_read(request) else []
    found = [r for r in rows if matches_query(
        r.body, selectors=selectors, attrs=attrs, q=q_expr, csf=csf, expand=ctx.expand,
        geo=geo, temporal=temporal, scope_q=scope_q)]
    sys_attrs = "sysAttrs" in options
    data = [_render(r, ctx, sys_attrs) for r in found[page.offset:page.offset + page.limit]]
    headers = {"NGSILD-Results-Count": str(len(found))} if page.count else {}
    return with_links(json_response(data, rc, media, headers=headers),
                      _page_links(request, REGS, page, len(found)))


def _query(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return parse_q(q_text(text))
    except InvalidRequest as exc:
        raise BadRequestData(f"{name}: {exc.detail}") from None


def _scope_query(text: str | None) -> ScopeExpr | None:
    if text is None:
        return None
    try:
        return parse_scope_q(text)
    except InvalidRequest as exc:
        raise BadRequestData(f"scopeQ: {exc.detail}") from None


def _render(row: store.RegistrationRow, ctx: ActiveContext, sys_attrs: bool
            ) -> dict[str, Any]:
    if sys_attrs:
        return render_registration(row.body, ctx, created_at=row.created_at,
                                   modified_at=row.modified_at)
    return render_registration(row.body, ctx)


async def _fetch_registration(request: web.Request, con: Any, schema: str, reg_id: str, *,
                              for_update: bool = False) -> store.RegistrationRow:
    row = await store.fetch_registration(con, schema, reg_id, for_update=for_update)
    if row is None or (row.expires_at is not None and row.expires_at <= datetime.now(UTC)) \
            or not _may_read(request):
        raise ResourceNotFound(f"registration {reg_id} not found")
    return row


async def _owned_registration(request: web.Request, con: Any, schema: str, reg_id: str
                              ) -> store.RegistrationRow:
    """The registration a PATCH or DELETE changes, locked: 404 when the caller cannot see
    it, 403 when it sees it but is neither its owner nor an operator."""
    row = await _fetch_registration(request, con, schema, reg_id, for_update=True)
    await _check_owner(request, row)
    return row


@routes.get(REGS + "/{registrationId}")
async def retrieve_registration(request: web.Request) -> web.Response:
    _check_params(request, {"options", "local", "lang"})
    reg_id = _path_id(request, "registrationId", "registration")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    schema = await tenant_schema(request)
    async with tx.read(request, snapshot=False) as con:
        row = await _fetch_registration(request, con, schema, reg_id)
    sys_attrs = "sysAttrs" in csv(request.query.get("options"))
    return json_response(_render(row, rc.active, sys_attrs), rc, media)


@routes.patch(REGS + "/{registrationId}")
async def update_registration(request: web.Request) -> web.Response:
    """5.9.3: the members given replace the stored ones (``null`` removes one)."""
    reg_id = _changed_id(request, "registrationId", "registration")
    body, media = await _read_patch(request)
    rc = await request_context(request, body, media)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        row = await _owned_registration(request, con, schema, reg_id)
        reg = merge_registration(row.body, body, rc.active)
        _check_endpoint(request, reg["endpoint"])
        await _check_conflicts(con, schema, reg, creating=False)
        await store.update_registration(con, schema, reg, expires_at=stored_expiry(reg),
                                        now=datetime.now(UTC))
        await _notify_change(request, con, schema, row.body, reg)
    invalidate_registrations(request.app, schema)
    return web.Response(status=204)


@routes.delete(REGS + "/{registrationId}")
async def delete_registration(request: web.Request) -> web.Response:
    reg_id = _changed_id(request, "registrationId", "registration")
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        row = await _owned_registration(request, con, schema, reg_id)
        await store.delete_registration(con, schema, reg_id)
        await _notify_change(request, con, schema, row.body, None)
    invalidate_registrations(request.app, schema)
    await forget_registration(request, schema, row)  # its forwarded subscriptions
    return web.Response(status=204)


# -- subscriptions to registrations (5.11) -----------------------------------------------

def _live(sub: dict[str, Any]) -> bool:
    at = expires(sub)
    return sub.get("isActive", True) and (at is None or at > datetime.now(UTC))


@routes.post(SUBS)
async def create_csource_subscription(request: web.Request) -> web.Response:
    _check_params(request, {"local"})
    body, media = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequestData("a subscription must be a JSON object")
    rc = await request_context(request, body, media)
    sub = parse_csource_subscription(body, rc.active, rc.raw)
    check_notification_endpoint(request, sub)
    subscriber = access.subscriber_record()  # whose subscription it is
    if subscriber is not None:
        sub["subscriber"] = subscriber
    if "jsonldContext" in sub:
        await _sub_context(request, sub)  # 503 LdContextNotAvailable now, not later
    elif _composite(rc.raw):
        sub["jsonldContext"] = await _implicit_context(request, rc.raw)
    schema = await tenant_schema(request, create=True)
    async with tx.write(request) as con:
        if not await store.insert_csource_subscription(con, schema, sub,
                                                       expires_at=expires(sub),
                                                       now=datetime.now(UTC)):
            raise AlreadyExists(f"subscription {sub['id']} already exists")
        if _dev(request) or subscriber is not None:
            await _notify_matching(request, con, schema, sub, None)
    return web.Response(status=201, headers=_location(SUBS, sub["id"]))


async def _notify_matching(request: web.Request, con: Any, schema: str, sub: dict[str, Any],
                           before: dict[str, Any] | None) -> None:
    """5.11.7: a new subscription is notified at once of the registrations matching it,
    an updated one of those that match now and did not before (``newlyMatching``)."""
    if not _live(sub):
        return
    ctx = await _sub_context(request, sub)
    old_ctx = await _sub_context(request, before) if before is not None else None
    regs = [r.body for r in await store.list_registrations(con, schema)
            if subscription_matches(sub, r.body, ctx) and not (
                before is not None and old_ctx is not None and _live(before)
                and subscription_matches(before, r.body, old_ctx))]
    if regs:
        await store.queue_notifications(
            con, schema, [notification(sub, regs, "newlyMatching", ctx)])


def _render_sub(row: SubscriptionRow, ctx: ActiveContext, sys_attrs: bool
                ) -> dict[str, Any]:
    return render_csource_subscription(render_row(row, ctx, sys_attrs), row.body)


async def _visible_subscription(request: web.Request, con: Any, schema: str, sub_id: str, *,
                                for_update: bool = False) -> SubscriptionRow:
    """A registration subscription the caller may see and change (its own organisation's,
    the rule of entity subscriptions); another's is not found, like a missing one."""
    return visible_subscription(request, await store.fetch_csource_subscription(
        con, schema, sub_id, for_update=for_update), sub_id)


@routes.get(SUBS)
async def query_csource_subscriptions(request: web.Request) -> web.Response:
    _check_params(request, {"limit", "offset", "count", "options", "local"})
    return await list_page(
        request, store.list_csource_subscriptions, store.count_csource_subscriptions,
        _render_sub, lambda page, total, _media: _page_links(request, SUBS, page, total))


@routes.get(SUBS + "/{subscriptionId}")
async def retrieve_csource_subscription(request: web.Request) -> web.Response:
    _check_params(request, {"options", "local"})
    sub_id = _path_id(request, "subscriptionId", "subscription")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    schema = await tenant_schema(request)
    async with tx.read(request, snapshot=False) as con:
        row = await _visible_subscription(request, con, schema, sub_id)
    return json_response(_render_sub(row, rc.active,
                                     "sysAttrs" in csv(request.query.get("options"))),
                         rc, media)


@routes.patch(SUBS + "/{subscriptionId}")
async def update_csource_subscription(request: web.Request) -> web.Response:
    sub_id = _changed_id(request, "subscriptionId", "subscription")
    body, media = await _read_patch(request)
    if not isinstance(body, dict) or not body:
        raise BadRequestData("a subscription update must be a non-empty JSON object")
    rc = await request_context(request, body, media)
    if "id" in body and body["id"] != sub_id:
        raise BadRequestData("the id of a subscription cannot be changed")
    if "type" in body and body["type"] != "Subscription":
        raise BadRequestData("type must be Subscription")
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        row = await _visible_subscription(request, con, schema, sub_id, for_update=True)
        sub = dict(row.body)
        members = {k: v for k, v in body.items() if k not in ("id", "type", "@context")}
        apply_csource_members(sub, members, rc.active)
        check_notification_endpoint(request, sub)
        await store.update_csource_subscription(con, schema, sub, expires_at=expires(sub),
                                                now=datetime.now(UTC))
        await _notify_matching(request, con, schema, sub, row.body)
    return web.Response(status=204)


@routes.delete(SUBS + "/{subscriptionId}")
async def delete_csource_subscription(request: web.Request) -> web.Response:
    sub_id = _changed_id(request, "subscriptionId", "subscription")
    schema = await tenant_schema(request)
    for attempt in range(3):
        try:
            async with tx.write(request) as con:
                await _visible_subscription(request, con, schema, sub_id)
                if not await store.delete_csource_subscription(con, schema, sub_id):
                    raise ResourceNotFound(f"subscription {sub_id} not found")
            break
        except asyncpg.DeadlockDetectedError:
            # a delivery being settled locks the subscription and its notifications
            # in the other order; the delete is simply tried again
            if attempt == 2:
                raise
    return web.Response(status=204)


# -- /info/sourceIdentity ------------------------------------------------------------------

def _duration(seconds: float) -> str:
    """An ISO 8601 duration (``P1DT2H3M4S``)."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"P{days}D" if days else "P") + f"T{hours}H{minutes}M{secs}S"


@routes.get(BASE + "/info/sourceIdentity")
async def source_identity(request: web.Request) -> web.Response:
    """ContextSourceIdentity (5.2.40, 5.15.1): which hub, and which tenant of it, this is.
    The id is the same in every process on one database and survives restarts;
    ``contextSourceAlias`` (mandatory; what loop detection compares) is the
    ``source_alias`` setting, or that id, plus the tenant for a non-default tenant, so
    two tenants of one hub never share an alias."""
    _check_params(request, {"local"})
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    tenant = request.headers.get("NGSILD-Tenant") or None
    if tenant is not None and not valid_name(tenant):
        raise BadRequestData(f"invalid tenant name {tenant!r}")
    async with request.app[keys.POOL].acquire() as con:
        ident = await store.hub_identity(con)
    settings = request.app[keys.SETTINGS]
    alias = getattr(settings, "source_alias", "") or ident
    body: dict[str, Any] = {
        "id": ident,
        "type": "ContextSourceIdentity",
        "contextSourceAlias": f"{alias}:tenant:{tenant}" if tenant else alias,
        "contextSourceUptime": _duration(time.monotonic() - _STARTED),
        "contextSourceTimeAt": utc_iso(datetime.now(UTC)),
    }
    return json_response(body, rc, media)
