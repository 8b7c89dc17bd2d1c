"""The NGSI-LD part of the hub's OpenAPI document: data types and query parameters, written
from the facts of ETSI GS CIM 009 (not copied from ETSI's own OpenAPI text).

The parameters an operation lists come from ``hub/api/params.py`` ``ALLOWED`` — the very
sets the handlers enforce (an unknown parameter is 400) — so the document lists exactly
what each handler takes; ``PARAMS`` says what each one means.
"""

from __future__ import annotations

from typing import Any

from hub.api.params import ALLOWED

__all__ = ["NGSI_OPS", "NGSI_SCHEMAS", "query_params"]

_S = {"type": "string"}
_CSV = {"type": "string", "description": "comma-separated"}
_BOOL = {"type": "string", "enum": ["true", "false"]}
_INT = {"type": "integer", "minimum": 0}

#: query parameter -> (schema, meaning), GS CIM 009 6.3 and 4.x
PARAMS: dict[str, tuple[dict[str, Any], str]] = {
    "id": (_CSV, "entity ids (URIs)"),
    "idPattern": (_S, "regular expression the entity id matches (RE2, linear time)"),
    "type": (_S, "entity type or type expression (4.17): A,B  A;B  (A|B);C"),
    "attrs": (_CSV, "attribute names to return (and to have, in queries)"),
    "pick": (_S, "projection: members to keep (4.21)"),
    "omit": (_S, "projection: members to drop (4.21)"),
    "q": (_S, "NGSI-LD query language (4.9), e.g. temperature>20;status==\"ok\""),
    "scopeQ": (_S, "scope query (4.19)"),
    "csf": (_S, "context source filter"),
    "georel": (_S, "near;maxDistance==…, within, contains, intersects, equals, disjoint, "
                   "overlaps (4.10)"),
    "geometry": ({"type": "string", "enum": ["Point", "MultiPoint", "LineString",
                                             "MultiLineString", "Polygon", "MultiPolygon"]},
                 "geometry of the geo-query"),
    "coordinates": (_S, "GeoJSON coordinates of the geo-query, as JSON text"),
    "geoproperty": (_S, "the GeoProperty a geo-query applies to (default location)"),
    "geometryProperty": (_S, "the GeoProperty a GeoJSON rendering uses as geometry"),
    "lang": (_S, "language to render LanguageProperties in (4.15)"),
    "options": (_CSV, "keyValues, simplified, concise, normalized, sysAttrs, count, "
                      "noOverwrite, replace, update, unitCode"),
    "format": ({"type": "string", "enum": ["normalized", "concise", "keyValues",
                                           "simplified"]}, "representation (6.3.7)"),
    "limit": (_INT, "page size"),
    "offset": (_INT, "page start"),
    "count": (_BOOL, "return NGSILD-Results-Count"),
    "orderBy": (_S, "attribute(s) to order by (Renkei: one attribute, optional ;desc)"),
    "local": (_BOOL, "answer from this broker only (no federation)"),
    "via": (_S, "brokers already visited (federation loop prevention)"),
    "datasetId": (_CSV, "attribute instances to consider (@none: the default instance)"),
    "deleteAll": (_BOOL, "delete every instance of the attribute"),
    "join": ({"type": "string", "enum": ["inline", "flat", "@none"]},
             "linked-entity retrieval (4.5.23)"),
    "joinLevel": ({"type": "integer", "minimum": 1}, "depth of linked-entity retrieval"),
    "containedBy": (_CSV, "entity ids already included (linked-entity retrieval)"),
    "entityMap": (_BOOL, "return the entity map"),
    "jsonKeys": (_CSV, "attributes whose value is JSON, not JSON-LD"),
    "expandValues": (_CSV, "attributes whose string values expand as IRIs"),
    "collect": (_S, "collect attributes (federation)"),
    "keep": (_CSV, "purge: attributes to keep"),
    "drop": (_CSV, "purge: attributes to drop"),
    "observedAt": ({"type": "string", "format": "date-time"}, "observedAt to stamp"),
    "details": (_BOOL, "detailed type / attribute information"),
    "kind": ({"type": "string", "enum": ["hosted", "cached", "implicitlycreated"]},
             "which @contexts to list"),
    "reload": (_BOOL, "fetch a cached @context again"),
    "timerel": ({"type": "string", "enum": ["before", "after", "between"]},
                "temporal relation (4.11)"),
    "timeAt": ({"type": "string", "format": "date-time"}, "temporal query start"),
    "endTimeAt": ({"type": "string", "format": "date-time"}, "end, with timerel=between"),
    "timeproperty": ({"type": "string", "enum": ["observedAt", "createdAt", "modifiedAt"]},
                     "which time the temporal query uses"),
    "lastN": ({"type": "integer", "minimum": 1}, "the last N instances per attribute"),
    "aggrMethods": (_CSV, "totalCount, distinctCount, sum, avg, min, max, stddev, sumsq"),
    "aggrPeriodDuration": (_S, "ISO 8601 duration of each aggregation period"),
}


def query_params(kind: str | None, *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The query parameters a handler of ``kind`` (a key of ``params.ALLOWED``) takes."""
    names = sorted(ALLOWED[kind]) if kind else []
    return [{"name": n, "in": "query", "required": n in required,
             "description": PARAMS.get(n, (_S, n))[1], "schema": PARAMS.get(n, (_S, n))[0]}
            for n in names]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_URI = {"type": "string", "format": "uri"}
_ATTRIBUTE = {"description": "an attribute: a normalized instance, an array of instances "
                             "(multi-attribute, by datasetId) or, in concise and "
                             "keyValues form, a bare value",
              "oneOf": [_ref("Attribute"), {"type": "array", "items": _ref("Attribute")},
                        {"type": ["string", "number", "boolean", "array", "object",
                                  "null"]}]}

NGSI_SCHEMAS: dict[str, Any] = {
    "Entity": {
        "type": "object", "required": ["id", "type"],
        "description": "GS CIM 009 5.2.4. Every other member is an attribute.",
        "properties": {
            "id": _URI,
            "type": {"oneOf": [_S, {"type": "array", "items": _S, "minItems": 1}]},
            "scope": {"oneOf": [_S, {"type": "array", "items": _S}]},
            "@context": {"description": "JSON-LD @context (with application/ld+json)"},
            "createdAt": {"type": "string", "format": "date-time", "readOnly": True},
            "modifiedAt": {"type": "string", "format": "date-time", "readOnly": True},
        },
        "additionalProperties": _ATTRIBUTE,
    },
    "Attribute": {
        "type": "object", "required": ["type"],
        "description": "GS CIM 009 5.2.5-5.2.37: an attribute instance; sub-attributes are "
                       "further members",
        "properties": {
            "type": {"enum": ["Property", "Relationship", "GeoProperty", "LanguageProperty",
                              "VocabProperty", "JsonProperty", "ListProperty",
                              "ListRelationship"]},
            "value": {}, "object": {"oneOf": [_URI, {"type": "array", "items": _URI}]},
            "languageMap": {"type": "object", "additionalProperties": _S},
            "vocab": {}, "json": {}, "valueList": {"type": "array"},
            "objectList": {"type": "array"},
            "datasetId": _URI, "observedAt": {"type": "string", "format": "date-time"},
            "unitCode": _S,
        },
    },
    "Fragment": {"type": "object", "description": "attributes to append, update or merge",
                 "additionalProperties": _ATTRIBUTE},
    "Entities": {"type": "array", "items": _ref("Entity")},
    "EntityIds": {"type": "array", "items": _URI, "minItems": 1},
    "BatchOperationResult": {
        "type": "object", "description": "GS CIM 009 5.2.16",
        "properties": {"success": {"type": "array", "items": _URI},
                       "errors": {"type": "array", "items": {
                           "type": "object", "properties": {
                               "entityId": _URI, "error": _ref("Problem")}}}},
    },
    "Query": {
        "type": "object", "required": ["type"], "description": "GS CIM 009 5.2.23",
        "properties": {
            "type": {"const": "Query"},
            "entities": {"type": "array", "items": {"type": "object", "properties": {
                "type": _S, "id": _URI, "idPattern": _S}}},
            "attrs": {"type": "array", "items": _S}, "q": _S, "scopeQ": _S, "csf": _S,
            "geoQ": {"type": "object"}, "temporalQ": {"type": "object"}, "lang": _S,
        },
    },
    "EntityTypeList": {"type": "object", "description": "GS CIM 009 5.2.24-5.2.26"},
    "AttributeList": {"type": "object", "description": "GS CIM 009 5.2.27-5.2.29"},
    "TemporalEntity": {
        "type": "object", "required": ["id"],
        "description": "GS CIM 009 5.2.19: each attribute is an array of timed instances",
        "properties": {"id": _URI, "type": {}},
        "additionalProperties": True,
    },
    "ContextDocument": {"type": "object", "required": ["@context"],
                        "properties": {"@context": {}}},
    "Aggregates": {"type": "object", "description": "grouped counts, sums and averages"},
    "DeadLetters": {"type": "array", "items": {"type": "object"}},
    "Replay": {"type": "object", "properties": {"ids": {"type": "array", "items": _S}}},
    "Notification": {"type": "object", "required": ["type", "data"],
                     "description": "GS CIM 009 5.3.1, from a context source",
                     "properties": {"type": {"const": "Notification"}, "id": _URI,
                                    "subscriptionId": _URI, "notifiedAt": _S,
                                    "data": _ref("Entities")}},
}


def _op(summary: str, ok: int, kind: str | None, *, body: str | None = None,
        response: str | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"summary": summary, "ok": ok, "params": query_params(kind, required=required),
            "body": body, "response": response}


E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
B = "/ngsi-ld/v1/entityOperations"
_TODO = "not implemented: 501 NotImplemented"

#: (path, method) -> metadata of the NGSI-LD operations (GS CIM 009 clause 6)
NGSI_OPS: dict[tuple[str, str], dict[str, Any]] = {
    (E, "GET"): _op("query entities (6.4.3.2)", 200, "query", response="Entities"),
    (E, "POST"): _op("create an entity (6.4.3.1)", 201, "create", body="Entity"),
    (E, "DELETE"): _op("purge entities matching a query", 204, "purge"),
    (E + "/{entityId}", "GET"): _op("retrieve an entity (6.5.3.1)", 200, "retrieve",
                                    response="Entity"),
    (E + "/{entityId}", "PUT"): _op("replace an entity (6.5.3.3)", 204, "replace",
                                    body="Entity"),
    (E + "/{entityId}", "PATCH"): _op("merge an entity (6.5.3.4)", 204, "merge",
                                      body="Fragment"),
    (E + "/{entityId}", "DELETE"): _op("delete an entity (6.5.3.2)", 204, "delete"),
    (E + "/{entityId}/attrs", "POST"): _op("append attributes (6.6.3.1)", 204, "append",
                                           body="Fragment"),
    (E + "/{entityId}/attrs", "PATCH"): _op("update attributes (6.6.3.2)", 204, "update",
                                            body="Fragment"),
    (E + "/{entityId}/attrs/{attrId}", "PUT"): _op("replace an attribute (6.7.3.3)", 204,
                                                   "attr", body="Fragment"),
    (E + "/{entityId}/attrs/{attrId}", "PATCH"): _op("partial attribute update (6.7.3.1)",
                                                     204, "attr", body="Fragment"),
    (E + "/{entityId}/attrs/{attrId}", "DELETE"): _op("delete an attribute (6.7.3.2)", 204,
                                                      "attr"),
    (B + "/create", "POST"): _op("batch create (6.14)", 201, "batch", body="Entities",
                                 response="BatchOperationResult"),
    (B + "/upsert", "POST"): _op("batch upsert (6.15)", 201, "batch", body="Entities",
                                 response="BatchOperationResult"),
    (B + "/update", "POST"): _op("batch update (6.16)", 204, "batch", body="Entities",
                                 response="BatchOperationResult"),
    (B + "/merge", "POST"): _op("batch merge (6.31)", 204, "batch", body="Entities",
                                response="BatchOperationResult"),
    (B + "/delete", "POST"): _op("batch delete (6.17)", 204, "batch", body="EntityIds",
                                 response="BatchOperationResult"),
    (B + "/query", "POST"): _op("query entities with a Query body (6.23)", 200,
                                "batch_query", body="Query", response="Entities"),
    ("/ngsi-ld/v1/types", "GET"): _op("entity types (6.25)", 200, "discovery",
                                      response="EntityTypeList"),
    ("/ngsi-ld/v1/types/{type}", "GET"): _op("one entity type (6.26)", 200, "discovery",
                                             response="EntityTypeList"),
    ("/ngsi-ld/v1/attributes", "GET"): _op("attributes (6.27)", 200, "discovery",
                                           response="AttributeList"),
    ("/ngsi-ld/v1/attributes/{attrId}", "GET"): _op("one attribute (6.28)", 200,
                                                    "discovery", response="AttributeList"),
    ("/ngsi-ld/v1/jsonldContexts", "GET"): _op("@contexts held (6.29)", 200, "contexts"),
    ("/ngsi-ld/v1/jsonldContexts", "POST"): _op("host an @context (6.29)", 201, "contexts",
                                                body="ContextDocument"),
    ("/ngsi-ld/v1/jsonldContexts/{contextId}", "GET"): _op(
        "one @context (6.30)", 200, "contexts", response="ContextDocument"),
    ("/ngsi-ld/v1/jsonldContexts/{contextId}", "DELETE"): _op(
        "delete or reload an @context (6.30)", 204, "contexts"),
    ("/ngsi-ld/v1/subscriptions", "GET"): _op("the caller's subscriptions (6.10)", 200,
                                              "subscriptions"),
    ("/ngsi-ld/v1/subscriptions", "POST"): _op("create a subscription (6.10)", 201, "create",
                                               body="SubscriptionBody"),
    ("/ngsi-ld/v1/subscriptions/{subscriptionId}", "GET"): _op(
        "retrieve a subscription (6.11)", 200, "subscription"),
    ("/ngsi-ld/v1/subscriptions/{subscriptionId}", "PATCH"): _op(
        "update a subscription (6.11)", 204, "create", body="SubscriptionPatch"),
    ("/ngsi-ld/v1/subscriptions/{subscriptionId}", "DELETE"): _op(
        "delete a subscription (6.11)", 204, "create"),
    (T, "GET"): _op("temporal query (6.18)", 200, "temporal_query",
                    response="TemporalEntity"),
    (T, "POST"): _op("create or add temporal instances (6.18)", 201, "create",
                     body="TemporalEntity"),
    (T + "/{entityId}", "GET"): _op("temporal retrieve (6.19)", 200, "temporal_query",
                                    response="TemporalEntity"),
    (T + "/{entityId}", "DELETE"): _op("delete a temporal entity (6.19)", 204, None),
    (T + "/{entityId}/attrs", "POST"): _op("add temporal instances (6.20)", 204, None,
                                           body="TemporalEntity"),
    (T + "/{entityId}/attrs/{attrId}", "DELETE"): _op("delete a temporal attribute (6.21)",
                                                      204, None),
    (T + "/{entityId}/attrs/{attrId}/{instanceId}", "PATCH"): _op(
        "modify an attribute instance (6.22)", 204, None, body="Fragment"),
    (T + "/{entityId}/attrs/{attrId}/{instanceId}", "DELETE"): _op(
        "delete an attribute instance (6.22)", 204, None),
    ("/ngsi-ld/ex/v1/aggregates", "GET"): _op(
        "grouped counts, sums and averages (Renkei extension)", 200, None,
        response="Aggregates"),
    ("/ngsi-ld/ex/v1/subscriptions/{subscriptionId}/deadLetters", "GET"): _op(
        "a subscription's dead letters (Renkei extension)", 200, None,
        response="DeadLetters"),
    ("/ngsi-ld/ex/v1/subscriptions/{subscriptionId}/deadLetters/replay", "POST"): _op(
        "deliver dead letters again (Renkei extension)", 200, None, body="Replay"),
    ("/ngsi-ld/ex/v1/federation/notifications/{forwardId}", "POST"): _op(
        "a context source's notification for a subscription this hub made there (Renkei "
        "extension; the forwardId is the credential)", 204, None, body="Notification"),
}
_CSR = "/ngsi-ld/v1/csourceRegistrations"
_CSS = "/ngsi-ld/v1/csourceSubscriptions"
NGSI_OPS.update({  # context sources (hub/api/csources.py)
    (_CSR, "GET"): _op("discover context source registrations (5.10.2, 6.8.3.1)", 200, None),
    (_CSR, "POST"): _op("register a context source (5.9.2, 6.8.3.2); owner: the caller's "
                        "organisation", 201, None),
    (_CSR + "/{registrationId}", "GET"): _op("retrieve a registration (5.10.1, 6.9.3.1)",
                                             200, None),
    (_CSR + "/{registrationId}", "PATCH"): _op("update a registration (5.9.3, 6.9.3.2); "
                                               "owner or operator only", 204, None),
    (_CSR + "/{registrationId}", "DELETE"): _op("delete a registration (5.9.4, 6.9.3.3); "
                                                "owner or operator only", 204, None),
    (_CSS, "GET"): _op("the caller's registration subscriptions (5.11.5, 6.10)", 200, None),
    (_CSS, "POST"): _op("subscribe to registrations (5.11.2, 6.10)", 201, None),
    (_CSS + "/{subscriptionId}", "GET"): _op("retrieve a registration subscription (5.11.4)",
                                             200, None),
    (_CSS + "/{subscriptionId}", "PATCH"): _op("update a registration subscription (5.11.3)",
                                               204, None),
    (_CSS + "/{subscriptionId}", "DELETE"): _op(
        "delete a registration subscription (5.11.6)", 204, None),
    ("/ngsi-ld/v1/info/sourceIdentity", "GET"): _op(
        "this hub as a context source: ContextSourceIdentity", 200, None),
})
for _path, _methods in (
        ("/ngsi-ld/v1/temporal/entityOperations/query", ("POST",)),
        ("/ngsi-ld/v1/info/conformance", ("GET",))):
    for _m in _methods:
        NGSI_OPS[(_path, _m)] = _op(_TODO, 501, None)
