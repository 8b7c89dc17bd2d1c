"""/contracts: the shared data contracts' @context and JSON Schemas, at stable URLs.

Not an NGSI-LD resource; Renkei's own, outside ``/ngsi-ld/v1``. The documents come from
the ``contracts`` package (built in, nothing stored), so every hub serves the same bytes:

* ``GET /contracts``: the contracts, each with its version, type IRI and document URLs;
* ``GET /contracts/v1/context.jsonld``: the @context (the path of ``contracts.CONTEXT_URL``);
* ``GET /contracts/{name}/{version}/schema.json``: one contract's JSON Schema.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from contracts import CONTEXT_PATH, CONTEXT_URL, CONTRACTS, context_document, schema_id
from hub.errors import ResourceNotFound

__all__ = ["routes"]

routes = web.RouteTableDef()
_CONTEXT_BODY = orjson.dumps(context_document())
_SCHEMA = "application/schema+json"
_CACHE = {"Cache-Control": "public, max-age=3600"}


def _path(name: str, version: str) -> str:
    return f"/contracts/{name}/{version}/schema.json"


def _listing() -> list[dict[str, Any]]:
    return [
        {"name": c.name, "version": c.version, "summary": c.summary, "typeIri": c.type_iri,
         "observation": c.is_observation, "smartDataModel": c.sdm,
         "schema": schema_id(c.name, c.version), "schemaPath": _path(c.name, c.version),
         "context": CONTEXT_URL, "contextPath": CONTEXT_PATH}
        for c in CONTRACTS.values()
    ]


@routes.get("/contracts")
async def list_contracts(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(_listing()), content_type="application/json")


@routes.get(CONTEXT_PATH)
async def serve_context(request: web.Request) -> web.Response:
    return web.Response(body=_CONTEXT_BODY, content_type="application/ld+json", headers=_CACHE)


@routes.get("/contracts/{name}/{version}/schema.json")
async def serve_schema(request: web.Request) -> web.Response:
    name, version = request.match_info["name"], request.match_info["version"]
    info = CONTRACTS.get(name)
    if info is None:
        raise ResourceNotFound(f"no contract {name}; GET /contracts lists them")
    if info.version != version:
        raise ResourceNotFound(f"contract {name} has no version {version} (it is {info.version})")
    return web.Response(body=orjson.dumps(info.json_schema), content_type=_SCHEMA,
                        headers=_CACHE)
