"""/entityOperations/* (GS CIM 009 6.14-6.19, 6.31): batch create, upsert, update, delete,
merge and query. Each batch runs in one transaction; per-entity failures are reported in a
BatchOperationResult (5.2.16) with 207 and never abort the entities that succeeded."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.common import (
    GEOJSON,
    JSON,
    JSONLD,
    LD_CONTEXT_REL,
    RequestContext,
    accepted_type,
    dumps,
    read_json,
    request_context,
    tenant_schema,
)
from hub.api.entities import BASE, answer_query
from hub.api.params import check_params, csv, parse_pagination, parse_render
from hub.errors import AlreadyExists, BadRequestData, NgsiLdError, ResourceNotFound
from hub.federation import writes
from hub.federation.reads import federated_query
from hub.ngsild import merge as rules
from hub.ngsild.checks import is_uri, now_iso
from hub.ngsild.entity import EntityDoc, parse_entity
from hub.service import access, ownership
from hub.service import entities as svc
from hub.service.selection import selection_from_body
from hub.store import entities as store
from hub.store import ownership as owned_store

__all__ = ["routes"]

routes = web.RouteTableDef()


class BatchResult:
    def __init__(self) -> None:
        self.success: list[str] = []
        self.errors: list[dict[str, Any]] = []

    def fail(self, entity_id: Any, err: NgsiLdError) -> None:
        self.errors.append({"entityId": entity_id, "error": err.to_problem()})

    def response(self, ok_status: int, ok_body: Any = None) -> web.Response:
        if self.errors:
            return web.json_response({"success": self.success, "errors": self.errors},
                                     status=207, dumps=dumps)
        if ok_body is None:
            return web.Response(status=ok_status)
        return web.json_response(ok_body, status=ok_status, dumps=dumps)


async def _entities_body(request: web.Request) -> tuple[list[Any], RequestContext, str]:
    body, media = await read_json(request)
    if not isinstance(body, list) or not body:
        raise BadRequestData("a batch body must be a non-empty JSON array")
    if len(body) > request.app[keys.SETTINGS].max_batch:
        raise BadRequestData(f"a batch holds at most {request.app[keys.SETTINGS].max_batch}")
    if media == JSONLD:
        # every element carries its own @context, resolved per entity in _parse_all so an
        # unavailable or missing context fails that entity only (207), not the whole batch
        if "Link" in request.headers and LD_CONTEXT_REL in request.headers["Link"]:
            raise BadRequestData("a JSON-LD Link header must not accompany application/ld+json")
        core = await request.app[keys.CONTEXT_CACHE].get(None, request.app[keys.CONTEXTS])
        first = body[0].get("@context") if isinstance(body[0], dict) else None
        rc = RequestContext(active=core, raw=first)
    else:
        no_ctx = [e for e in body if not (isinstance(e, dict) and "@context" in e)]
        rc = await request_context(request, no_ctx, media)
    return body, rc, media


async def _parse_all(
    request: web.Request, body: list[Any], rc: RequestContext, media: str, now: str,
    result: BatchResult, **kwargs: Any,
) -> list[EntityDoc]:
    docs: list[EntityDoc] = []
    cache = request.app[keys.CONTEXT_CACHE]
    loader = request.app[keys.CONTEXTS]
    for raw in body:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            ctx = rc.active
            if not isinstance(raw, dict):
                raise BadRequestData("a batch element must be a JSON object")
            if media == JSONLD:
                if "@context" not in raw:
                    raise BadRequestData("an application/ld+json entity needs @context")
                ctx = await cache.get(raw["@context"], loader)
            elif "@context" in raw:
                raise BadRequestData("@context in an application/json body; use the Link header")
            docs.append(parse_entity(raw, ctx, now, **kwargs))
        except NgsiLdError as err:
            result.fail(raw_id, err)
    return docs


async def _forward(
    request: web.Request, rc: RequestContext, schema: str, name: str, body: list[Any],
    docs: list[EntityDoc], result: BatchResult,
) -> tuple[list[EntityDoc], ownership.WriteGuard]:
    """The federation hook-in of batch ``name`` (create, upsert, update, merge; the
    registrations' operation is ``{name}Batch``): what context sources cover goes to them
    (writes.forward_batch; what they alone hold is done), and the rest, admitted by the
    write guard, is what the hub writes itself, with that guard."""
    docs, remote = await writes.forward_batch(request, rc, schema, f"{name}Batch", name, body,
                                              docs, result.fail)
    result.success.extend(remote)
    guard = await ownership.guard(request)
    return guard.admit(docs, result.fail), guard


def _dedupe(docs: list[EntityDoc], result: BatchResult, *, fail: bool) -> list[EntityDoc]:
    seen: dict[str, EntityDoc] = {}
    for d in docs:
        if d.id in seen and fail:
            result.fail(d.id, AlreadyExists(f"entity {d.id} appears twice in the batch"))
            continue
        seen[d.id] = d  # upserts: the last occurrence wins
    return list(seen.values())


@routes.post(BASE + "/entityOperations/create")
async def batch_create(request: web.Request) -> web.Response:
    check_params(request.query, "batch")
    body, rc, media = await _entities_body(request)
    now, result = now_iso(), BatchResult()
    docs = _dedupe(await _parse_all(request, body, rc, media, now, result), result, fail=True)
    schema = await tenant_schema(request, create=True)
    docs, guard = await _forward(request, rc, schema, "create", body, docs, result)
    ents = guard.settle_many([svc.new_entity(d, now) for d in docs], now, result.fail)
    async with tx.single(request) as con:
        written = await store.write_entities(con, schema, ents, create_only=True)
    for eid in (e["id"] for e in ents):
        if eid in written:
            result.success.append(eid)
        else:
            result.fail(eid, AlreadyExists(f"entity {eid} already exists"))
    return result.response(201, result.success)


@routes.post(BASE + "/entityOperations/upsert")
async def batch_upsert(request: web.Request) -> web.Response:
    check_params(request.query, "batch")
    opts = set(csv(request.query.get("options")))
    if opts - {"replace", "update"} or opts == {"replace", "update"}:
        raise BadRequestData("options must be replace or update")
    body, rc, media = await _entities_body(request)
    now, result = now_iso(), BatchResult()
    docs = _dedupe(await _parse_all(request, body, rc, media, now, result), result, fail=False)
    schema = await tenant_schema(request, create=True)
    docs, guard = await _forward(request, rc, schema, "upsert", body, docs, result)
    rows: list[dict[str, Any]] = []
    written: dict[str, bool] = {}
    async with tx.write(request) as con:
        # an id another request creates between our look and our write is left out of
        # ``written`` (store.write_entities): look at those again, now that they exist
        for _ in range(_UPSERT_ROUNDS):
            settled = await _upsert_round(con, schema, docs, "update" in opts, now, guard,
                                          result)
            got = await store.write_entities(con, schema, settled, create_only=False)
            written.update(got)
            rows.extend(r for r in settled if r["id"] in got)
            admitted = {r["id"] for r in settled}
            docs = [d for d in docs if d.id in admitted and d.id not in got]
            if not docs:
                break
            for d in docs:  # drop this round's provenance stamps: the next decides afresh
                for iri in ownership.PROVENANCE:
                    d.attrs.pop(iri, None)
        for d in docs:
            result.fail(d.id, AlreadyExists(f"entity {d.id} is being created and deleted by "
                                            "other requests; try again"))
    created = [i for i, inserted in written.items() if inserted]
    result.success.extend(r["id"] for r in rows)
    if result.errors:
        return result.response(201)
    if created:
        return web.json_response(created, status=201, dumps=dumps)
    return web.Response(status=204)


#: rounds of look-then-write a batch upsert makes; more than two means another writer
#: keeps creating and deleting the same ids
_UPSERT_ROUNDS = 3


async def _upsert_round(
    con: Any, schema: str, docs: list[EntityDoc], update: bool, now: str,
    guard: ownership.WriteGuard, result: BatchResult,
) -> list[dict[str, Any]]:
    """The stored form of each upserted entity, its owner decided: for ``replace`` the
    stored owners are read first, as the blind upsert cannot see them; for ``update`` the
    stored entities, which the new attributes are appended to. Either way the stored rows
    are locked, as the write statement diffs their index rows."""
    if not update:
        owners = await owned_store.stored_owners(con, schema, [d.id for d in docs],
                                                 for_update=True)
        return guard.settle_many([svc.new_entity(d, now) for d in docs], now, result.fail,
                                 owners)
    existing = await store.fetch_many(con, schema, [d.id for d in docs], for_update=True)
    rows = []
    for d in docs:
        old = existing.get(d.id)
        if old is None:
            rows.append(svc.new_entity(d, now))
            continue
        old["types"] = list(dict.fromkeys([*old["types"], *d.types]))
        rules.append_attrs(old["attrs"], d.attrs, no_overwrite=False)
        old["modifiedAt"] = now
        rows.append(old)
    return guard.settle_many(rows, now, result.fail)


async def _modify(
    request: web.Request, merge: bool
) -> web.Response:
    check_params(request.query, "batch")
    opts = set(csv(request.query.get("options")))
    body, rc, media = await _entities_body(request)
    now, result = now_iso(), BatchResult()
    docs = await _parse_all(request, body, rc, media, now, result,
                            require_type=False, merge=merge)
    schema = await tenant_schema(request)
    docs, guard = await _forward(request, rc, schema, "merge" if merge else "update", body,
                                 docs, result)
    async with tx.write(request) as con:
        existing = await store.fetch_many(con, schema, [d.id for d in docs], for_update=True)
        rows: dict[str, dict[str, Any]] = {}
        for d in docs:
            ent = rows.get(d.id) or existing.get(d.id)
            if ent is None or access.visible(ent, audit=False) is None:  # same as missing
                result.fail(d.id, ResourceNotFound(f"entity {d.id} not found"))
                continue
            if merge:
                svc.apply_merge(ent, d, now)
            else:
                if d.types:
                    ent["types"] = list(dict.fromkeys([*ent["types"], *d.types]))
                _, skipped = rules.append_attrs(ent["attrs"], d.attrs,
                                                no_overwrite="noOverwrite" in opts)
                if skipped:
                    names = ", ".join(rc.active.compact(i) for i, _ in skipped)
                    result.fail(d.id, BadRequestData(f"attributes not overwritten: {names}"))
            ent["modifiedAt"] = now
            rows[d.id] = ent
            if d.id not in result.success and not any(
                e["entityId"] == d.id for e in result.errors
            ):
                result.success.append(d.id)
        # an entity refused here loses every change this batch made to it
        settled = guard.settle_many(rows.values(), now, result.fail)
        kept = {e["id"] for e in settled}
        result.success = [i for i in result.success if i in kept]
        await store.write_entities(con, schema, settled, create_only=False)
    return result.response(204)


@routes.post(BASE + "/entityOperations/update")
async def batch_update(request: web.Request) -> web.Response:
    return await _modify(request, merge=False)


@routes.post(BASE + "/entityOperations/merge")
async def batch_merge(request: web.Request) -> web.Response:
    return await _modify(request, merge=True)


@routes.post(BASE + "/entityOperations/delete")
async def batch_delete(request: web.Request) -> web.Response:
    check_params(request.query, "batch")
    body, _media = await read_json(request)
    if not isinstance(body, list) or not body:
        raise BadRequestData("a batch delete body must be a non-empty JSON array of entity ids")
    result = BatchResult()
    ids: list[str] = []
    for eid in body:
        if not is_uri(eid):
            result.fail(eid, BadRequestData(f"entity id {eid!r} is not a URI"))
        elif eid in ids:
            result.fail(eid, ResourceNotFound(f"entity {eid} appears twice in the batch"))
        else:
            ids.append(eid)
    schema = await tenant_schema(request)
    remote = await writes.forward_batch_delete(request, schema, ids, result.fail)
    result.success.extend(remote)
    ids = [i for i in ids if i not in remote]
    async with tx.write(request) as con:
        refused = await access.refuse_deletes(con, schema, ids)  # answered per entity
        for eid, err in refused.items():
            result.fail(eid, err)
        ids = [i for i in ids if i not in refused]
        deleted = set(await store.delete_entities(con, schema, ids))
    for eid in ids:
        if eid in deleted:
            result.success.append(eid)
        else:
            result.fail(eid, ResourceNotFound(f"entity {eid} not found"))
    return result.response(204)


@routes.post(BASE + "/entityOperations/query")
async def batch_query(request: web.Request) -> web.Response:
    check_params(request.query, "batch_query")
    media = accepted_type(request, (JSON, JSONLD, GEOJSON))
    body, body_media = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a Query object")
    rc = await request_context(request, body, body_media)
    settings = request.app[keys.SETTINGS]
    query = dict(request.query)
    # Query members that mirror GET parameters (5.2.23): the body's value applies
    for key in ("lang", "join", "joinLevel", "geometryProperty", "pick", "omit", "datasetId"):
        if key in body and key not in query:
            value = body[key]
            query[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    params = parse_render(query, rc.active)
    page = parse_pagination(query, settings.default_limit, settings.max_limit, params.options)
    sel = selection_from_body(body, rc.active)
    sel.order_by = query.get("orderBy")  # a parameter, as on GET (no Query member)
    if params.attrs_filter is not None and not sel.attrs:
        sel.attrs = params.attrs_filter
    if sel.attrs and params.render.attrs is None:
        params.render.attrs = frozenset(sel.attrs)
    return await answer_query(request, rc, sel, params, page, media,
                              federate=federated_query(body, query))
