"""/subscriptions and /subscriptions/{subscriptionId} (GS CIM 009 5.8, 6.10, 6.11): create,
query, retrieve, update, delete. Delivery runs in the background (hub/subscriptions/).

Also the Renkei extension ``/ngsi-ld/ex/v1/subscriptions/{subscriptionId}/deadLetters``
(and ``…/replay``): the notifications that exhausted their attempts, listed and queued
again, for the subscription's own organisation only (the same rule as the subscription)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import asyncpg
import orjson
from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.bodies import SubscriptionBody, SubscriptionPatch, checked_body
from hub.api.common import (
    JSON,
    JSONLD,
    accepted_type,
    json_response,
    read_json,
    request_context,
    tenant_schema,
)
from hub.api.params import ListParams, check_params, csv, parse_pagination
from hub.egress import EgressRefused
from hub.errors import AlreadyExists, BadRequestData, InvalidRequest, ResourceNotFound
from hub.federation.subscriptions import sync as forward_subscription
from hub.jsonld.active import ActiveContext
from hub.jsonld.remote import context_id_for
from hub.ngsild.checks import is_uri, utc_iso
from hub.service import access
from hub.store import subscriptions as store
from hub.store.contexts import put_context
from hub.store.subscriptions import DeadLetter, SubscriptionRow
from hub.subscriptions.model import (
    apply_members,
    expires,
    parse_subscription,
    prefilter_ids,
    prefilter_types,
    render_subscription,
)

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/ngsi-ld/v1"
EX = "/ngsi-ld/ex/v1"


def _sub_id(request: web.Request) -> str:
    sub_id = request.match_info["subscriptionId"]
    if not is_uri(sub_id):
        raise BadRequestData(f"subscription id {sub_id!r} is not a URI")
    return sub_id


def subscription_viewer(request: web.Request) -> str | None:
    """Whose subscriptions the caller may see and change: with access control on, those its
    own organisation made (anonymous callers: those made anonymously, i.e. none); in dev
    mode every subscription (None)."""
    if request.app[keys.SETTINGS].auth_mode == "dev":
        return None
    return access.calling_organisation() or ""


class _Subscription(Protocol):
    body: dict[str, Any]


SubRow = TypeVar("SubRow", bound=_Subscription)


def visible_subscription(request: web.Request, row: SubRow | None, sub_id: str) -> SubRow:
    """Another organisation's subscription (to entities or to registrations) is not
    found, exactly like a missing one."""
    viewer = subscription_viewer(request)
    if row is None or (viewer is not None and
                       (row.body.get("subscriber") or {}).get("organisation", "") != viewer):
        raise ResourceNotFound(f"subscription {sub_id} not found")
    return row


def check_notification_endpoint(request: web.Request, sub: dict[str, Any]) -> None:
    """The notification endpoint obeys the egress policy: refused when the subscription is
    made, not only when a notification would be sent."""
    try:
        request.app[keys.EGRESS_POLICY].check_literal(sub["notification"]["endpoint"]["uri"])
    except EgressRefused as exc:
        raise BadRequestData(str(exc)) from None


def _columns(sub: dict[str, Any]) -> dict[str, Any]:
    """What the store indexes a subscription by, derived from its stored form."""
    expires_at = expires(sub)
    active = sub.get("isActive", True) and (
        expires_at is None or expires_at > datetime.now(UTC))
    return {"types": prefilter_types(sub), "ids": prefilter_ids(sub), "active": active,
            "periodic": "timeInterval" in sub, "expires_at": expires_at}


def _status(row: SubscriptionRow) -> dict[str, Any]:
    now = datetime.now(UTC)
    if row.expires_at is not None and row.expires_at <= now:
        status = "expired"
    elif not row.body.get("isActive", True):
        status = "paused"
    else:
        status = "active"

    def iso(ts: datetime | None) -> str | None:
        return utc_iso(ts) if ts is not None else None

    return {
        "status": status,
        "createdAt": utc_iso(row.created_at),
        "modifiedAt": utc_iso(row.modified_at),
        "notification": {
            "timesSent": row.times_sent,
            "timesFailed": row.times_failed,
            "lastNotification": iso(row.last_notification),
            "lastSuccess": iso(row.last_success),
            "lastFailure": iso(row.last_failure),
            "status": row.last_status,
            # Renkei extensions (docs/subscriptions.md): notifications dropped because the
            # subscription's queue was full; `status` is "failed" from then until a success
            "timesDropped": row.times_dropped,
            "lastDropped": iso(row.last_dropped),
        },
    }


def _composite(raw: Any) -> bool:
    """A @context that is more than one URL has no URL of its own to send in a Link header."""
    return isinstance(raw, dict) or (isinstance(raw, list) and (
        len(raw) > 1 or any(not isinstance(r, str) for r in raw)))


async def _implicit_context(request: web.Request, raw: Any) -> str:
    """Keep a composite @context as an ImplicitlyCreated context (5.13) and return its URL."""
    ctx_id = context_id_for(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode())
    url = f"{request.url.origin()}{BASE}/jsonldContexts/{ctx_id}"
    await put_context(request.app[keys.POOL], ctx_id, url, "ImplicitlyCreated",
                      {"@context": raw})
    return url


def _page_links(page: ListParams, total: int, media: str) -> str | None:
    """``prev``/``next`` links of a page (6.3.13): the same query, offset moved by limit."""
    links = []
    path = f"{BASE}/subscriptions"
    if page.offset > 0:
        prev = max(page.offset - page.limit, 0)
        links.append(f'<{path}?limit={page.limit}&offset={prev}>;rel="prev";type="{media}"')
    if page.limit and page.offset + page.limit < total:
        links.append(f'<{path}?limit={page.limit}&offset={page.offset + page.limit}>;'
                     f'rel="next";type="{media}"')
    return ",".join(links) or None


@routes.post(BASE + "/subscriptions")
async def create_subscription(request: web.Request) -> web.Response:
    check_params(request.query, "create")
    body, media = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("a subscription must be a JSON object")
    rc = await request_context(request, body, media)
    checked_body(SubscriptionBody, body, lambda: parse_subscription(body, rc.active, rc.raw))
    sub = parse_subscription(body, rc.active, rc.raw)
    check_notification_endpoint(request, sub)
    subscriber = access.subscriber_record()  # whose rights its notifications follow
    if subscriber is not None:
        sub["subscriber"] = subscriber
    if "jsonldContext" in sub:  # 503 LdContextNotAvailable now rather than at each notification
        await request.app[keys.CONTEXT_CACHE].get(sub["jsonldContext"], request.app[keys.CONTEXTS])
    elif _composite(rc.raw):
        sub["jsonldContext"] = await _implicit_context(request, rc.raw)
    schema = await tenant_schema(request, create=True)
    async with tx.single(request) as con:
        created = await store.insert_subscription(con, schema, sub, now=datetime.now(UTC),
                                                  **_columns(sub))
    if not created:
        raise AlreadyExists(f"subscription {sub['id']} already exists")
    await forward_subscription(request, schema, sub["id"], sub)  # to context sources
    return web.Response(
        status=201, headers={"Location": f"{BASE}/subscriptions/{quote(sub['id'], safe=':')}"}
    )


def with_links(response: web.Response, links: str | None) -> web.Response:
    """``response`` with the page's ``prev``/``next`` links added to its Link header (after
    the @context link a JSON answer carries)."""
    if links:
        context_link = response.headers.get("Link")
        response.headers["Link"] = f"{context_link}, {links}" if context_link else links
    return response


def render_row(row: SubscriptionRow, ctx: ActiveContext, sys_attrs: bool) -> dict[str, Any]:
    """A stored subscription as the API shows it, its status (5.2.12) computed now."""
    return render_subscription(row.body, _status(row), ctx, sys_attrs=sys_attrs)


ListRows = Callable[[asyncpg.Connection, str, int, int, str | None],
                    Awaitable[list[SubscriptionRow]]]
CountRows = Callable[[asyncpg.Connection, str, str | None], Awaitable[int]]
RenderRow = Callable[[SubscriptionRow, ActiveContext, bool], dict[str, Any]]
PageLinks = Callable[[ListParams, int, str], str | None]


async def list_page(request: web.Request, rows: ListRows, count: CountRows,
                    render: RenderRow, links: PageLinks) -> web.Response:
    """One page of the subscriptions the caller may see (subscription_viewer), as both
    query operations answer it (entity subscriptions 5.8.4, registration subscriptions
    5.11.5): ``rows`` and ``count`` are the store's listing and count of the kind,
    ``render`` draws one row, ``links`` the page's prev/next links (page, total, media)."""
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    settings = request.app[keys.SETTINGS]
    options = set(csv(request.query.get("options")))
    page = parse_pagination(request.query, settings.default_limit, settings.max_limit,
                            options)
    schema = await tenant_schema(request)
    async with tx.read(request) as con:
        viewer = subscription_viewer(request)
        found = await rows(con, schema, page.limit, page.offset, viewer) if page.limit else []
        total = await count(con, schema, viewer)
    sys_attrs = "sysAttrs" in options
    data = [render(r, rc.active, sys_attrs) for r in found]
    headers = {"NGSILD-Results-Count": str(total)} if page.count else {}
    return with_links(json_response(data, rc, media, headers=headers),
                      links(page, total, media))


@routes.get(BASE + "/subscriptions")
async def query_subscriptions(request: web.Request) -> web.Response:
    check_params(request.query, "subscriptions")
    return await list_page(request, store.list_subscriptions, store.count_subscriptions,
                           render_row, _page_links)


@routes.get(BASE + "/subscriptions/{subscriptionId}")
async def retrieve_subscription(request: web.Request) -> web.Response:
    check_params(request.query, "subscription")
    sub_id = _sub_id(request)
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    schema = await tenant_schema(request)
    async with tx.read(request, snapshot=False) as con:
        row = visible_subscription(
            request, await store.fetch_subscription(con, schema, sub_id), sub_id)
    sys_attrs = "sysAttrs" in csv(request.query.get("options"))
    return json_response(render_row(row, rc.active, sys_attrs), rc, media)


@routes.patch(BASE + "/subscriptions/{subscriptionId}")
async def update_subscription(request: web.Request) -> web.Response:
    check_params(request.query, "create")
    sub_id = _sub_id(request)
    body, media = await read_json(request, merge_patch=True)
    if not isinstance(body, dict) or not body:
        raise BadRequestData("a subscription update must be a non-empty JSON object")
    rc = await request_context(request, body, media)
    if "id" in body and body["id"] != sub_id:
        raise BadRequestData("the id of a subscription cannot be changed")
    if "type" in body and body["type"] != "Subscription":
        raise BadRequestData("type must be Subscription")
    checked_body(SubscriptionPatch, body)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        row = visible_subscription(request, await store.fetch_subscription(con, schema, sub_id,
                                                                for_update=True), sub_id)
        sub = dict(row.body)
        members = {k: v for k, v in body.items() if k not in ("id", "type", "@context")}
        apply_members(sub, members, rc.active, creating=False)
        check_notification_endpoint(request, sub)
        await store.update_subscription(con, schema, sub, now=datetime.now(UTC),
                                        **_columns(sub))
    await forward_subscription(request, schema, sub_id, sub)  # to context sources
    return web.Response(status=204)


@routes.delete(BASE + "/subscriptions/{subscriptionId}")
async def delete_subscription(request: web.Request) -> web.Response:
    check_params(request.query, "create")
    sub_id = _sub_id(request)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        # no row lock before the delete: it locks notifications first, as deliveries do
        visible_subscription(request, await store.fetch_subscription(con, schema, sub_id), sub_id)
        if not await store.delete_subscription(con, schema, sub_id):
            raise ResourceNotFound(f"subscription {sub_id} not found")
    await forward_subscription(request, schema, sub_id, None)  # from context sources
    return web.Response(status=204)


def _dead_letter(sub_id: str, d: DeadLetter) -> dict[str, Any]:
    """What the owner learns of a dead letter: never its data, which access control
    decides only at send time (a replay sends it through that decision again)."""
    out: dict[str, Any] = {"id": d.id, "type": "Notification", "subscriptionId": sub_id,
                           "createdAt": utc_iso(d.created_at), "attempts": d.attempts}
    if d.last_error:
        out["lastError"] = d.last_error
    return out


@routes.get(EX + "/subscriptions/{subscriptionId}/deadLetters")
async def list_dead_letters(request: web.Request) -> web.Response:
    """The subscription's dead letters, oldest first (``limit``, ``offset``, ``count``)."""
    check_params(request.query, "subscriptions")
    sub_id = _sub_id(request)
    settings = request.app[keys.SETTINGS]
    page = parse_pagination(request.query, settings.default_limit, settings.max_limit,
                            set(csv(request.query.get("options"))))
    schema = await tenant_schema(request)
    async with tx.read(request) as con:
        visible_subscription(request, await store.fetch_subscription(con, schema, sub_id), sub_id)
        letters, total = await store.list_dead_letters(con, schema, sub_id, page.limit,
                                                       page.offset)
    headers = {"NGSILD-Results-Count": str(total)} if page.count else {}
    return json_response([_dead_letter(sub_id, d) for d in letters], None, JSON,
                         headers=headers)


@routes.post(EX + "/subscriptions/{subscriptionId}/deadLetters/replay")
async def replay_dead_letters(request: web.Request) -> web.Response:
    """Queue dead letters again: all of them, or ``{"ids": [...]}``. They keep their place,
    so they go out before anything newer still queued for the subscription."""
    check_params(request.query, "create")
    sub_id = _sub_id(request)
    ids: list[str] | None = None
    if request.body_exists and await request.read():  # an empty body replays them all
        body, _ = await read_json(request)
        if not isinstance(body, dict) or set(body) - {"ids"}:
            raise BadRequestData('the body must be {"ids": [notification ids]} or empty')
        if "ids" in body:
            raw = body["ids"]
            if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
                raise BadRequestData("ids must be an array of notification ids")
            ids = raw
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        # no row lock before the replay: it locks notifications first, as deliveries do
        visible_subscription(request, await store.fetch_subscription(con, schema, sub_id), sub_id)
        replayed = await store.replay_dead_letters(con, schema, sub_id, ids)
    return json_response({"replayed": replayed}, None, JSON)
