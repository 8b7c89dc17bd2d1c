"""The NGSI-LD core @context (GS CIM 009 clause 4.4 and Annex B), built in and never fetched.

Clause 4.4 makes the core @context implicitly present in every request and forbids changing
it; a hub that had to download it would fail whenever ``uri.etsi.org`` is slow or down. So
the term table lives here as data, in the shape of the published document (compact
``ngsi-ld:`` values, ``@version``, ``@protected``, ``@vocab``), and ``hub.jsonld.process``
processes it with the same code as user contexts.

Clients name the core context by the URL of whichever spec version they were written
against; every URL in ``CORE_CONTEXT_URLS`` resolves to these definitions, the terms of
``ngsi-ld-core-context-v1.8.jsonld``. Earlier versions only had fewer terms, so serving them
the v1.8 superset changes no name a v1.3 to v1.7 client could have used with the core's
meaning.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = [
    "CORE_CONTEXT",
    "CORE_CONTEXT_URL",
    "CORE_CONTEXT_URLS",
    "DEFAULT_VOCAB",
    "GEOJSON",
    "LD_CONTEXT_REL",
    "NGSI_LD",
    "core_context_document",
]

NGSI_LD: Final = "https://uri.etsi.org/ngsi-ld/"
GEOJSON: Final = "https://purl.org/geojson/vocab#"
DEFAULT_VOCAB: Final = NGSI_LD + "default-context/"
# the Link relation that names a JSON-LD @context (6.3.5)
LD_CONTEXT_REL: Final = "http://www.w3.org/ns/json-ld#context"

_URL_STEM: Final = "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"
CORE_CONTEXT_URL: Final = f"https://{_URL_STEM}-v1.8.jsonld"
# The unversioned name (v1.0 to v1.2), one name per later version up to the v1.9 name that
# GS CIM 009 V1.9.1 clause 4.4 cites; ``http:`` spellings are accepted as a courtesy.
CORE_CONTEXT_URLS: Final = frozenset(
    f"{scheme}://{_URL_STEM}{suffix}.jsonld"
    for scheme in ("https", "http")
    for suffix in ("", *(f"-v1.{minor}" for minor in range(3, 10)))
)

# The context object (the value of ``@context``). Read-only by convention: the processed
# form is what the hub uses, and ``core_context_document`` hands out copies.
# Terms are in code-point order, as in the published file. Two Annex B oddities are kept on
# purpose: ``attributeCount`` and ``attributeDetails`` map to themselves, i.e. to ``@vocab``
# + term, and ``DateTime`` as a ``@type`` is itself a term (ngsi-ld:DateTime).
CORE_CONTEXT: Final[dict[str, Any]] = {
    "@version": 1.1,
    "@protected": True,
    "ngsi-ld": NGSI_LD,
    "geojson": GEOJSON,
    "id": "@id",
    "type": "@type",
    "Attribute": "ngsi-ld:Attribute",
    "AttributeList": "ngsi-ld:AttributeList",
    "ContextSourceIdentity": "ngsi-ld:ContextSourceIdentity",
    "ContextSourceNotification": "ngsi-ld:ContextSourceNotification",
    "ContextSourceRegistration": "ngsi-ld:ContextSourceRegistration",
    "Date": "ngsi-ld:Date",
    "DateTime": "ngsi-ld:DateTime",
    "EntityType": "ngsi-ld:EntityType",
    "EntityTypeInfo": "ngsi-ld:EntityTypeInfo",
    "EntityTypeList": "ngsi-ld:EntityTypeList",
    "Feature": "geojson:Feature",
    "FeatureCollection": "geojson:FeatureCollection",
    "GeoProperty": "ngsi-ld:GeoProperty",
    "GeometryCollection": "geojson:GeometryCollection",
    "JsonProperty": "ngsi-ld:JsonProperty",
    "LanguageProperty": "ngsi-ld:LanguageProperty",
    "LineString": "geojson:LineString",
    "ListProperty": "ngsi-ld:ListProperty",
    "ListRelationship": "ngsi-ld:ListRelationship",
    "MultiLineString": "geojson:MultiLineString",
    "MultiPoint": "geojson:MultiPoint",
    "MultiPolygon": "geojson:MultiPolygon",
    "Notification": "ngsi-ld:Notification",
    "Point": "geojson:Point",
    "Polygon": "geojson:Polygon",
    "Property": "ngsi-ld:Property",
    "Relationship": "ngsi-ld:Relationship",
    "Subscription": "ngsi-ld:Subscription",
    "TemporalProperty": "ngsi-ld:TemporalProperty",
    "Time": "ngsi-ld:Time",
    "VocabProperty": "ngsi-ld:VocabProperty",
    "accept": "ngsi-ld:accept",
    "attributeCount": "attributeCount",
    "attributeDetails": "attributeDetails",
    "attributeList": {"@id": "ngsi-ld:attributeList", "@type": "@vocab"},
    "attributeName": {"@id": "ngsi-ld:attributeName", "@type": "@vocab"},
    "attributeNames": {"@id": "ngsi-ld:attributeNames", "@type": "@vocab"},
    "attributeTypes": {"@id": "ngsi-ld:attributeTypes", "@type": "@vocab"},
    "attributes": {"@id": "ngsi-ld:attributes", "@type": "@vocab"},
    "attrs": "ngsi-ld:attrs",
    "avg": {"@id": "ngsi-ld:avg", "@container": "@list"},
    "bbox": {"@id": "geojson:bbox", "@container": "@list"},
    "cacheDuration": "ngsi-ld:cacheDuration",
    "containedBy": "ngsi-ld:isContainedBy",
    "contextSourceAlias": "ngsi-ld:contextSourceAlias",
    "contextSourceExtras": {"@id": "ngsi-ld:contextSourceExtras", "@type": "@json"},
    "contextSourceInfo": "ngsi-ld:contextSourceInfo",
    "contextSourceTimeAt": {"@id": "ngsi-ld:contextSourceTimeAt", "@type": "DateTime"},
    "contextSourceUptime": "ngsi-ld:contextSourceUptime",
    "cooldown": "ngsi-ld:cooldown",
    "coordinates": {"@id": "geojson:coordinates", "@container": "@list"},
    "createdAt": {"@id": "ngsi-ld:createdAt", "@type": "DateTime"},
    "csf": "ngsi-ld:csf",
    "data": "ngsi-ld:data",
    "dataset": {"@id": "ngsi-ld:hasDataset", "@container": "@index"},
    "datasetId": {"@id": "ngsi-ld:datasetId", "@type": "@id"},
    "deletedAt": {"@id": "ngsi-ld:deletedAt", "@type": "DateTime"},
    "description": "http://purl.org/dc/terms/description",
    "detail": "ngsi-ld:detail",
    "distinctCount": {"@id": "ngsi-ld:distinctCount", "@container": "@list"},
    "endAt": {"@id": "ngsi-ld:endAt", "@type": "DateTime"},
    "endTimeAt": {"@id": "ngsi-ld:endTimeAt", "@type": "DateTime"},
    "endpoint": "ngsi-ld:endpoint",
    "entities": "ngsi-ld:entities",
    "entity": "ngsi-ld:entity",
    "entityCount": "ngsi-ld:entityCount",
    "entityId": {"@id": "ngsi-ld:entityId", "@type": "@id"},
    "entityList": {"@id": "ngsi-ld:entityList", "@container": "@list"},
    "entityMap": "ngsi-ld:hasEntityMap",
    "error": "ngsi-ld:error",
    "errors": "ngsi-ld:errors",
    "expiresAt": {"@id": "ngsi-ld:expiresAt", "@type": "DateTime"},
    "features": {"@id": "geojson:features", "@container": "@set"},
    "format": "ngsi-ld:format",
    "geoQ": "ngsi-ld:geoQ",
    "geometry": "geojson:geometry",
    "geoproperty": "ngsi-ld:geoproperty",
    "georel": "ngsi-ld:georel",
    "idPattern": "ngsi-ld:idPattern",
    "information": "ngsi-ld:information",
    "instanceId": {"@id": "ngsi-ld:instanceId", "@type": "@id"},
    "isActive": "ngsi-ld:isActive",
    "join": "ngsi-ld:join",
    "joinLevel": "ngsi-ld:hasJoinLevel",
    "json": {"@id": "ngsi-ld:hasJSON", "@type": "@json"},
    "jsonKeys": "ngsi-ld:jsonKeys",
    "jsons": {"@id": "ngsi-ld:jsons", "@container": "@list"},
    "key": "ngsi-ld:hasKey",
    "lang": "ngsi-ld:lang",
    "languageMap": {"@id": "ngsi-ld:hasLanguageMap", "@container": "@language"},
    "languageMaps": {"@id": "ngsi-ld:hasLanguageMaps", "@container": "@list"},
    "lastFailure": {"@id": "ngsi-ld:lastFailure", "@type": "DateTime"},
    "lastNotification": {"@id": "ngsi-ld:lastNotification", "@type": "DateTime"},
    "lastSuccess": {"@id": "ngsi-ld:lastSuccess", "@type": "DateTime"},
    "linkedMaps": "ngsi-ld:linkedMaps",
    "localOnly": "ngsi-ld:localOnly",
    "location": "ngsi-ld:location",
    "management": "ngsi-ld:management",
    "managementInterval": "ngsi-ld:managementInterval",
    "max": {"@id": "ngsi-ld:max", "@container": "@list"},
    "min": {"@id": "ngsi-ld:min", "@container": "@list"},
    "mode": "ngsi-ld:mode",
    "modifiedAt": {"@id": "ngsi-ld:modifiedAt", "@type": "DateTime"},
    "notUpdated": "ngsi-ld:notUpdated",
    "notification": "ngsi-ld:notification",
    "notificationTrigger": "ngsi-ld:notificationTrigger",
    "notifiedAt": {"@id": "ngsi-ld:notifiedAt", "@type": "DateTime"},
    "notifierInfo": "ngsi-ld:notifierInfo",
    "object": {"@id": "ngsi-ld:hasObject", "@type": "@id"},
    "objectList": {"@id": "ngsi-ld:hasObjectList", "@container": "@list"},
    "objectLists": {"@id": "ngsi-ld:hasObjectLists", "@container": "@list"},
    "objectType": {"@id": "ngsi-ld:hasObjectType", "@type": "@vocab"},
    "objects": {"@id": "ngsi-ld:hasObjects", "@container": "@list"},
    "observationInterval": "ngsi-ld:observationInterval",
    "observationSpace": "ngsi-ld:observationSpace",
    "observedAt": {"@id": "ngsi-ld:observedAt", "@type": "DateTime"},
    "omit": "ngsi-ld:omit",
    "operationSpace": "ngsi-ld:operationSpace",
    "operations": "ngsi-ld:operations",
    "pick": "ngsi-ld:pick",
    "previousJson": {"@id": "ngsi-ld:hasPreviousJson", "@type": "@json"},
    "previousLanguageMap": {"@id": "ngsi-ld:hasPreviousLanguageMap", "@container": "@language"},
    "previousObject": {"@id": "ngsi-ld:hasPreviousObject", "@type": "@id"},
    "previousObjectList": {"@id": "ngsi-ld:hasPreviousObjectList", "@container": "@list"},
    "previousValue": "ngsi-ld:hasPreviousValue",
    "previousValueList": {"@id": "ngsi-ld:hasPreviousValueList", "@container": "@list"},
    "previousVocab": {"@id": "ngsi-ld:hasPreviousVocab", "@type": "@vocab"},
    "properties": "geojson:properties",
    "propertyNames": {"@id": "ngsi-ld:propertyNames", "@type": "@vocab"},
    "q": "ngsi-ld:q",
    "reason": "ngsi-ld:reason",
    "receiverInfo": "ngsi-ld:receiverInfo",
    "refreshRate": "ngsi-ld:refreshRate",
    "registrationId": "ngsi-ld:registrationId",
    "registrationName": "ngsi-ld:registrationName",
    "relationshipNames": {"@id": "ngsi-ld:relationshipNames", "@type": "@vocab"},
    "scope": "ngsi-ld:scope",
    "scopeQ": "ngsi-ld:scopeQ",
    "showChanges": "ngsi-ld:showChanges",
    "startAt": {"@id": "ngsi-ld:startAt", "@type": "DateTime"},
    "status": "ngsi-ld:status",
    "stddev": {"@id": "ngsi-ld:stddev", "@container": "@list"},
    "subscriptionId": {"@id": "ngsi-ld:subscriptionId", "@type": "@id"},
    "subscriptionName": "ngsi-ld:subscriptionName",
    "success": {"@id": "ngsi-ld:success", "@type": "@id"},
    "sum": {"@id": "ngsi-ld:sum", "@container": "@list"},
    "sumsq": {"@id": "ngsi-ld:sumsq", "@container": "@list"},
    "sysAttrs": "ngsi-ld:sysAttrs",
    "temporalQ": "ngsi-ld:temporalQ",
    "tenant": {"@id": "ngsi-ld:tenant", "@type": "@id"},
    "throttling": "ngsi-ld:throttling",
    "timeAt": {"@id": "ngsi-ld:timeAt", "@type": "DateTime"},
    "timeInterval": "ngsi-ld:timeInterval",
    "timeout": "ngsi-ld:timeout",
    "timeproperty": "ngsi-ld:timeproperty",
    "timerel": "ngsi-ld:timerel",
    "timesFailed": "ngsi-ld:timesFailed",
    "timesSent": "ngsi-ld:timesSent",
    "title": "http://purl.org/dc/terms/title",
    "totalCount": {"@id": "ngsi-ld:totalCount", "@container": "@list"},
    "triggerReason": "ngsi-ld:triggerReason",
    "typeList": {"@id": "ngsi-ld:typeList", "@type": "@vocab"},
    "typeName": {"@id": "ngsi-ld:typeName", "@type": "@vocab"},
    "typeNames": {"@id": "ngsi-ld:typeNames", "@type": "@vocab"},
    "unchanged": "ngsi-ld:unchanged",
    "unitCode": "ngsi-ld:unitCode",
    "updated": "ngsi-ld:updated",
    "uri": "ngsi-ld:uri",
    "value": "ngsi-ld:hasValue",
    "valueList": {"@id": "ngsi-ld:hasValueList", "@container": "@list"},
    "valueLists": {"@id": "ngsi-ld:hasValueLists", "@container": "@list"},
    "values": {"@id": "ngsi-ld:hasValues", "@container": "@list"},
    "vocab": {"@id": "ngsi-ld:hasVocab", "@type": "@vocab"},
    "vocabs": {"@id": "ngsi-ld:hasVocabs", "@container": "@list"},
    "watchedAttributes": {"@id": "ngsi-ld:watchedAttributes", "@type": "@vocab"},
    "@vocab": DEFAULT_VOCAB,
}


def core_context_document() -> dict[str, Any]:
    """A fresh ``{"@context": {...}}`` for ``GET /jsonldContexts/{core}`` (clause 5.13.4).

    A deep copy, so a caller that decorates its response cannot alter the built-in terms.
    """
    return {"@context": copy.deepcopy(CORE_CONTEXT)}
