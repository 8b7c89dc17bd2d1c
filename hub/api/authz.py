"""The access-control management API (JSON under ``/authz/v1``): clients, grants and
their approval, the audit log, signing-key rotation (docs/access-control.md).

Every call needs a token with the ``manage`` scope; an organisation manages its own
clients, requests grants as consumer, decides grants on its data as owner and reads the
audit of its own datasets. The platform operator — the organisations configured in
``operator_organisations``, never inferred from the shape of a registry id — may manage
clients of any organisation, see every grant and audit row, rotate the signing keys, and
give a client or grant a rate above ``max_rate_per_minute``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from authz.model import Consumer
from authz.repo import audit as audit_repo
from authz.repo import clients as clients_repo
from authz.repo import grants as grants_repo
from authz.requests import client_from, grant_from
from hub import keys
from hub.api.bodies import ClientBody, DecisionBody, GrantBody, RotateBody, checked_body
from hub.api.common import dumps
from hub.errors import BadRequestData, Forbidden, InvalidRequest, ResourceNotFound, Unauthorized
from hub.service import admin
from hub.service.access import authenticate

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/authz/v1"


async def _manager(request: web.Request) -> Consumer:
    consumer = await authenticate(request, request.app[keys.ACCESS],
                                  request.app[keys.SETTINGS], request.app.get(keys.EXTERNAL))
    if consumer.anonymous:
        raise Unauthorized("the management API needs an access token")
    if "manage" not in consumer.scopes:
        raise Forbidden("the token has no manage scope")
    return consumer


def _operator(request: web.Request, c: Consumer) -> bool:
    """The configured platform operator (``operator_organisations``)."""
    return admin.is_operator(request.app[keys.SETTINGS], c.organisation)


def _ceiling(request: web.Request, c: Consumer) -> int | None:
    """The highest rate this caller may give: none for the operator."""
    return None if _operator(request, c) else int(
        request.app[keys.SETTINGS].max_rate_per_minute)


async def _body(request: web.Request, model: type[BaseModel],
                domain: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """The JSON object of the request, validated by ``model`` (hub/api/bodies.py, whence
    the OpenAPI document); ``domain`` gives the domain parser's message precedence."""
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object")
    checked_body(model, body, None if domain is None else (lambda: domain(body)))
    return body


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


@routes.post(BASE + "/clients")
async def create_client(request: web.Request) -> web.Response:
    me = await _manager(request)
    body = await _body(request, ClientBody,
                       lambda b: client_from(b, str(me.organisation), "-", None))
    org = body.get("organisation", me.organisation)
    if org != me.organisation and not _operator(request, me):
        raise Forbidden("only the platform operator creates clients for other organisations")
    async with request.app[keys.POOL].acquire() as con:
        client, secret = await admin.create_client(con, body, str(org),
                                                   ceiling=_ceiling(request, me))
    return _json(admin.client_view(client, secret), 201)


@routes.get(BASE + "/clients")
async def list_clients(request: web.Request) -> web.Response:
    me = await _manager(request)
    async with request.app[keys.POOL].acquire() as con:
        found = await clients_repo.list_for(
            con, None if _operator(request, me) else me.organisation)
    return _json([admin.client_view(c) for c in found])


async def _own_client(request: web.Request, me: Consumer, con: Any) -> Any:
    client = await clients_repo.get(con, request.match_info["client_id"])
    if client is None or (client.organisation != me.organisation
                           and not _operator(request, me)):
        raise ResourceNotFound(f"no client {request.match_info['client_id']}")
    return client


@routes.post(BASE + "/clients/{client_id}/rotate")
async def rotate_client(request: web.Request) -> web.Response:
    me = await _manager(request)
    body = await _body(request, RotateBody)
    async with request.app[keys.POOL].acquire() as con:
        client = await _own_client(request, me, con)
        secret = await admin.rotate_client(con, client, body.get("jwks"),
                                           revoke_tokens=body.get("revoke_tokens") is True)
    return _json(admin.client_view(client, secret))


@routes.delete(BASE + "/clients/{client_id}")
async def delete_client(request: web.Request) -> web.Response:
    me = await _manager(request)
    async with request.app[keys.POOL].acquire() as con:
        client = await _own_client(request, me, con)
        await admin.delete_client(con, client.client_id)
    return web.Response(status=204)


@routes.post(BASE + "/grants")
async def request_grant(request: web.Request) -> web.Response:
    me = await _manager(request)
    body = await _body(request, GrantBody, lambda b: grant_from(
        b, str(me.organisation), owner_of_dataset="-", personal_data=False))
    async with request.app[keys.POOL].acquire() as con:
        grant = await admin.request_grant(con, body, str(me.organisation),
                                          str(me.client_id or me.subject),
                                          ceiling=_ceiling(request, me))
    return _json(grant, 201)


@routes.get(BASE + "/grants")
async def list_grants(request: web.Request) -> web.Response:
    me = await _manager(request)
    status = request.query.get("status")
    if status is not None and status not in ("requested", "approved", "rejected", "revoked"):
        raise BadRequestData("status must be requested, approved, rejected or revoked")
    async with request.app[keys.POOL].acquire() as con:
        rows = await grants_repo.list_grants(
            con, organisation=None if _operator(request, me) else me.organisation,
            status=status)
    return _json([admin.grant_view(r) for r in rows])


async def _decide(request: web.Request, status: str) -> web.Response:
    me = await _manager(request)
    body = await _body(request, DecisionBody)
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequestData("reason must be a string")
    async with request.app[keys.POOL].acquire() as con:
        grant = await admin.set_grant_status(con, request.match_info["grant_id"], status,
                                             str(me.client_id or me.subject), reason,
                                             me.organisation)
    await request.app[keys.ACCESS].refresh()  # this process at once; others at refresh
    return _json(grant)


@routes.post(BASE + "/grants/{grant_id}/approve")
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, "approved")


@routes.post(BASE + "/grants/{grant_id}/reject")
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, "rejected")


@routes.post(BASE + "/grants/{grant_id}/revoke")
async def revoke(request: web.Request) -> web.Response:
    return await _decide(request, "revoked")


@routes.get(BASE + "/audit")
async def audit(request: web.Request) -> web.Response:
    """"Who read our data, and why": decisions about the caller's own datasets."""
    me = await _manager(request)
    q = request.query
    try:
        since = datetime.fromisoformat(q["since"].replace("Z", "+00:00")) if "since" in q \
            else None
        limit, offset = int(q.get("limit", "100")), int(q.get("offset", "0"))
    except ValueError:
        raise BadRequestData("since must be a date-time; limit and offset integers") from None
    if not 0 < limit <= 1000 or offset < 0:
        raise BadRequestData("limit must be 1..1000 and offset >= 0")
    allowed = {"true": True, "false": False}.get(q.get("allowed", ""))
    await request.app[keys.ACCESS].flush()
    async with request.app[keys.POOL].acquire() as con:
        rows = await audit_repo.query_for_owner(
            con, None if _operator(request, me) else me.organisation, since=since, limit=limit,
            offset=offset, allowed=allowed)
    return _json([{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                   for k, v in r.items()} for r in rows])


@routes.post(BASE + "/keys/rotate")
async def rotate_keys(request: web.Request) -> web.Response:
    me = await _manager(request)
    if not _operator(request, me):
        raise Forbidden("only the platform operator rotates the signing keys")
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.POOL].acquire() as con:
        retired = await admin.rotate_signing_key(con, settings.token_lifetime)
    await request.app[keys.ACCESS].refresh()
    return _json({"retired": retired})
