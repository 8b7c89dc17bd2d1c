"""/temporal/entities (GS CIM 009 6.18-6.22): the temporal representation of entities.

Instances are stored as given (one row each, with a generated ``instanceId``) in tables of
their own; provision, retrieval and ``timerel`` windows are implemented, aggregation is not
yet. Access control applies as on entities: each temporal entity keeps the dataset the
registry decided at its creation, queries are filtered in SQL on it, attributes the caller
may not read are left out, and only the owner writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub import keys
from hub.api import tx
from hub.api.common import (
    GEOJSON,
    JSON,
    JSONLD,
    accepted_type,
    json_response,
    read_json,
    request_context,
    tenant_schema,
)
from hub.api.entities import BASE, entity_id
from hub.api.params import (
    attribute_iri,
    check_params,
    csv,
    dataset_id_param,
    parse_pagination,
)
from hub.errors import (
    AlreadyExists,
    BadRequestData,
    Forbidden,
    InvalidRequest,
    ResourceNotFound,
)
from hub.jsonld.active import ActiveContext
from hub.ngsild.attributes import parse_fragment, parse_instance
from hub.ngsild.checks import is_datetime, is_uri, now_iso, valid_attr_name
from hub.ngsild.entity import parse_types
from hub.ngsild.merge import merge_instance
from hub.ngsild.render import RenderOptions, render_instance
from hub.service import access, ownership
from hub.service.ownership import owner_of
from hub.store import entities as entities_store
from hub.store import temporal as sql

__all__ = ["routes"]

routes = web.RouteTableDef()
T = BASE + "/temporal/entities"
_SKIP = frozenset({"id", "@id", "type", "@type", "@context", "scope", "createdAt", "modifiedAt"})


def _instance_id() -> str:
    return f"urn:ngsi-ld:attribute:instance:{uuid.uuid4()}"


def _instances(body: Any, ctx: ActiveContext, now: str) -> list[tuple[str, str, Any]]:
    """Every attribute instance of a temporal payload, validated like any attribute."""
    if not isinstance(body, dict):
        raise BadRequestData("a temporal entity must be a JSON object")
    rows: list[tuple[str, str, Any]] = []
    for key, raw in body.items():
        if key in _SKIP:
            continue
        if not valid_attr_name(key):
            raise BadRequestData(f"invalid attribute name {key!r}")
        iri = ctx.expand(key)
        for item in raw if isinstance(raw, list) else [raw]:
            inst = parse_instance(iri, item, ctx, now)
            rows.append((iri, _instance_id(), inst))
    return rows


@routes.post(T)
async def create_or_update(request: web.Request) -> web.Response:
    """5.6.11: 201 when the temporal entity is new, 204 when instances were added."""
    check_params(request.query, "create")
    body, media = await read_json(request)
    if not isinstance(body, dict) or not body:
        raise InvalidRequest("a temporal entity must be a non-empty JSON object")
    rc = await request_context(request, body, media)
    raw_id = body.get("id")
    if not is_uri(raw_id):
        raise BadRequestData(f"entity id must be a URI, got {raw_id!r}")
    eid = str(raw_id)
    if "type" not in body:
        raise BadRequestData("the temporal entity has no type")
    types = parse_types(body["type"], rc.active)
    rows = _instances(body, rc.active, now_iso())
    guard = await ownership.guard(request)  # the registry's rule holds here too
    guard.check_payload(iri for iri, _, _ in rows)
    schema = await tenant_schema(request, create=True)
    async with tx.write(request) as con:
        known = await sql.head(con, schema, eid, for_update=True)
        if known is not None:
            _require_writable(eid, known, taken=True)
        dataset = guard.owner(eid, types).id
        if known is None:
            await _require_same_owner(con, schema, eid, dataset)
        elif known[1] is not None and known[1] != dataset:
            raise BadRequestData(f"{eid} belongs to dataset {known[1]}; these types would put"
                                 " it in another: the owner of an entity cannot change")
        created = await sql.upsert_entity(con, schema, eid, types, dataset)
        await sql.add_instances(con, schema, eid, rows)
    if created:
        return web.Response(status=201, headers={"Location": f"{T}/{quote(eid, safe=':')}"})
    return web.Response(status=204)


async def _require_same_owner(con: Any, schema: str, eid: str, dataset: str) -> None:
    """A new temporal representation may only be started by whoever may write the entity
    of the same id, when one exists: ids are hub-wide, so nobody can pre-claim the history
    of another organisation's entity. Answers as an entity create would (409, "taken")."""
    ent = await entities_store.fetch_entity(con, schema, eid, for_update=True)
    if ent is not None and access.visible(ent, "write", audit=False) is None:
        raise AlreadyExists(f"entity id {eid} is already taken")
    if ent is not None and owner_of(ent["attrs"]) not in (None, dataset):
        raise AlreadyExists(f"entity id {eid} is already taken")


def _require_writable(eid: str, known: tuple[list[str], str | None], *,
                      taken: bool = False) -> None:
    """The one ownership decision of the temporal API, on the STORED owning dataset (never
    on a payload's types): an entity the caller may not see answers as a missing one (404,
    or 409 "taken" when the request would create it), one it sees but does not own 403."""
    if not access.decide_stored(eid, *known).allowed:
        if taken:
            raise AlreadyExists(f"entity id {eid} is already taken")
        raise ResourceNotFound(f"no temporal representation of {eid}")
    if not access.decide_stored(eid, *known, action="write").allowed:
        raise Forbidden(f"only the owner may change the temporal representation of {eid}")


@routes.get(T + "/{entityId}")
async def retrieve(request: web.Request) -> web.Response:
    eid = entity_id(request)
    media = accepted_type(request, (JSON, JSONLD, GEOJSON))
    rc = await request_context(request)
    attrs = {rc.active.expand(a) for a in csv(request.query.get("attrs"))}
    opts = RenderOptions(sys_attrs="sysAttrs" in csv(request.query.get("options")))
    window = _time_window(request)
    schema = await tenant_schema(request)
    async with tx.read(request) as con:
        known = await sql.head(con, schema, eid)
        decision = access.decide_stored(eid, *known) if known is not None else None
        if known is None or decision is None or not decision.allowed:
            raise ResourceNotFound(f"no temporal representation of {eid}")
        rows = await sql.instances(con, schema, eid)
    out = _representation(eid, known[0], rows, rc.active, attrs, opts, window,
                          decision.attributes)
    return json_response(out, rc, JSON if media == GEOJSON else media)


def _time_window(request: web.Request) -> tuple[str, str | None, str | None] | None:
    """``timerel`` with ``timeAt``/``endTimeAt`` (4.11), compared on observedAt."""
    rel = request.query.get("timerel")
    if rel is None:
        return None
    if rel not in ("before", "after", "between"):
        raise BadRequestData("timerel must be before, after or between")
    start, end = request.query.get("timeAt"), request.query.get("endTimeAt")
    if not is_datetime(start) or (rel == "between" and not is_datetime(end)):
        raise BadRequestData("timerel needs a DateTime timeAt (and endTimeAt for between)")
    return rel, start, end


def _in_window(inst: dict[str, Any], window: tuple[str, str | None, str | None] | None) -> bool:
    if window is None:
        return True
    at = inst.get("observedAt")
    if not isinstance(at, str):
        return False
    rel, start, end = window
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    lo = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    if rel == "before":
        return moment < lo
    if rel == "after":
        return moment >= lo
    return lo <= moment < datetime.fromisoformat(str(end).replace("Z", "+00:00"))


def _representation(
    eid: str, types: list[str], rows: list[Any], ctx: ActiveContext, attrs: set[str],
    opts: RenderOptions, window: tuple[str, str | None, str | None] | None,
    readable: frozenset[str] | None,
) -> dict[str, Any]:
    """``readable``: the attributes access control lets the caller see (None = all)."""
    compact_types = [ctx.compact(t) for t in types]
    out: dict[str, Any] = {"id": eid,
                           "type": compact_types[0] if len(compact_types) == 1 else compact_types}
    for row in rows:
        if ((attrs and row["attr"] not in attrs)
                or (readable is not None and row["attr"] not in readable)
                or not _in_window(row["data"], window)):
            continue
        shown = render_instance(row["data"], ctx, opts)
        shown["instanceId"] = row["instance_id"]
        out.setdefault(ctx.compact(row["attr"]), []).append(shown)
    return out


@routes.get(T)
async def query(request: web.Request) -> web.Response:
    """5.7.4 (subset): temporal representations selected by type and/or id, timerel window."""
    check_params(request.query, "temporal_query")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    settings = request.app[keys.SETTINGS]
    page = parse_pagination(request.query, settings.default_limit, settings.max_limit, set())
    types = ([rc.active.expand(t) for t in csv(request.query["type"])]
             if "type" in request.query else None)
    ids = csv(request.query["id"]) if "id" in request.query else None
    if types is None and ids is None:
        raise BadRequestData("a temporal query needs type or id")
    window = _time_window(request)
    attrs = {rc.active.expand(a) for a in csv(request.query.get("attrs"))}
    opts = RenderOptions(sys_attrs="sysAttrs" in csv(request.query.get("options")))
    condition = access.temporal_condition(attrs, rc.active)
    schema = await tenant_schema(request)
    out = []
    async with tx.read(request) as con:
        for eid, etypes, dataset in await sql.entity_heads(con, schema, types, ids,
                                                           page.limit, page.offset, condition):
            decision = access.decide_stored(eid, etypes, dataset)  # the second check
            if decision.allowed:
                out.append(_representation(eid, etypes, await sql.instances(con, schema, eid),
                                           rc.active, attrs, opts, window,
                                           decision.attributes))
    return json_response(out, rc, media)


@routes.delete(T + "/{entityId}")
async def delete(request: web.Request) -> web.Response:
    eid = entity_id(request)
    guard = await ownership.guard(request)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        await _require_entity(con, schema, eid, guard)
        await sql.delete_entity(con, schema, eid)
    return web.Response(status=204)


async def _require_entity(con: Any, schema: str, eid: str,
                          guard: ownership.WriteGuard) -> None:
    """A temporal entity the caller may write, locked (``_require_writable``)."""
    known = await sql.head(con, schema, eid, for_update=True)
    if known is None:
        raise ResourceNotFound(f"no temporal representation of {eid}")
    _require_writable(eid, known)


@routes.post(T + "/{entityId}/attrs")
async def add_attributes(request: web.Request) -> web.Response:
    """5.6.12: add attribute instances to an existing temporal entity."""
    eid = entity_id(request)
    body, media = await read_json(request)
    if not isinstance(body, dict) or not [k for k in body if k not in _SKIP]:
        raise BadRequestData("the body must hold at least one attribute")
    rc = await request_context(request, body, media)
    rows = _instances(body, rc.active, now_iso())
    guard = await ownership.guard(request)
    guard.check_payload(iri for iri, _, _ in rows)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        await _require_entity(con, schema, eid, guard)
        await sql.add_instances(con, schema, eid, rows)
    return web.Response(status=204)


def _instance_param(request: web.Request) -> str:
    iid = request.match_info["instanceId"]
    if not is_uri(iid):
        raise BadRequestData(f"instanceId {iid!r} is not a URI")
    return iid


@routes.delete(T + "/{entityId}/attrs/{attrId}")
async def delete_attribute(request: web.Request) -> web.Response:
    """5.6.13: delete the instances of an attribute (default, one datasetId, or all)."""
    eid = entity_id(request)
    rc = await request_context(request)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    dataset_id = dataset_id_param(request.query)
    delete_all = request.query.get("deleteAll") == "true"
    guard = await ownership.guard(request)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        await _require_entity(con, schema, eid, guard)
        if not await sql.has_attribute(con, schema, eid, iri):
            raise ResourceNotFound(f"{eid} has no attribute {request.match_info['attrId']}")
        await sql.delete_attribute(con, schema, eid, iri, dataset_id, delete_all)
    return web.Response(status=204)


@routes.patch(T + "/{entityId}/attrs/{attrId}/{instanceId}")
async def modify_instance(request: web.Request) -> web.Response:
    """5.6.14: change members of one attribute instance."""
    eid = entity_id(request)
    body, media = await read_json(request)
    rc = await request_context(request, body, media)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    iid = _instance_param(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be an attribute fragment")
    fragment = body.get(request.match_info["attrId"], body)
    if isinstance(fragment, list):
        fragment = fragment[0] if fragment else {}
    if not isinstance(fragment, dict):
        raise BadRequestData("the attribute fragment must be a JSON object")
    fragment = {k: v for k, v in fragment.items() if k != "@context"}
    if not fragment:
        raise BadRequestData("the attribute fragment is empty")
    patch = parse_fragment(iri, fragment, rc.active, now_iso(), merge=False)
    guard = await ownership.guard(request)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        await _require_entity(con, schema, eid, guard)
        current = next((r["data"] for r in await sql.instances(con, schema, eid)
                        if r["attr"] == iri and r["instance_id"] == iid), None)
        if current is None:
            raise ResourceNotFound(f"no instance {iid} of {request.match_info['attrId']}")
        await sql.replace_instance(con, schema, eid, iri, iid,
                                   merge_instance(current, patch, now_iso()))
    return web.Response(status=204)


@routes.delete(T + "/{entityId}/attrs/{attrId}/{instanceId}")
async def delete_instance(request: web.Request) -> web.Response:
    """5.6.15: delete one attribute instance."""
    eid = entity_id(request)
    rc = await request_context(request)
    iri = attribute_iri(request.match_info["attrId"], rc.active)
    iid = _instance_param(request)
    guard = await ownership.guard(request)
    schema = await tenant_schema(request)
    async with tx.write(request) as con:
        await _require_entity(con, schema, eid, guard)
        if not await sql.delete_instance(con, schema, eid, iri, iid):
            raise ResourceNotFound(f"no instance {iid} of {request.match_info['attrId']}")
    return web.Response(status=204)
