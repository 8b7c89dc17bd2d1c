"""One OpenAPI 3.1 description of everything the hub serves, generated, never hand-kept.

The document walks the route table (``hub/service/route_policy.py`` ``ROUTES``: every
route the application registers has an entry there, a CI test checks it), so no route
can be missing from it; each operation's security is its route's need (public, read,
write, subscribe, manage as OAuth 2 client-credentials scopes). Request bodies of the
registry, access-control and subscription APIs are the pydantic models the handlers
validate with (``registry/wire.py``, ``hub/api/bodies.py``); the NGSI-LD data types and
parameters are in ``hub/api/openapi_ngsi.py``. ``OPS`` adds a summary and the success
status per operation; a route without one is still described (from its need alone), and
``tests/unit/test_openapi.py`` fails until it gets one.

Served at ``/openapi.json``; ``/docs/api`` renders it offline (``openapi_page.py``);
``/registry/v1/openapi.json`` is the same document filtered to the registry's paths.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hub import keys
from hub.api import bodies
from hub.api.openapi_ngsi import NGSI_OPS, NGSI_SCHEMAS
from hub.api.openapi_page import PAGE
from hub.service.oauth import issuer_of
from hub.service.route_policy import ROUTES, Need
from registry import wire

__all__ = ["OPS", "openapi_document", "routes"]

routes = web.RouteTableDef()

_MODELS: tuple[type[BaseModel], ...] = (
    wire.OrganisationBody, wire.DatasetBody, wire.AdapterBody, wire.RunBody,
    bodies.ClientBody, bodies.RotateBody, bodies.GrantBody, bodies.DecisionBody,
    bodies.SubscriptionBody, bodies.SubscriptionPatch)

_PROBLEM = {
    "type": "object", "description": "RFC 7807 problem details with an NGSI-LD error type",
    "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"}},
}
_SCOPES = {"read": "query and retrieve entities (open data needs no token)",
           "write": "create, change and delete the organisation's entities",
           "subscribe": "create and manage subscriptions",
           "manage": "the registry and access-control management APIs"}


def _m(summary: str, ok: int, *, body: str | None = None, response: str | None = None,
       params: list[dict[str, Any]] | None = None, media: str = "application/json",
       form: bool = False) -> dict[str, Any]:
    return {"summary": summary, "ok": ok, "body": body, "response": response,
            "params": params or [], "media": media, "form": form}


def _q(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"}}


REG, AUTHZ = "/registry/v1", "/authz/v1"
DEFAULT_ISSUER = "http://127.0.0.1:1026"  # the default listen address (settings.py)
_LD = "application/ld+json"

#: (path, method) -> summary, success status, body and response schema names
OPS: dict[tuple[str, str], dict[str, Any]] = {
    **NGSI_OPS,
    ("/openapi.json", "GET"): _m("this document", 200),
    ("/docs/api", "GET"): _m("this document, browsable (works offline)", 200,
                             media="text/html"),
    ("/dashboard", "GET"): _m("the operations dashboard", 200, media="text/html"),
    ("/dashboard/{asset}", "GET"): _m("a static asset of the dashboard", 200,
                                      media="application/octet-stream"),
    ("/health", "GET"): _m("the process answers", 200),
    ("/ready", "GET"): _m("database, migrations and notification backlog are fine", 200),
    ("/metrics", "GET"): _m("this process's counters, Prometheus text format (operator)",
                            200, media="text/plain"),
    ("/catalog", "GET"): _m("the DCAT-AP 3 catalogue of every dataset (JSON-LD; Turtle or "
                            "RDF/XML by Accept)", 200, media=_LD),
    ("/catalog/datasets/{datasetId}", "GET"): _m("one dataset in DCAT-AP 3 (JSON-LD; Turtle "
                                                 "or RDF/XML by Accept)", 200, media=_LD),
    ("/contracts", "GET"): _m("the data contracts and their versions", 200),
    ("/contracts/v1/context.jsonld", "GET"): _m("the contracts' @context", 200, media=_LD),
    ("/contracts/{name}/{version}/schema.json", "GET"): _m("a contract's JSON Schema", 200),
    (f"{REG}/organisations", "GET"): _m("list organisations", 200, params=[
        _q("kind", "prefecture, municipality or private")]),
    (f"{REG}/organisations", "POST"): _m("register an organisation", 201,
                                         body="OrganisationBody"),
    (f"{REG}/organisations/{{orgId}}", "GET"): _m("retrieve an organisation", 200),
    (f"{REG}/organisations/{{orgId}}", "PUT"): _m(
        "create or replace an organisation (201 when created)", 200, body="OrganisationBody"),
    (f"{REG}/organisations/{{orgId}}", "DELETE"): _m("delete an organisation", 204),
    (f"{REG}/datasets", "GET"): _m("list datasets", 200, params=[
        _q("owner", "an organisation id")]),
    (f"{REG}/datasets", "POST"): _m("register a dataset", 201, body="DatasetBody"),
    (f"{REG}/datasets/{{datasetId}}", "GET"): _m("retrieve a dataset", 200),
    (f"{REG}/datasets/{{datasetId}}", "PUT"): _m(
        "create or replace a dataset (201 when created)", 200, body="DatasetBody"),
    (f"{REG}/datasets/{{datasetId}}", "DELETE"): _m("delete a dataset", 204),
    (f"{REG}/owner", "GET"): _m("which dataset owns an entity of this id and these types",
                                200, params=[_q("id", "entity id", True),
                                             _q("type", "comma-separated types", True)]),
    (f"{REG}/openapi.json", "GET"): _m("the registry's part of this document", 200),
    (f"{REG}/adapters", "GET"): _m("list adapter registrations", 200, params=[
        _q("dataset", "a dataset id")]),
    (f"{REG}/adapters", "POST"): _m("register an adapter", 201, body="AdapterBody"),
    (f"{REG}/adapters/{{adapterId}}", "GET"): _m("an adapter registration and its last run",
                                                 200),
    (f"{REG}/adapters/{{adapterId}}", "PUT"): _m(
        "create or replace an adapter registration (201 when created)", 200,
        body="AdapterBody"),
    (f"{REG}/adapters/{{adapterId}}", "DELETE"): _m("delete an adapter registration", 204),
    (f"{REG}/adapters/{{adapterId}}/runs", "GET"): _m("an adapter's runs, newest first", 200,
                                                      params=[_q("limit", "1-1000, default 20")]),
    (f"{REG}/adapters/{{adapterId}}/run-now", "POST"): _m(
        "mark the registration due now (the adapter worker runs it)", 202),
    (f"{REG}/adapters/{{adapterId}}/runs", "POST"): _m("record a run's health", 201,
                                                       body="RunBody"),
    (f"{AUTHZ}/clients", "GET"): _m("the organisation's clients (the operator: all)", 200),
    (f"{AUTHZ}/clients", "POST"): _m("create a client (the secret is shown once)", 201,
                                     body="ClientBody"),
    (f"{AUTHZ}/clients/{{client_id}}", "DELETE"): _m("delete a client", 204),
    (f"{AUTHZ}/clients/{{client_id}}/rotate", "POST"): _m("rotate a client's secret", 200,
                                                          body="RotateBody"),
    (f"{AUTHZ}/grants", "GET"): _m("grants of the organisation, as consumer or owner", 200,
                                   params=[_q("status", "requested, approved, rejected, "
                                                        "revoked")]),
    (f"{AUTHZ}/grants", "POST"): _m("request a grant", 201, body="GrantBody"),
    (f"{AUTHZ}/grants/{{grant_id}}/approve", "POST"): _m("approve a grant (the owner)", 200,
                                                         body="DecisionBody"),
    (f"{AUTHZ}/grants/{{grant_id}}/reject", "POST"): _m("reject a grant (the owner)", 200,
                                                        body="DecisionBody"),
    (f"{AUTHZ}/grants/{{grant_id}}/revoke", "POST"): _m("revoke a grant (either side)", 200,
                                                        body="DecisionBody"),
    (f"{AUTHZ}/audit", "GET"): _m("who read the organisation's data, and why", 200,
                                  params=[_q("since", "ISO 8601 date-time")]),
    (f"{AUTHZ}/keys/rotate", "POST"): _m("rotate the token signing key (the operator)", 200),
    ("/oauth2/token", "POST"): _m("client credentials grant (RFC 6749 4.4)", 200, form=True),
    ("/oauth2/introspect", "POST"): _m("token introspection (RFC 7662)", 200, form=True),
    ("/oauth2/revoke", "POST"): _m("token revocation (RFC 7009)", 200, form=True),
    ("/oauth2/jwks", "GET"): _m("the token signing keys (RFC 7517)", 200),
    ("/.well-known/oauth-authorization-server", "GET"): _m(
        "authorization server metadata (RFC 8414)", 200),
}

_FORM = {"type": "object", "properties": {
    "grant_type": {"type": "string"}, "token": {"type": "string"},
    "scope": {"type": "string"}, "purpose": {"type": "string"},
    "client_id": {"type": "string"}, "client_assertion_type": {"type": "string"},
    "client_assertion": {"type": "string"}}}


def _security(need: Need) -> list[dict[str, list[str]]]:
    if need is Need.PUBLIC:
        return []
    if need is Need.OAUTH:  # the client authenticates itself (Basic, or in the form)
        return [{"clientBasic": []}, {}]
    if need is Need.READ:  # anonymous callers read open data
        return [{}, {"oauth2": ["read"]}]
    return [{"oauth2": [need.value]}]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_TENANT = {"name": "NGSILD-Tenant", "in": "header", "required": False,
           "description": "the tenant (GS CIM 009 4.14); absent: the default tenant",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,40}$"}}


def _operation(path: str, method: str, need: Need) -> dict[str, Any]:
    meta = OPS.get((path, method)) or _m(f"{method} {path} (undescribed)", 200)
    ngsi = path.startswith("/ngsi-ld/")
    media = meta.get("media", "application/json")
    ok: dict[str, Any] = {"description": meta["summary"]}
    if meta["ok"] != 204:
        schema = _ref(meta["response"]) if meta.get("response") else {}
        ok["content"] = {media: {"schema": schema}}
        if ngsi:
            ok["content"][_LD] = {"schema": schema}
    problem = {"description": "problem details",
               "content": {"application/json": {"schema": _ref("Problem")}}}
    responses: dict[str, Any] = {str(meta["ok"]): ok, "400": problem}
    if need is not Need.PUBLIC:
        responses.update({"401": problem, "403": problem})
    if "{" in path:
        responses["404"] = problem
    op: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {path}").strip("_"),
        "summary": meta["summary"], "tags": [_tag(path)], "security": _security(need),
        "x-renkei-need": need.value, "responses": responses,
        "parameters": [*meta["params"], *([_TENANT] if ngsi else [])],
    }
    if meta.get("form"):
        op["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": _FORM}}}
    elif meta.get("body"):
        schema = _ref(meta["body"])
        content = {"application/json": {"schema": schema}}
        if ngsi:
            content[_LD] = {"schema": schema}
        op["requestBody"] = {"required": True, "content": content}
    return op


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if path.startswith("/ngsi-ld/"):
        return "ngsi-ld " + (parts[2] if len(parts) > 2 else parts[-1])
    return parts[0] if parts else "hub"


def _path_item(path: str, methods: dict[str, Need]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    names = re.findall(r"\{([^}]+)\}", path)
    if names:
        item["parameters"] = [{"name": n, "in": "path", "required": True,
                               "schema": {"type": "string", "minLength": 1}} for n in names]
    for method, need in methods.items():
        item[method.lower()] = _operation(path, method, need)
    return item


def _components(issuer: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": _PROBLEM, **NGSI_SCHEMAS}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {"schemas": schemas, "securitySchemes": {
        "oauth2": {"type": "oauth2", "description": "a bearer token from /oauth2/token",
                   "flows": {"clientCredentials": {"tokenUrl": issuer + "/oauth2/token",
                                                   "scopes": _SCOPES}}},
        "clientBasic": {"type": "http", "scheme": "basic",
                        "description": "client id and secret (RFC 6749 2.3.1)"}}}


def _used(node: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    """Collect the component schemas ``node`` refers to, transitively."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                _used(schemas[name], schemas, seen)
        for value in node.values():
            _used(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _used(value, schemas, seen)


@cache
def _document(prefixes: tuple[str, ...], issuer: str) -> dict[str, Any]:
    paths = {path: _path_item(path, dict(methods)) for path, methods in ROUTES.items()
             if not prefixes or path.startswith(prefixes)}
    components = _components(issuer)
    seen: set[str] = set()
    _used(paths, components["schemas"], seen)
    components["schemas"] = {k: v for k, v in components["schemas"].items() if k in seen}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Renkei", "version": "1.0.0", "description": (
            "Everything the hub serves: the NGSI-LD API (ETSI GS CIM 009), the registry, "
            "the DCAT-AP catalogue, the data contracts, access-control management and the "
            "OAuth 2 server. Generated from the route table and the request models the "
            "handlers validate with. NGSI-LD requests may carry a JSON-LD @context in a "
            "Link header (application/json) or in the body (application/ld+json).")},
        "paths": paths, "components": components,
    }


def openapi_document(*prefixes: str, issuer: str = DEFAULT_ISSUER) -> dict[str, Any]:
    """The document; with ``prefixes``, only the paths starting with one of them.
    ``issuer``: the hub's OAuth issuer URL (the token URL must be absolute)."""
    # a copy: the cached one stays intact whatever the caller does with it
    return copy.deepcopy(_document(tuple(prefixes), issuer.rstrip("/")))


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(
        issuer=issuer_of(request.app[keys.SETTINGS])))


@routes.get("/docs/api")
async def api_page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={
        "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'; connect-src 'self'"})
