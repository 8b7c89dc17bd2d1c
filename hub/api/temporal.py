"""/temporal/entities (GS CIM 009 6.18-6.22): the temporal representation of entities.

Instances are stored as given (one row each, with a generated ``instanceId``) in tables of
their own. Provision is here; the reads (``timerel`` on any time property, ``lastN``,
aggregation, the simplified and aggregated representations, temporal pagination, the POST
query) are parsed here and run by ``hub/service/temporal_query.py``. Access control applies
as on entities: each temporal entity keeps the dataset the registry decided at its
creation, queries are filtered in SQL on it, attributes the caller may not read are left
out, and only the owner writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
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
from hub.ngsild.checks import is_uri, now_iso, valid_attr_name
from hub.ngsild.entity import parse_types
from hub.ngsild.merge import merge_instance
from hub.query.geo import parse_geo_query
from hub.query.qlang import parse_q
from hub.query.scopeq import parse_scope_q, validate_scope
from hub.service import access, history, ownership, temporal_query
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
    if body.get("scope") is not None:
        rows.append((temporal_query.SCOPE, _instance_id(), _scope_instance(body["scope"], now)))
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


def _scope_instance(raw: Any, now: str) -> dict[str, Any]:
    """The scope (4.18) kept in the history as an attribute of its own
    (``temporal_query.SCOPE``), so its changes and its deletion (``deletedAt``) show in the
    temporal representation like any attribute's, and ``scopeQ`` can match them."""
    scopes = raw if isinstance(raw, list) else [raw]
    for scope in scopes:
        if not isinstance(scope, str):
            raise BadRequestData("a scope must be a string or a list of strings")
        validate_scope(scope)
    return {"type": "Property", "value": scopes, "createdAt": now, "modifiedAt": now}


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
    or 409 "taken" when the request would create it), one it sees but does not own 403.
    The write decision comes first: the owner's writes (every adapter reading) take one
    decision; only a refused write asks whether the caller may at least see it."""
    if access.decide_stored(eid, *known, action="write").allowed:
        return
    if not access.decide_stored(eid, *known).allowed:
        if taken:
            raise AlreadyExists(f"entity id {eid} is already taken")
        raise ResourceNotFound(f"no temporal representation of {eid}")
    raise Forbidden(f"only the owner may change the temporal representation of {eid}")


@routes.get(T + "/{entityId}")
async def retrieve(request: web.Request) -> web.Response:
    """5.7.3: one entity's history (hub/service/temporal_query.py)."""
    check_params(request.query, "temporal_retrieve")
    eid = entity_id(request)
    media = accepted_type(request, (JSON, JSONLD, GEOJSON))
    rc = await request_context(request)
    params = temporal_query.parse_params(request.query, rc.active)
    cap = request.app[keys.SETTINGS].temporal_page_instances
    schema = await tenant_schema(request)
    since = await _retention(request)
    async with tx.read(request) as con:
        page = await temporal_query.retrieve_one(con, schema, eid, params, rc.active, cap,
                                                 since)
    return _answer(page, page.entities[0], rc, JSON if media == GEOJSON else media)


async def _retention(request: web.Request) -> temporal_query.Since:
    """Each owning dataset's retention, honoured on read (``history.read_since``)."""
    index = await request.app[keys.REGISTRY_RULES].current()
    default_days = request.app[keys.SETTINGS].history_retention_default
    now = datetime.now(UTC)
    return lambda dataset: history.read_since(
        index.by_id.get(dataset) if dataset is not None else None, default_days, now)


def _answer(page: temporal_query.Page, data: Any, rc: Any, media: str,
            headers: dict[str, str] | None = None) -> web.Response:
    """200, or 206 with the Content-Range of a cut history (temporal pagination)."""
    out = dict(headers or {})
    if page.content_range is not None:
        out["Content-Range"] = page.content_range
    return json_response(data, rc, media, status=206 if page.content_range else 200,
                         headers=out)


@routes.get(T)
async def query(request: web.Request) -> web.Response:
    """5.7.4: the histories of the entities selected by type, id, idPattern or attrs."""
    check_params(request.query, "temporal_query")
    return await _query(request, request.query)


@routes.post(BASE + "/temporal/entityOperations/query")
async def query_post(request: web.Request) -> web.Response:
    """5.7.5: the same query with a ``Query`` body; pagination stays in the query string."""
    check_params(request.query, "temporal_query")
    body, media = await read_json(request)
    rc = await request_context(request, body, media)
    flat = {**temporal_query.query_from_body(body),
            **{k: v for k, v in request.query.items()
               if k in ("limit", "offset", "count", "options", "format", "lastN",
                        "aggrMethods", "aggrPeriodDuration", "local", "orderBy")}}
    return await _query(request, flat, rc)


async def _query(request: web.Request, q: Mapping[str, Any], rc: Any = None) -> web.Response:
    media = accepted_type(request, (JSON, JSONLD))
    rc = rc or await request_context(request)
    settings = request.app[keys.SETTINGS]
    page = parse_pagination(q, settings.default_limit, settings.max_limit,
                            set(csv(q.get("options"))))
    types = [rc.active.expand(t) for t in csv(q["type"])] if "type" in q else None
    ids = csv(q["id"]) if "id" in q else None
    id_pattern = q.get("idPattern")
    if not (types or q.get("attrs") or "q" in q or "scopeQ" in q or "georel" in q
            or q.get("local") == "true"):
        raise BadRequestData("a temporal query needs type, attrs, q, scopeQ or a geo-query"
                             " (or local=true)")
    scope_q = parse_scope_q(q["scopeQ"]) if "scopeQ" in q else None
    descending, order_by = _order(q.get("orderBy"))
    params = temporal_query.parse_params(q, rc.active)
    geo = parse_geo_query(q.get("georel"), q.get("geometry"), q.get("coordinates"),
                          q.get("geoproperty"))
    named = set(params.attrs or ()) | access.ordered_by(order_by, rc.active.expand)
    if scope_q is not None:
        named.add(temporal_query.SCOPE)  # matching on the scope reveals it
    if geo is not None:
        named.add(rc.active.expand(geo.geoproperty) if geo.geoproperty
                  else temporal_query.LOCATION)
    condition = access.temporal_condition(named, rc.active)
    schema = await tenant_schema(request)
    retention = await _retention(request)
    async with tx.read(request) as con:
        heads, total = await sql.heads_page(con, schema, types, ids, id_pattern, page.limit,
                                            page.offset, descending, condition, page.count,
                                            order_by, rc.active.expand)
        decided = []
        since = {eid: retention(dataset) for eid, _, dataset in heads}
        for eid, etypes, dataset in heads:
            decision = access.decide_stored(eid, etypes, dataset)  # the second check
            if decision.allowed:
                decided.append((eid, etypes, decision.attributes))
        if "q" in q:
            decided = await temporal_query.q_filter(con, schema, decided, parse_q(q["q"]),
                                                    params, rc.active,
                                                    settings.temporal_page_instances, since)
        if scope_q is not None:
            decided = await temporal_query.scope_filter(con, schema, decided, scope_q, params,
                                                        settings.temporal_page_instances, since)
        if geo is not None:
            decided = await temporal_query.geo_filter(con, schema, decided, geo, params,
                                                      rc.active, settings.temporal_page_instances,
                                                      since)
        result = await temporal_query.read_entities(
            con, schema, decided, params, rc.active, settings.temporal_page_instances,
            drop_empty=True, since=since)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else None
    return _answer(result, result.entities, rc, media, headers)


def _order(order_by: str | None) -> tuple[bool, str | None]:
    """(descending by id, any other ``orderBy``): ordered by id by default (5.7.4.4);
    other keys (V1.9 ``orderBy``, which the ETSI suite's 021_23 uses on temporal queries)
    sort by the entities' current state (``sql.heads_page``)."""
    if order_by is None or order_by in ("id", "id;asc"):
        return False, None
    if order_by == "id;desc":
        return True, None
    return False, order_by


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
