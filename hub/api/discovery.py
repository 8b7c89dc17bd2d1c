"""/types and /attributes (GS CIM 009 6.25-6.28): what kinds of data the hub holds, and
(unless ``local=true``) what the context sources registered with it hold, merged by
hub/federation/discovery.py."""

from __future__ import annotations

import uuid

from aiohttp import web

from hub import keys
from hub.api.common import (
    JSON,
    JSONLD,
    accepted_type,
    json_response,
    request_context,
    tenant_schema,
)
from hub.api.entities import BASE
from hub.api.params import check_params
from hub.errors import ResourceNotFound
from hub.federation import discovery as federation
from hub.service.access import entity_source
from hub.store import discovery as sql

__all__ = ["routes"]

routes = web.RouteTableDef()


def _details(request: web.Request) -> bool:
    return request.query.get("details") == "true"


@routes.get(BASE + "/types")
async def list_types(request: web.Request) -> web.Response:
    check_params(request.query, "discovery")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    ctx = rc.active
    schema = await tenant_schema(request)
    if _details(request):
        async with request.app[keys.POOL].acquire() as con:
            local = await sql.type_details(con, schema, entity_source(schema))
        rows, headers = await federation.type_details(request, rc, schema, local)
        data: object = [
            {"id": t, "type": "EntityType", "typeName": ctx.compact(t),
             "attributeNames": [ctx.compact(a) for a in attrs]}
            for t, attrs in rows
        ]
    else:
        async with request.app[keys.POOL].acquire() as con:
            local_names = await sql.type_names(con, schema, entity_source(schema))
        names, headers = await federation.type_list(request, rc, schema, local_names)
        data = {"id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}", "type": "EntityTypeList",
                "typeList": [ctx.compact(t) for t in names]}
    return json_response(data, rc, media, headers=headers)


@routes.get(BASE + "/types/{type}")
async def get_type(request: web.Request) -> web.Response:
    check_params(request.query, "discovery")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    ctx = rc.active
    iri = ctx.expand(request.match_info["type"])
    schema = await tenant_schema(request)
    async with request.app[keys.POOL].acquire() as con:
        local_count, local_attrs = await sql.type_info(con, schema, iri,
                                                       entity_source(schema))
    count, attrs, headers = await federation.type_info(request, rc, schema, iri,
                                                       local_count, local_attrs)
    if count == 0:
        missing = ResourceNotFound(f"no entity of type {request.match_info['type']}")
        missing.headers.update(headers)  # a failed source is reported with the 404 too
        raise missing
    data = {
        "id": iri, "type": "EntityTypeInfo", "typeName": ctx.compact(iri), "entityCount": count,
        "attributeDetails": [
            {"id": a, "type": "Attribute", "attributeName": ctx.compact(a), "attributeTypes": k}
            for a, k in attrs
        ],
    }
    return json_response(data, rc, media, headers=headers)


@routes.get(BASE + "/attributes")
async def list_attributes(request: web.Request) -> web.Response:
    check_params(request.query, "discovery")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    ctx = rc.active
    schema = await tenant_schema(request)
    if _details(request):
        async with request.app[keys.POOL].acquire() as con:
            local = await sql.attribute_details(con, schema, source=entity_source(schema))
        rows, headers = await federation.attribute_details(request, rc, schema, list(local))
        data: object = [
            {"id": a, "type": "Attribute", "attributeName": ctx.compact(a),
             "typeNames": [ctx.compact(t) for t in types]}
            for a, _n, _k, types in rows
        ]
    else:
        async with request.app[keys.POOL].acquire() as con:
            local_names = await sql.attribute_names(con, schema, entity_source(schema))
        names, headers = await federation.attribute_list(request, rc, schema, local_names)
        data = {"id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}", "type": "AttributeList",
                "attributeList": [ctx.compact(a) for a in names]}
    return json_response(data, rc, media, headers=headers)


@routes.get(BASE + "/attributes/{attrId}")
async def get_attribute(request: web.Request) -> web.Response:
    check_params(request.query, "discovery")
    media = accepted_type(request, (JSON, JSONLD))
    rc = await request_context(request)
    ctx = rc.active
    iri = ctx.expand(request.match_info["attrId"])
    schema = await tenant_schema(request)
    async with request.app[keys.POOL].acquire() as con:
        rows = await sql.attribute_details(con, schema, iri, entity_source(schema))
    row, headers = await federation.attribute_info(request, rc, schema, iri,
                                                   rows[0] if rows else None)
    if row is None:
        missing = ResourceNotFound(f"no attribute {request.match_info['attrId']}")
        missing.headers.update(headers)
        raise missing
    a, n, kinds, types = row
    data = {"id": a, "type": "Attribute", "attributeName": ctx.compact(a), "attributeCount": n,
            "attributeTypes": kinds, "typeNames": [ctx.compact(t) for t in types]}
    return json_response(data, rc, media, headers=headers)
