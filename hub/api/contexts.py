"""/jsonldContexts (GS CIM 009 5.13, 6.29-6.30): hosted and cached @context documents.

Contexts are public documents: anyone reads them. In enforcing mode each stored context
has an owner (the organisation that hosted it, or whose request first fetched it), counts
against that owner's ``context_quota``, and only the owner deletes or reloads it — anyone
else gets 403 (not 404: the context is visible to all, so this is no oracle).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from hub import keys
from hub.api.common import JSON, JSONLD, accepted_type, read_json
from hub.api.entities import BASE
from hub.api.params import check_params
from hub.errors import BadRequestData, Forbidden, InvalidRequest, ResourceNotFound
from hub.jsonld.core import CORE_CONTEXT_URL, CORE_CONTEXT_URLS, core_context_document
from hub.jsonld.remote import requesting_organisation, valid_context_document
from hub.ngsild.checks import utc_iso
from hub.store import contexts as sql

__all__ = ["routes"]

routes = web.RouteTableDef()
_KINDS = ("Hosted", "Cached", "ImplicitlyCreated")


def _iso(value: datetime | None) -> str | None:
    return utc_iso(value) if value is not None else None


def _info(row: sql.ContextRow) -> dict[str, Any]:
    info = {"URL": row["url"], "localId": row["id"], "kind": row["kind"],
            "createdAt": _iso(row["created_at"])}
    if row["kind"] != "Hosted":
        info["lastUsage"] = _iso(row["last_used"])
        info["numberOfHits"] = row["uses"]
    return info


#: when this process loaded the built-in core @context: the ``createdAt`` its details show,
#: as a broker that fetched it would show when it did
_CORE_LOADED = datetime.now(UTC)


def _core_info() -> dict[str, Any]:
    return {"URL": CORE_CONTEXT_URL, "localId": "core", "kind": "Cached",
            "createdAt": _iso(_CORE_LOADED)}


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value not in (None, "true", "false"):
        raise BadRequestData(f"{name} must be true or false")
    return value == "true"


@routes.post(BASE + "/jsonldContexts")
async def add_context(request: web.Request) -> web.Response:
    check_params(request.query, "contexts")
    body, _media = await read_json(request)
    if not valid_context_document(body):
        raise InvalidRequest("the body must be a JSON-LD document with an @context member")
    ctx_id = uuid.uuid4().hex
    path = f"{BASE}/jsonldContexts/{ctx_id}"
    url = f"{request.url.origin()}{path}"
    settings = request.app[keys.SETTINGS]
    owner = requesting_organisation()
    quota = settings.context_quota if _enforcing(request) else None
    if not await sql.put_owned_context(request.app[keys.POOL], ctx_id, url, "Hosted", body,
                                       owner, quota):
        raise Forbidden(f"organisation {owner} already stores {quota} @contexts"
                        " (context_quota); delete some first")
    return web.Response(status=201, headers={"Location": path})


def _enforcing(request: web.Request) -> bool:
    return bool(request.app[keys.SETTINGS].auth_mode != "dev")


def _check_owner(request: web.Request, row: sql.ContextRow) -> None:
    """Only the owner deletes or reloads a stored context (any caller in dev mode)."""
    if not _enforcing(request):
        return
    caller = requesting_organisation()
    if row.get("owner") is None or row["owner"] != caller:
        raise Forbidden(f"@context {row['id']} belongs to another organisation; only its"
                        " owner may delete or reload it")


@routes.get(BASE + "/jsonldContexts")
async def list_contexts(request: web.Request) -> web.Response:
    check_params(request.query, "contexts")
    kind = request.query.get("kind")
    if kind is not None and kind not in _KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(_KINDS)}")
    details = _flag(request, "details")
    await request.app[keys.CONTEXTS].flush_usage()
    rows = await sql.list_contexts(request.app[keys.POOL], kind)
    items: list[Any] = [_info(r) if details else r["url"] for r in rows]
    if kind in (None, "Cached"):
        items.insert(0, _core_info() if details else CORE_CONTEXT_URL)
    return web.Response(body=orjson.dumps(items), content_type=JSON)


async def _find(request: web.Request) -> sql.ContextRow | None:
    ident = unquote(request.match_info["contextId"])
    return await sql.get_context(request.app[keys.POOL], ctx_id=ident, url=ident)


def _is_core(request: web.Request) -> bool:
    ident = unquote(request.match_info["contextId"])
    return ident in CORE_CONTEXT_URLS or ident == "core"


@routes.get(BASE + "/jsonldContexts/{contextId:.+}")
async def serve_context(request: web.Request) -> web.Response:
    check_params(request.query, "contexts")
    details = _flag(request, "details")
    # the core context is served as JSON-LD unless only JSON is accepted; a user's
    # context as the JSON it was given (the ETSI suite's 053_01 expects application/json)
    media = accepted_type(request, (JSON, JSONLD))
    if _is_core(request):
        media = accepted_type(request, (JSONLD, JSON))
        data: Any = _core_info() if details else core_context_document()
        return web.Response(body=orjson.dumps(data), content_type=JSON if details else media,
                            headers={"Last-Modified": format_datetime(_CORE_LOADED,
                                                                      usegmt=True)})
    store = request.app[keys.CONTEXTS]
    await store.flush_usage()
    row = await _find(request)
    if row is None:
        raise ResourceNotFound(f"no @context {request.match_info['contextId']}")
    if row["kind"] != "Hosted":
        store.count_use(row["url"])  # serving a cached context is a use of it too
    if details:
        return web.Response(body=orjson.dumps(_info(row)), content_type=JSON)
    return web.Response(body=orjson.dumps(row["body"]), content_type=media)


@routes.delete(BASE + "/jsonldContexts/{contextId:.+}")
async def delete_context(request: web.Request) -> web.Response:
    check_params(request.query, "contexts")
    reload = _flag(request, "reload")
    if _is_core(request):
        if reload:  # the core context is built in: reloading it is a no-op
            return web.Response(status=204)
        raise BadRequestData("the core @context cannot be deleted")
    row = await _find(request)
    if row is None:
        if reload:
            raise BadRequestData(f"{request.match_info['contextId']} is no cached @context")
        raise ResourceNotFound(f"no @context {request.match_info['contextId']}")
    _check_owner(request, row)
    store = request.app[keys.CONTEXTS]
    pool = request.app[keys.POOL]
    if reload:
        if row["kind"] != "Cached":  # only a Cached context has a source to reload from
            raise BadRequestData(f"a {row['kind']} @context cannot be reloaded")
        doc = await store.fetch(row["url"])  # 503 LdContextNotAvailable if unreachable
        await sql.put_context(pool, row["id"], row["url"], row["kind"], doc)
    else:
        await sql.delete_context(pool, row["id"])
    store.forget_document(row["url"])  # other processes: NOTIFY renkei_contexts
    request.app[keys.CONTEXT_CACHE].forget(row["url"])
    return web.Response(status=204)
