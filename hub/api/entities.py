"""/entities and /entities/{entityId} (GS CIM 009 6.4, 6.5): create, retrieve, query,
replace, merge, delete, purge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.common import (
    GEOJSON,
    JSON,
    JSONLD,
    RequestContext,
    accepted_type,
    json_response,
    read_json,
    request_context,
    tenant_schema,
)
from hub.api.params import (
    ListParams,
    RenderParams,
    check_params,
    csv,
    parse_pagination,
    parse_render,
)
from hub.errors import BadRequestData, InvalidRequest, NgsiLdError, ResourceNotFound
from hub.federation import reads as federation
from hub.federation import writes
from hub.ngsild.checks import is_uri, now_iso
from hub.ngsild.entity import parse_entity
from hub.ngsild.render import RenderOptions, render_entity, render_flat, render_geojson
from hub.service import entities as svc
from hub.service import ownership, temporal_writes
from hub.service.linked import load_linked
from hub.service.selection import Selection, selection_from_query
from hub.store import entities as store

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/ngsi-ld/v1"


def entity_id(request: web.Request) -> str:
    eid = request.match_info["entityId"]
    if not is_uri(eid):
        raise BadRequestData(f"entity id {eid!r} is not a URI")
    return eid


LocalWrite = Callable[[], Awaitable[web.Response | None]]
GuardedWrite = Callable[[ownership.WriteGuard], Awaitable[web.Response | None]]


async def with_sources(fwd: writes.WriteOutcome, eid: str, write: LocalWrite | None,
                       done: web.Response | None = None) -> web.Response:
    """The answer to a write the context sources had their part in (``fwd``, from
    writes.forward_write or forward_attribute) once the hub did its own (``write``; None
    when the sources took all of it): 207 when a part failed here or at a source
    (writes.partial; a failure here with no source asked is raised as it is), else what
    ``write`` answered, else ``done`` (204 when not given)."""
    ok = done or web.Response(status=204)
    if write is None:
        return writes.partial(fwd, eid) or ok
    try:
        answer = await write()
    except NgsiLdError as err:
        return writes.partial(fwd, eid, err) or ok
    return writes.partial(fwd, eid) or answer or ok


async def guarded_with_sources(request: web.Request, fwd: writes.WriteOutcome, eid: str,
                               write: GuardedWrite | None,
                               done: web.Response | None = None) -> web.Response:
    """with_sources for a write the registry's ownership rules guard (``write`` gets the
    request's guard). The guard is taken before the local write and outside it: an error
    taking it is answered as it is, never folded into a 207; and it is not taken at all
    when nothing is written here."""
    if write is None:
        return await with_sources(fwd, eid, None, done)
    guard = await ownership.guard(request)
    return await with_sources(fwd, eid, lambda: write(guard), done)


@routes.post(BASE + "/entities")
async def create_entity(request: web.Request) -> web.Response:
    check_params(request.query, "create")
    body, media = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("an entity must be a JSON object")
    rc = await request_context(request, body, media)
    now = now_iso()
    doc = parse_entity(body, rc.active, now)
    schema = await tenant_schema(request, create=True)
    fwd = await writes.forward_write(request, rc, schema, "createEntity", doc.id, doc.types,
                                     doc.attrs, method="POST", path="/entities", body=body)
    stripped = bool(doc.attrs) and all(k in fwd.strip for k in doc.attrs)
    doc.attrs = {k: v for k, v in doc.attrs.items() if k not in fwd.strip}

    async def create(guard: ownership.WriteGuard) -> None:
        async with tx.single(request) as con:
            await svc.create(con, schema, doc, now, guard=guard)

    # every attribute went to the sources that own it: nothing is left to create here
    here = not fwd.skip_local and not (stripped and fwd.forwarded)
    created = web.Response(
        status=201, headers={"Location": f"{BASE}/entities/{quote(doc.id, safe=':')}"})
    return await guarded_with_sources(request, fwd, doc.id, create if here else None, created)


@routes.get(BASE + "/entities/{entityId}")
async def retrieve_entity(request: web.Request) -> web.Response:
    check_params(request.query, "retrieve")
    eid = entity_id(request)
    media = accepted_type(request, (JSON, JSONLD, GEOJSON))
    rc = await request_context(request)
    params = parse_render(request.query, rc.active)
    schema = await tenant_schema(request)
    opts = params.render

    async def held_here() -> dict[str, Any] | None:
        async with request.app[keys.POOL].acquire() as con:
            try:
                return await svc.retrieve(con, schema, eid)
            except ResourceNotFound:
                return None

    # merged with the context sources registrations name (hub/federation/), if any
    ent, headers = await federation.retrieve(request, rc, schema, eid, held_here,
                                             params.attrs_filter or [])
    if ent is None:
        missing = ResourceNotFound(f"entity {eid} not found")
        missing.headers.update(headers)  # which sources failed (6.3.17)
        raise missing
    if params.attrs_filter and not any(a in ent["attrs"] for a in params.attrs_filter):
        raise ResourceNotFound(f"entity {eid} has none of the requested attributes")
    linked: dict[str, dict[str, Any]] = {}
    if opts.join:
        async with request.app[keys.POOL].acquire() as con:
            linked = await load_linked(con, schema, [ent], opts)
    if media == GEOJSON:
        return json_response(render_geojson(ent, rc.active, opts), rc, media, headers=headers)
    if opts.join == "flat":
        flat = render_flat([ent], rc.active, opts, linked)
        return json_response(flat if len(flat) > 1 else flat[0], rc, media, headers=headers)
    data = render_entity(ent, rc.active, opts, linked)
    if not data:
        raise ResourceNotFound(f"nothing of entity {eid} is left after pick/omit")
    return json_response(data, rc, media, headers=headers)


@routes.get(BASE + "/entities")
async def query_entities(request: web.Request) -> web.Response:
    check_params(request.query, "query")
    media = accepted_type(request, (JSON, JSONLD, GEOJSON))
    rc = await request_context(request)
    settings = request.app[keys.SETTINGS]
    params = parse_render(request.query, rc.active)
    page = parse_pagination(request.query, settings.default_limit, settings.max_limit,
                            params.options)
    sel = selection_from_query(request.query, rc.active, attrs=params.attrs_filter)
    if not sel.is_constrained() and request.query.get("local") != "true":
        raise BadRequestData("a query needs at least one of type, attrs, q, scopeQ or a "
                             "geo-query")
    return await answer_query(request, rc, sel, params, page, media, federate=request.query)


async def answer_query(
    request: web.Request, rc: RequestContext, sel: Selection, params: RenderParams,
    page: ListParams, media: str, *, federate: Mapping[str, str] | None = None,
) -> web.Response:
    """Run a query (GET /entities and POST /entityOperations/query alike) and render it;
    with ``federate`` (the query as GET parameters), merged with the context sources
    registrations name (hub/federation/: the first offset + limit local rows, the page cut
    from the merged set)."""
    schema = await tenant_schema(request)
    plan = await federation.plan_query(request, rc, schema, federate) \
        if federate is not None else None
    limit, offset = (page.limit, page.offset) if plan is None else (
        page.offset + page.limit, 0)
    if plan is not None:
        plan.start()  # the sources work while the local query runs
    try:
        async with tx.read(request, snapshot=page.count or sel.geo is not None) as con:
            rows, total = await svc.query(con, schema, sel, rc.active, limit=limit,
                                          offset=offset, count=page.count)
            linked = await load_linked(con, schema, rows, params.render) \
                if params.render.join and plan is None else {}
    except BaseException:
        if plan is not None:
            plan.cancel()
        raise
    headers: dict[str, str] = {}
    if plan is not None:
        rows, total, headers = await plan.run(rows, total, offset=page.offset,
                                              limit=page.limit, count=page.count)
        if params.render.join:
            async with request.app[keys.POOL].acquire() as con:
                linked = await load_linked(con, schema, rows, params.render)
    return render_list(rows, rc, params.render, media, total, linked, headers)


def render_list(
    rows: list[dict[str, Any]], rc: RequestContext, opts: RenderOptions, media: str,
    total: int | None, linked: dict[str, dict[str, Any]],
    extra: dict[str, str] | None = None,
) -> web.Response:
    """A query result in the negotiated representation, with the count header if asked."""
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    headers.update(extra or {})
    if media == GEOJSON:
        features = [render_geojson(r, rc.active, opts) for r in rows]
        data: Any = {"type": "FeatureCollection", "features": features}
    elif opts.join == "flat":
        data = render_flat(rows, rc.active, opts, linked)
    else:
        rendered = (render_entity(r, rc.active, opts, linked) for r in rows)
        data = [d for d in rendered if d]  # nothing left after pick/omit: not listed
    return json_response(data, rc, media, headers=headers)


@routes.delete(BASE + "/entities")
async def purge_entities(request: web.Request) -> web.Response:
    """Purge (6.4.3.3): delete the selected entities, or only ``drop`` / all but ``keep``."""
    check_params(request.query, "purge")
    rc = await request_context(request)
    if "keep" in request.query and "drop" in request.query:
        raise BadRequestData("keep and drop cannot be used together")
    sel = selection_from_query(request.query, rc.active, attrs=None)
    if sel.is_empty() and request.query.get("local") != "true":
        raise BadRequestData("purge needs at least one of type, id, idPattern, q or scopeQ")
    keep = {rc.active.expand(a) for a in csv(request.query.get("keep"))}
    drop = {rc.active.expand(a) for a in csv(request.query.get("drop"))}
    schema = await tenant_schema(request)
    fwd = await writes.forward_purge(request, rc, schema)
    now = now_iso()
    async with tx.write(request) as con:
        rows, _ = await svc.query(con, schema, sel, rc.active, limit=10**9, offset=0,
                                  count=False, action="write")
        if not keep and not drop:
            await store.delete_entities(con, schema, [r["id"] for r in rows])
        else:
            # the write diffs stored index rows: lock them first (write_entities), and
            # purge what is stored now: one deleted since the query is not written back,
            # one changed since keeps that change
            locked = await store.fetch_many(con, schema, [r["id"] for r in rows],
                                            for_update=True)
            rows = [locked[r["id"]] for r in rows if r["id"] in locked]
            for ent in rows:
                ent["attrs"] = {k: v for k, v in ent["attrs"].items()
                                if (k in keep if keep else k not in drop)
                                or k in ownership.PROVENANCE}
                ent["modifiedAt"] = now
            await store.write_entities(con, schema, rows, create_only=False)
    return writes.failed_sources(fwd) or web.Response(status=204)


@routes.delete(BASE + "/entities/{entityId}")
async def delete_entity(request: web.Request) -> web.Response:
    check_params(request.query, "delete")
    eid = entity_id(request)
    schema = await tenant_schema(request)
    fwd = await writes.forward_write(request, None, schema, "deleteEntity", eid, (), (),
                                     method="DELETE", path=writes.entity_path(eid))

    async def delete() -> None:
        async with tx.write(request) as con:
            # recorded first (it reads the entity's owner), undone with the delete if refused
            await temporal_writes.record_deletion(con, schema, eid, None, now=now_iso())
            await svc.delete(con, schema, eid)

    return await with_sources(fwd, eid, delete)


async def _rewrite(request: web.Request, *, merge: bool) -> web.Response:
    """Replace (6.5.3.3, PUT) or merge (6.5.3.4, PATCH with merge-patch nulls) an entity:
    the same steps but for the payload's rules and the store's write."""
    check_params(request.query, "merge" if merge else "replace")
    eid = entity_id(request)
    body, media = await read_json(request, merge_patch=merge)
    rc = await request_context(request, body, media)
    now = now_iso()
    doc = parse_entity(body, rc.active, now, entity_id=eid, require_type=not merge, merge=merge)
    schema = await tenant_schema(request)
    fwd = await writes.forward_write(request, rc, schema,
                                     "mergeEntity" if merge else "replaceEntity", eid,
                                     doc.types, doc.attrs, method="PATCH" if merge else "PUT",
                                     path=writes.entity_path(eid), body=body)
    doc.attrs = {k: v for k, v in doc.attrs.items() if k not in fwd.strip}

    async def write(guard: ownership.WriteGuard) -> None:
        await tx.rewrite(request, lambda con: (svc.merge if merge else svc.replace)(
            con, schema, doc.copy(), now, guard=guard))

    return await guarded_with_sources(request, fwd, eid, write)


@routes.put(BASE + "/entities/{entityId}")
async def replace_entity(request: web.Request) -> web.Response:
    return await _rewrite(request, merge=False)


@routes.patch(BASE + "/entities/{entityId}")
async def merge_entity(request: web.Request) -> web.Response:
    return await _rewrite(request, merge=True)
