"""The built-in core @context: its URLs, its served document, and what its terms mean."""

from __future__ import annotations

from collections import Counter

import pytest

from hub.jsonld.core import (
    CORE_CONTEXT,
    CORE_CONTEXT_URL,
    CORE_CONTEXT_URLS,
    DEFAULT_VOCAB,
    core_context_document,
)
from hub.jsonld.process import core_active_context

NGSI = "https://uri.etsi.org/ngsi-ld/"
GEO = "https://purl.org/geojson/vocab#"


def test_urls() -> None:
    assert CORE_CONTEXT_URL == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    assert CORE_CONTEXT_URL in CORE_CONTEXT_URLS
    assert "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld" in CORE_CONTEXT_URLS
    for minor in range(3, 8):
        url = f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld"
        assert url in CORE_CONTEXT_URLS


def test_document_shape() -> None:
    doc = core_context_document()
    ctx = doc["@context"]
    assert set(doc) == {"@context"}
    assert ctx["@version"] == 1.1 and ctx["@protected"] is True
    assert ctx["ngsi-ld"] == NGSI and ctx["geojson"] == GEO
    assert ctx["id"] == "@id" and ctx["type"] == "@type"
    assert ctx["value"] == "ngsi-ld:hasValue"
    assert ctx["object"] == {"@id": "ngsi-ld:hasObject", "@type": "@id"}
    assert ctx["@vocab"] == DEFAULT_VOCAB == NGSI + "default-context/"


def test_document_is_a_copy() -> None:
    doc = core_context_document()
    doc["@context"]["object"]["@type"] = "@vocab"
    doc["@context"]["extra"] = "x"
    assert CORE_CONTEXT["object"] == {"@id": "ngsi-ld:hasObject", "@type": "@id"}
    assert "extra" not in core_context_document()["@context"]


@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("id", "@id"),
        ("type", "@type"),
        ("value", NGSI + "hasValue"),
        ("object", NGSI + "hasObject"),
        ("languageMap", NGSI + "hasLanguageMap"),
        ("vocab", NGSI + "hasVocab"),
        ("json", NGSI + "hasJSON"),
        ("valueList", NGSI + "hasValueList"),
        ("objectList", NGSI + "hasObjectList"),
        ("objectType", NGSI + "hasObjectType"),
        ("Property", NGSI + "Property"),
        ("Relationship", NGSI + "Relationship"),
        ("GeoProperty", NGSI + "GeoProperty"),
        ("LanguageProperty", NGSI + "LanguageProperty"),
        ("VocabProperty", NGSI + "VocabProperty"),
        ("JsonProperty", NGSI + "JsonProperty"),
        ("ListProperty", NGSI + "ListProperty"),
        ("ListRelationship", NGSI + "ListRelationship"),
        ("observedAt", NGSI + "observedAt"),
        ("createdAt", NGSI + "createdAt"),
        ("modifiedAt", NGSI + "modifiedAt"),
        ("deletedAt", NGSI + "deletedAt"),
        ("datasetId", NGSI + "datasetId"),
        ("instanceId", NGSI + "instanceId"),
        ("unitCode", NGSI + "unitCode"),
        ("location", NGSI + "location"),
        ("observationSpace", NGSI + "observationSpace"),
        ("operationSpace", NGSI + "operationSpace"),
        ("scope", NGSI + "scope"),
        ("containedBy", NGSI + "isContainedBy"),
        ("Subscription", NGSI + "Subscription"),
        ("ContextSourceRegistration", NGSI + "ContextSourceRegistration"),
        ("Notification", NGSI + "Notification"),
        ("watchedAttributes", NGSI + "watchedAttributes"),
        ("endpoint", NGSI + "endpoint"),
        ("Point", GEO + "Point"),
        ("Polygon", GEO + "Polygon"),
        ("MultiPolygon", GEO + "MultiPolygon"),
        ("Feature", GEO + "Feature"),
        ("FeatureCollection", GEO + "FeatureCollection"),
        ("coordinates", GEO + "coordinates"),
        ("title", "http://purl.org/dc/terms/title"),
        ("description", "http://purl.org/dc/terms/description"),
        ("attributeCount", DEFAULT_VOCAB + "attributeCount"),
    ],
)
def test_core_term_meanings(term: str, iri: str) -> None:
    assert core_active_context().expand(term) == iri


def test_coercions() -> None:
    ctx = core_active_context()
    terms = ctx.terms
    assert terms["object"].type_mapping == "@id"
    assert terms["observedAt"].type_mapping == NGSI + "DateTime"
    assert terms["valueList"].container == frozenset({"@list"})
    assert terms["languageMap"].container == frozenset({"@language"})
    assert terms["ngsi-ld"].prefix and terms["geojson"].prefix
    assert not terms["value"].prefix
    assert ctx.is_vocab_typed(NGSI + "hasVocab")
    assert ctx.is_vocab_typed(NGSI + "hasObjectType")
    assert ctx.is_json_typed(NGSI + "hasJSON")
    assert not ctx.is_vocab_typed(NGSI + "hasValue")
    assert not ctx.is_json_typed(DEFAULT_VOCAB + "anything")


def test_every_core_term_round_trips() -> None:
    ctx = core_active_context()
    iris = Counter(d.iri for d in ctx.terms.values())
    for term, definition in ctx.terms.items():
        assert iris[definition.iri] == 1, f"two core terms share {definition.iri}"
        assert ctx.compact(ctx.expand(term)) == term
