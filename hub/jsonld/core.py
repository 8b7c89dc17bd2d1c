"""The NGSI-LD core @context (GS CIM 009 Annex B), built in and never fetched.

Clients name the core context by several URLs (one per spec version); every one of them
resolves to these definitions, so a hub without network access still understands them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CORE_CONTEXT_URL", "CORE_CONTEXT_URLS", "CORE_TERMS", "DEFAULT_VOCAB",
           "core_context_document"]

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CORE_CONTEXT_URLS = frozenset(
    {CORE_CONTEXT_URL, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}
    | {f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{m}.jsonld" for m in range(0, 9)}
    | {f"http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{m}.jsonld" for m in range(0, 9)}
)
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
GEOJSON = "https://purl.org/geojson/vocab#"
DEFAULT_VOCAB = NGSI_LD + "default-context/"

_DT = "DateTime"
# term -> (IRI suffix under ngsi-ld:, coercion) ; coercion None | "@id" | "@vocab" | "@json" |
# "DateTime" | "@list"
_NGSI: dict[str, tuple[str, str | None]] = {
    "Attribute": ("Attribute", None), "AttributeList": ("AttributeList", None),
    "ContextSourceIdentity": ("ContextSourceIdentity", None),
    "ContextSourceNotification": ("ContextSourceNotification", None),
    "ContextSourceRegistration": ("ContextSourceRegistration", None),
    "Date": ("Date", None), "DateTime": ("DateTime", None), "EntityType": ("EntityType", None),
    "EntityTypeInfo": ("EntityTypeInfo", None), "EntityTypeList": ("EntityTypeList", None),
    "GeoProperty": ("GeoProperty", None), "JsonProperty": ("JsonProperty", None),
    "LanguageProperty": ("LanguageProperty", None), "ListProperty": ("ListProperty", None),
    "ListRelationship": ("ListRelationship", None), "Notification": ("Notification", None),
    "Property": ("Property", None), "Relationship": ("Relationship", None),
    "Subscription": ("Subscription", None), "TemporalProperty": ("TemporalProperty", None),
    "Time": ("Time", None), "VocabProperty": ("VocabProperty", None),
    "accept": ("accept", None), "attributeCount": ("attributeCount", None),
    "attributeDetails": ("attributeDetails", None),
    "attributeList": ("attributeList", "@vocab"), "attributeName": ("attributeName", "@vocab"),
    "attributeNames": ("attributeNames", "@vocab"),
    "attributeTypes": ("attributeTypes", "@vocab"), "attributes": ("attributes", "@vocab"),
    "cacheDuration": ("cacheDuration", None), "containedBy": ("isContainedBy", None),
    "contextSourceAlias": ("contextSourceAlias", None),
    "contextSourceExtras": ("contextSourceExtras", "@json"),
    "contextSourceInfo": ("contextSourceInfo", None),
    "contextSourceTimeAt": ("contextSourceTimeAt", _DT),
    "contextSourceUptime": ("contextSourceUptime", None), "cooldown": ("cooldown", None),
    "createdAt": ("createdAt", _DT), "csf": ("csf", None), "data": ("data", None),
    "datasetId": ("datasetId", "@id"), "deletedAt": ("deletedAt", _DT),
    "detail": ("detail", None), "distance": ("distance", None), "endAt": ("endAt", _DT),
    "endTimeAt": ("endTimeAt", _DT), "endpoint": ("endpoint", None),
    "entities": ("entities", None), "entity": ("entity", None),
    "entityCount": ("entityCount", None), "entityId": ("entityId", "@id"),
    "entityList": ("entityList", "@list"), "entityMap": ("hasEntityMap", None),
    "error": ("error", None), "errors": ("errors", None), "expiresAt": ("expiresAt", _DT),
    "format": ("format", None), "geoQ": ("geoQ", None), "geoproperty": ("geoproperty", None),
    "georel": ("georel", None), "hasObject": ("hasObject", "@id"),
    "hasObjectType": ("hasObjectType", "@vocab"), "hasValue": ("hasValue", None),
    "idPattern": ("idPattern", None), "information": ("information", None),
    "instanceId": ("instanceId", "@id"), "isActive": ("isActive", None),
    "json": ("hasJSON", "@json"), "jsonKeys": ("jsonKeys", None), "lang": ("lang", None),
    "languageMap": ("hasLanguageMap", None), "lastFailure": ("lastFailure", _DT),
    "lastNotification": ("lastNotification", _DT), "lastSuccess": ("lastSuccess", _DT),
    "localOnly": ("localOnly", None), "location": ("location", None),
    "management": ("management", None), "managementInterval": ("managementInterval", None),
    "mode": ("mode", None), "modifiedAt": ("modifiedAt", _DT),
    "notification": ("notification", None),
    "notificationTrigger": ("notificationTrigger", None), "notifiedAt": ("notifiedAt", _DT),
    "notifierInfo": ("notifierInfo", None), "notUpdated": ("notUpdated", None),
    "object": ("hasObject", "@id"), "objectList": ("hasObjectList", "@list"),
    "objectType": ("hasObjectType", "@vocab"),
    "observationInterval": ("observationInterval", None),
    "observationSpace": ("observationSpace", None), "observedAt": ("observedAt", _DT),
    "operationSpace": ("operationSpace", None), "operations": ("operations", None),
    "previousJson": ("hasPreviousJson", "@json"),
    "previousLanguageMap": ("hasPreviousLanguageMap", None),
    "previousObject": ("hasPreviousObject", "@id"),
    "previousObjectList": ("hasPreviousObjectList", "@list"),
    "previousValue": ("hasPreviousValue", None),
    "previousValueList": ("hasPreviousValueList", "@list"),
    "previousVocab": ("hasPreviousVocab", "@vocab"), "q": ("q", None),
    "reason": ("reason", None), "receiverInfo": ("receiverInfo", None),
    "refreshRate": ("refreshRate", None), "registrationId": ("registrationId", None),
    "registrationName": ("registrationName", None),
    "relationshipNames": ("relationshipNames", "@vocab"), "scope": ("scope", None),
    "scopeQ": ("scopeQ", None), "showChanges": ("showChanges", None),
    "startAt": ("startAt", _DT), "status": ("status", None), "stackTrace": ("stackTrace", None),
    "subscriptionId": ("subscriptionId", "@id"), "subscriptionName": ("subscriptionName", None),
    "success": ("success", "@id"), "sysAttrs": ("sysAttrs", None),
    "temporalQ": ("temporalQ", None), "tenant": ("tenant", "@id"),
    "throttling": ("throttling", None), "timeAt": ("timeAt", _DT),
    "timeInterval": ("timeInterval", None), "timeout": ("timeout", None),
    "timeproperty": ("timeproperty", None), "timerel": ("timerel", None),
    "timesFailed": ("timesFailed", None), "timesSent": ("timesSent", None),
    "totalCount": ("totalCount", None), "triggerReason": ("triggerReason", None),
    "typeList": ("typeList", "@vocab"), "typeName": ("typeName", "@vocab"),
    "typeNames": ("typeNames", "@vocab"), "unchanged": ("unchanged", None),
    "unitCode": ("unitCode", None), "updated": ("updated", None), "uri": ("uri", None),
    "value": ("hasValue", None), "valueList": ("hasValueList", "@list"),
    "vocab": ("hasVocab", "@vocab"), "watchedAttributes": ("watchedAttributes", "@vocab"),
}
_GEO = ("Feature", "FeatureCollection", "GeometryCollection", "LineString", "MultiLineString",
        "MultiPoint", "MultiPolygon", "Point", "Polygon", "bbox", "coordinates", "features",
        "geometry", "properties")


def _definition(iri: str, coercion: str | None) -> Any:
    if coercion is None:
        return iri
    if coercion == "@list":
        return {"@id": iri, "@container": "@list"}
    return {"@id": iri, "@type": coercion}


def _build_terms() -> dict[str, Any]:
    terms: dict[str, Any] = {"ngsi-ld": NGSI_LD, "geojson": GEOJSON, "id": "@id",
                             "type": "@type"}
    for term, (suffix, coercion) in _NGSI.items():
        terms[term] = _definition("ngsi-ld:" + suffix, coercion)
    for term in _GEO:
        terms[term] = "geojson:" + term
    terms["title"] = "http://purl.org/dc/terms/title"
    terms["description"] = "http://purl.org/dc/terms/description"
    terms["@vocab"] = DEFAULT_VOCAB
    return terms


CORE_TERMS: dict[str, Any] = _build_terms()


def core_context_document() -> dict[str, Any]:
    return {"@context": CORE_TERMS}
