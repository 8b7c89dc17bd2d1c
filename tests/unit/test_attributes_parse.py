"""Payload parsing into the stored form: normalized and concise input, and every rejection."""

from __future__ import annotations

import pytest

from hub.errors import BadRequestData
from hub.ngsild.attributes import DELETE, is_deletion, parse_attribute
from hub.ngsild.entity import parse_entity

NOW = "2026-11-22T00:00:00.000000Z"


class Ctx:
    def expand(self, term: str) -> str:
        return term if ":" in term else "https://ex.org/" + term


CTX = Ctx()


def one(raw: object, name: str = "a") -> dict:
    parsed = parse_attribute(name, CTX.expand(name), raw, CTX, NOW)
    assert isinstance(parsed, list) and len(parsed) == 1
    return parsed[0]


def test_concise_inputs_become_normalized() -> None:
    assert one(5)["type"] == "Property" and one(5)["value"] == 5
    assert one({"object": "urn:x:1"})["type"] == "Relationship"
    assert one({"languageMap": {"ja": "長野"}})["type"] == "LanguageProperty"
    assert one({"vocab": "Rain"})["vocab"] == "https://ex.org/Rain"
    assert one({"valueList": [1, 2]})["type"] == "ListProperty"
    geo = one({"type": "Point", "coordinates": [138.0, 36.0]}, "location")
    assert geo["type"] == "GeoProperty"


def test_sub_attributes_and_metadata() -> None:
    inst = one({"type": "Property", "value": 1.5, "unitCode": "MMT",
                "observedAt": "2026-11-22T09:00:00Z",
                "accuracy": {"type": "Property", "value": 0.1}})
    assert inst["unitCode"] == "MMT"
    assert inst["https://ex.org/accuracy"]["value"] == 0.1
    assert inst["createdAt"] == NOW


def test_multi_instance_needs_distinct_dataset_ids() -> None:
    two = [{"type": "Property", "value": 1},
           {"type": "Property", "value": 2, "datasetId": "urn:ds:1"}]
    parsed = parse_attribute("a", "https://ex.org/a", two, CTX, NOW)
    assert isinstance(parsed, list) and len(parsed) == 2
    with pytest.raises(BadRequestData):
        parse_attribute("a", "https://ex.org/a", [two[0], two[0]], CTX, NOW)


@pytest.mark.parametrize("raw", [
    {"type": "Property"},
    {"type": "Property", "value": None},
    {"type": "Relationship", "object": "not a uri"},
    {"type": "Banana", "value": 1},
    {"type": "Property", "value": 1, "observedAt": "yesterday"},
    {"type": "Property", "value": 1, "datasetId": "no uri"},
    {"type": "LanguageProperty", "languageMap": {"en": 5}},
    {"type": "ListProperty", "valueList": 5},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 0]}},
    None,
])
def test_invalid_attributes(raw: object) -> None:
    with pytest.raises(BadRequestData):
        parse_attribute("a", "https://ex.org/a", raw, CTX, NOW)


def test_merge_null_means_delete() -> None:
    # a whole attribute set to null (merge-patch) removes it; an NGSI-LD null value
    # removes one instance (the default one, or the one of its datasetId)
    assert parse_attribute("a", "https://ex.org/a", None, CTX, NOW, merge=True) is DELETE
    parsed = parse_attribute("a", "https://ex.org/a", {"value": "urn:ngsi-ld:null"}, CTX, NOW,
                             merge=True)
    assert isinstance(parsed, list) and is_deletion(parsed[0])
    with pytest.raises(BadRequestData):  # JSON null is no NGSI-LD null
        parse_attribute("a", "https://ex.org/a", {"type": "Property", "value": None}, CTX, NOW,
                        merge=True)


def test_entity_needs_uri_id_and_type() -> None:
    doc = parse_entity({"id": "urn:x:1", "type": ["A", "B"], "scope": "/Nagano/Rain"}, CTX, NOW)
    assert doc.types == ["https://ex.org/A", "https://ex.org/B"]
    assert doc.scopes == ["/Nagano/Rain"]
    for bad in ({"type": "A"}, {"id": "x y", "type": "A"}, {"id": "urn:x:1"},
                {"id": "urn:x:1", "type": 5}, [1], {"id": "urn:x:1", "type": "A", "a=b": 1}):
        with pytest.raises(BadRequestData):
            parse_entity(bad, CTX, NOW)
