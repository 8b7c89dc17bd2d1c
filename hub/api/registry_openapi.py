"""The OpenAPI 3.1 document of the registry's management API and the catalogue.

Built from small helpers rather than kept as a hand-written file, so a route and its
description cannot drift apart: ``tests/integration/test_registry_api.py`` checks that every
route the hub serves under ``/registry/v1`` and ``/catalog`` is described here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_NAMES = {"type": "object", "required": ["ja"], "additionalProperties": False,
          "properties": {"ja": {"type": "string"}, "en": {"type": "string"}}}
_TIMES = {"createdAt": {"type": "string", "format": "date-time", "readOnly": True},
          "modifiedAt": {"type": "string", "format": "date-time", "readOnly": True}}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "description": "RFC 7807 problem details with an NGSI-LD error type",
        "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"}},
    },
    "Organisation": {
        "type": "object", "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9]{6}|[0-9]{13})$",
                   "description": "全国地方公共団体コード (6 digits) or 法人番号 (13 digits), "
                                  "check digit validated"},
            "kind": {"enum": ["prefecture", "municipality", "private"],
                     "description": "implied by the id; optional, checked when given"},
            "name": _NAMES, "contact": {"type": "string"},
            "url": {"type": "string", "format": "uri"}, **_TIMES,
        },
    },
    "Rule": {
        "type": "object", "additionalProperties": False,
        "description": "An entity belongs to the dataset when all its types are in entityTypes "
                       "(empty: any) and its id starts with one of idPrefixes (empty: any). "
                       "catchAll: true matches every entity. Overlapping rules are refused.",
        "properties": {"entityTypes": {"type": "array", "items": {"type": "string"}},
                       "idPrefixes": {"type": "array", "items": {"type": "string"}},
                       "catchAll": {"type": "boolean"}},
    },
    "Dataset": {
        "type": "object",
        "required": ["id", "owner", "name", "rule", "licence", "updateFrequency"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"},
            "owner": {"type": "string", "description": "a registered organisation's id"},
            "name": _NAMES, "description": _NAMES, "rule": {"$ref": "#/components/schemas/Rule"},
            "contracts": {"type": "array", "items": {"type": "string"},
                          "description": "contract types the dataset produces (contracts/)"},
            "licence": {"enum": ["CC-BY-4.0", "CC0-1.0", "gov-standard-2.0", "proprietary"]},
            "openData": {"type": "boolean", "description": "readable anonymously"},
            "personalData": {"type": "boolean"},
            "updateFrequency": {"enum": ["continuous", "hourly", "daily", "weekly", "monthly",
                                         "quarterly", "annual", "irregular", "never"]},
            "contact": {"type": "string"}, "source": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}}, **_TIMES,
        },
    },
    "Adapter": {
        "type": "object", "required": ["id", "dataset", "adapter"],
        "properties": {
            "id": {"type": "string"}, "dataset": {"type": "string"},
            "adapter": {"type": "string", "description": "the adapter's manifest id"},
            "config": {"type": "object", "description": (
                "adapter settings; secrets (keys containing password, secret, token, apikey,"
                " credential, authorization, private_key) are write-only: rendered as ***,"
                " and *** sent back keeps the stored value")},
            "schedule": {"type": ["string", "null"],
                         "description": "5-field cron expression or ISO 8601 duration"},
            "enabled": {"type": "boolean"},
            "lastRun": {"oneOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}],
                        "readOnly": True}, **_TIMES,
        },
    },
    "Run": {
        "type": "object", "required": ["startedAt", "status"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "startedAt": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "status": {"enum": ["succeeded", "partial", "failed", "running"]},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Owner": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "types": {"type": "array"},
                       "dataset": {"type": "string"}, "owner": {"type": "string"}},
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "problem details", **_content(_PROBLEM)} for s in statuses}


def _op(summary: str, ok: int, schema: dict[str, Any] | None = None, *,
        body: str | None = None, errors: tuple[int, ...] = (), params: list[Any] | None = None,
        media: str = "application/json") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(ok): {"description": summary, **(_content(schema, media) if schema else {})},
        **_errors(*errors)}}
    if body:
        op["requestBody"] = {"required": True, **_content(_ref(body))}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"}}


def _collection(noun: str, schema: str, filters: list[Any]) -> dict[str, Any]:
    return {
        "get": _op(f"list {noun}s", 200, {"type": "array", "items": _ref(schema)},
                   params=filters, errors=(400,)),
        "post": _op(f"register a {noun}", 201, _ref(schema), body=schema,
                    errors=(400, 403, 409, 415)),
    }


def _item(noun: str, schema: str, param: str, extra_delete: tuple[int, ...] = ()
          ) -> dict[str, Any]:
    return {
        "parameters": [_path_param(param)],
        "get": _op(f"retrieve a {noun}", 200, _ref(schema), errors=(404,)),
        "put": _op(f"create or replace a {noun} (idempotent; 201 when created)", 200,
                   _ref(schema), body=schema, errors=(400, 403, 415)),
        "delete": _op(f"delete a {noun}", 204, errors=(403, 404, *extra_delete)),
    }


def openapi_document() -> dict[str, Any]:
    v1 = "/registry/v1"
    jsonld = {"type": "object", "description": "DCAT-AP JSON-LD"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Renkei registry", "version": "1.0.0",
                 "description": "Organisations, datasets and ownership, adapter registrations "
                                "and runs, and the DCAT-AP catalogue (docs/registry.md). "
                                "Organisations, datasets and the owner lookup are public; "
                                "writes, adapter registrations and runs need a bearer "
                                "token with the manage scope of the owner or the "
                                "platform operator."},
        "paths": {
            f"{v1}/organisations": _collection(
                "organisation", "Organisation",
                [_query("kind", "prefecture, municipality or private")]),
            f"{v1}/organisations/{{orgId}}": _item("organisation", "Organisation", "orgId",
                                                   (400,)),
            f"{v1}/datasets": _collection("dataset", "Dataset",
                                          [_query("owner", "an organisation id")]),
            f"{v1}/datasets/{{datasetId}}": _item("dataset", "Dataset", "datasetId", (400,)),
            f"{v1}/owner": {"get": _op(
                "which dataset owns an entity of this id and these types", 200, _ref("Owner"),
                errors=(400, 404), params=[_query("id", "entity id", True),
                                           _query("type", "comma-separated types", True)])},
            f"{v1}/adapters": _collection("adapter registration", "Adapter",
                                          [_query("dataset", "a dataset id")]),
            f"{v1}/adapters/{{adapterId}}": _item("adapter registration", "Adapter",
                                                  "adapterId"),
            f"{v1}/adapters/{{adapterId}}/runs": {
                "parameters": [_path_param("adapterId")],
                "get": _op("an adapter's runs, newest first", 200,
                           {"type": "array", "items": _ref("Run")}, errors=(400, 404),
                           params=[_query("limit", "1-1000, default 20")]),
                "post": _op("record a run's health", 201, _ref("Run"), body="Run",
                            errors=(400, 403, 404)),
            },
            f"{v1}/openapi.json": {"get": _op("this document", 200, {"type": "object"})},
            "/catalog": {"get": _op("the DCAT-AP catalogue of every dataset", 200, jsonld,
                                    media="application/ld+json")},
            "/catalog/datasets/{datasetId}": {
                "parameters": [_path_param("datasetId")],
                "get": _op("one dataset in DCAT-AP", 200, jsonld, errors=(404,),
                           media="application/ld+json")},
        },
        "components": {"schemas": SCHEMAS},
    }
