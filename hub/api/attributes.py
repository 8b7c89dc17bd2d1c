"""/entities/{entityId}/attrs[/{attrId}] (GS CIM 009 6.6, 6.7): append, update,
partial update, replace and delete of attributes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.api import tx
from hub.api.common import RequestContext, dumps, read_json, request_context, tenant_schema
from hub.api.entities import BASE, GuardedWrite, entity_id, guarded_with_sources
from hub.api.params import attribute_iri, check_params, csv, dataset_id_param
from hub.errors import ResourceNotFound
from hub.federation import writes
from hub.jsonld.active import ActiveContext
from hub.ngsild.attributes import parse_attribute, parse_fragment
from hub.ngsild.checks import now_iso
from hub.ngsild.entity import EntityDoc, copied, parse_entity
from hub.ngsild.merge import NotUpdated
from hub.service import entities as svc
from hub.service import temporal_writes
from hub.service.ownership import WriteGuard

__all__ = ["routes"]

routes = web.RouteTableDef()


def _update_result(
    updated: list[str], skipped: NotUpdated, ctx: ActiveContext
) -> web.Response:
    """204 when everything was applied, else 207 with an UpdateResult (5.2.18)."""
    if not skipped:
        return web.Response(status=204)
    body = {
        "updated": [_name(i, ctx) for i in updated],
        "notUpdated": [{"attributeName": _name(i, ctx), "reason": r} for i, r in skipped],
    }
    return web.json_response(body, status=207, dumps=dumps)


def _name(iri: str, ctx: ActiveContext) -> str:
    """UpdateResult names attributes by their expanded IRI: the body carries no @context."""
    return iri


#: members only an attribute itself has (normalised or concise): a body with one of them
#: is the attribute, never the attribute wrapped in its name
_ATTRIBUTE_MEMBERS = frozenset({"type", "value", "object", "objectList", "languageMap",
                                "vocab", "json", "valueList", "datasetId", "observedAt"})


def _fragment_body(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "@context"}
    return body


def _unwrapped(body: Any, name: str, iri: str, active: Any) -> Any:
    """The attribute of a PUT on ``.../attrs/{attrId}`` (5.6.19 takes the attribute
    itself, ``@context`` kept). Some clients, the ETSI distributed tests among them, send
    it wrapped in its name, ``{"speed": {...}}``, as in an entity fragment. A replacement
    attribute cannot be mistaken for that: its one member would be the path's attribute
    and it would have none of an attribute's own members (``type``, ``value``,
    ``object`` ...), which a complete attribute cannot lack — so the wrapper is taken
    off, here and in what is forwarded to context sources."""
    if not isinstance(body, dict):
        return body
    members = {k: v for k, v in body.items() if k != "@context"}
    if len(members) == 1 and not _ATTRIBUTE_MEMBERS & members.keys():
        (key, inner), = members.items()
        if isinstance(inner, dict) and (key == name or active.expand(key) == iri):
            return {**inner, **({"@context": body["@context"]} if "@context" in body else {})}
    return body


async def _write_attrs(request: web.Request, rc: RequestContext, schema: str, op: str,
                       eid: str, doc: EntityDoc, body: Any, write: GuardedWrite
                       ) -> web.Response:
    """Append or update attributes (``op``) with the context sources: the request goes on,
    with its method and body, to those whose registrations cover them
    (writes.forward_write); ``write`` writes here what they do not own, and is not called
    when they took every attribute."""
    fwd = await writes.forward_write(request, rc, schema, op, eid, doc.types, doc.attrs,
                                     method=request.method,
                                     path=writes.entity_path(eid, "/attrs"), body=body)
    doc.attrs = {k: v for k, v in doc.attrs.items() if k not in fwd.strip}
    here = not (fwd.forwarded and not doc.attrs)
    return await guarded_with_sources(request, fwd, eid, write if here else None)


async def _write_attr(request: web.Request, rc: RequestContext, schema: str, op: str,
                      eid: str, iri: str, body: Any, write: GuardedWrite) -> web.Response:
    """Write one attribute (``op``) with the context sources: the request goes on, with its
    method and body, to those registered for it (writes.forward_attribute); ``write``
    writes it here unless they hold it alone."""
    fwd = await writes.forward_attribute(request, rc, schema, op, eid, iri,
                                         method=request.method, body=body)
    return await guarded_with_sources(request, fwd, eid, None if fwd.owns(iri) else write)


@routes.post(BASE + "/entities/{entityId}/attrs")
async def append_attrs(request: web.Request) -> web.Response:
    check_params(request.query, "append")
    eid = entity_id(request)
    body, media = await read_json(request)
    rc = await request_context(request, body, media)
    opts = set(csv(request.query.get("options")))
    now = now_iso()
    doc = parse_entity(body, rc.active, now, entity_id=eid, require_type=False)
    schema = await tenant_schema(request)

    async def append(guard: WriteGuard) -> web.Response:
        updated, skipped = await tx.rewrite(request, lambda con: svc.append(
            con, schema, doc.copy(), now, no_overwrite="noOverwrite" in opts, guard=guard))
        return _update_result(updated, skipped, rc.active)

    return await _write_attrs(request, rc, schema, "appendAttrs", eid, doc, body, append)


@routes.patch(BASE + "/entities/{entityId}/attrs")
async def update_attrs(request: web.Request) -> web.Response:
    check_params(request.query, "update")
    eid = entity_id(request)
    body, media = await read_json(request)
    rc = await request_context(request, body, media)
    now = now_iso()
    doc = parse_entity(body, rc.active, now, entity_id=eid, require_type=False, merge=True)
    schema = await tenant_schema(request)

    async def update(guard: WriteGuard) -> web.Response:
        updated, skipped = await tx.rewrite(request, lambda con: svc.update_attributes(
            con, schema, doc.copy(), now, guard=guard))
        return _update_result(updated, skipped, rc.active)

    return await _write_attrs(request, rc, schema, "updateAttrs", eid, doc, body, update)


@routes.patch(BASE + "/entities/{entityId}/attrs/{attrId}")
async def partial_update_attr(request: web.Request) -> web.Response:
    check_params(request.query, "attr")
    eid = entity_id(request)
    body, media = await read_json(request, merge_patch=True)
    rc = await request_context(request, body, media)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    now = now_iso()
    raw = _fragment_body(body)
    items = raw if isinstance(raw, list) else [raw]
    patch = [parse_fragment(iri, item, rc.active, now, merge=True) for item in items]
    schema = await tenant_schema(request)

    async def update(guard: WriteGuard) -> None:
        await tx.rewrite(request, lambda con: svc.partial_update_attribute(
            con, schema, eid, iri, copied(patch), now, guard=guard))

    return await _write_attr(request, rc, schema, "updateAttrs", eid, iri, body, update)


@routes.put(BASE + "/entities/{entityId}/attrs/{attrId}")
async def replace_attr(request: web.Request) -> web.Response:
    check_params(request.query, "attr")
    eid = entity_id(request)
    body, media = await read_json(request)
    rc = await request_context(request, body, media)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    now = now_iso()
    body = _unwrapped(body, request.match_info["attrId"], iri, rc.active)
    parsed = parse_attribute(request.match_info["attrId"], iri, _fragment_body(body),
                             rc.active, now)
    assert isinstance(parsed, list)
    schema = await tenant_schema(request)

    async def replace(guard: WriteGuard) -> None:
        await tx.rewrite(request, lambda con: svc.replace_attribute(
            con, schema, eid, iri, copied(parsed), now, guard=guard))

    return await _write_attr(request, rc, schema, "replaceAttrs", eid, iri, body, replace)


@routes.delete(BASE + "/entities/{entityId}/attrs/{attrId}")
async def delete_attr(request: web.Request) -> web.Response:
    check_params(request.query, "attr")
    eid = entity_id(request)
    rc = await request_context(request)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    dataset_id = dataset_id_param(request.query)
    delete_all = request.query.get("deleteAll") == "true"
    schema = await tenant_schema(request)

    async def delete(guard: WriteGuard) -> None:
        now = now_iso()
        async with tx.write(request) as con:
            try:
                await svc.delete_attribute(con, schema, eid, iri, dataset_id, delete_all, now,
                                           guard=guard)
            except ResourceNotFound:
                # an entity known only by its history: the deletion goes into that history
                if not await temporal_writes.delete_from_history(
                        con, schema, eid, iri, dataset_id, delete_all, guard=guard, now=now):
                    raise
            else:
                await temporal_writes.record_deletion(con, schema, eid, [iri], dataset_id,
                                                      delete_all, now=now)

    return await _write_attr(request, rc, schema, "deleteAttrs", eid, iri, None, delete)
