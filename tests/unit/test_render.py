"""Rendering the stored form: the three representations, projections and languages."""

from __future__ import annotations

from hub.ngsild.render import RenderOptions, render_entity, render_geojson

X = "https://ex.org/"


class Ctx:
    def compact(self, iri: str) -> str:
        return iri.removeprefix(X)


ENT = {
    "id": "urn:x:1",
    "types": [X + "Gauge"],
    "scopes": None,
    "createdAt": "T0",
    "modifiedAt": "T1",
    "attrs": {
        X + "rain": [{"type": "Property", "value": 3.5, "unitCode": "MMT",
                      "createdAt": "T0", "modifiedAt": "T1"}],
        X + "name": [{"type": "LanguageProperty", "languageMap": {"ja": "長野", "en": "Nagano"},
                      "createdAt": "T0", "modifiedAt": "T0"}],
        X + "ref": [{"type": "Relationship", "object": "urn:d:1", "createdAt": "T0",
                     "modifiedAt": "T0"}],
        "https://uri.etsi.org/ngsi-ld/location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]},
             "createdAt": "T0", "modifiedAt": "T0"}],
    },
}


def test_normalized_hides_system_attributes_unless_asked() -> None:
    out = render_entity(ENT, Ctx(), RenderOptions())
    assert out["rain"] == {"type": "Property", "value": 3.5, "unitCode": "MMT"}
    assert out["type"] == "Gauge"
    out = render_entity(ENT, Ctx(), RenderOptions(sys_attrs=True))
    assert out["createdAt"] == "T0" and out["rain"]["modifiedAt"] == "T1"


def test_key_values_and_concise() -> None:
    kv = render_entity(ENT, Ctx(), RenderOptions(fmt="keyValues"))
    assert kv["rain"] == 3.5 and kv["ref"] == "urn:d:1"
    concise = render_entity(ENT, Ctx(), RenderOptions(fmt="concise"))
    assert concise["rain"] == {"value": 3.5, "unitCode": "MMT"}
    assert concise["ref"] == {"object": "urn:d:1"}


def test_projection_and_lang() -> None:
    out = render_entity(ENT, Ctx(), RenderOptions(attrs=frozenset({X + "name"}), lang="en"))
    assert set(out) == {"id", "type", "name"}
    assert out["name"] == {"type": "Property", "value": "Nagano", "lang": "en"}
    out = render_entity(ENT, Ctx(), RenderOptions(omit=frozenset({X + "rain", "type"})))
    assert "rain" not in out and "type" not in out


def test_geojson_feature() -> None:
    feature = render_geojson(ENT, Ctx(), RenderOptions(fmt="keyValues"))
    assert feature["type"] == "Feature" and feature["geometry"]["coordinates"] == [1.0, 2.0]
    assert feature["properties"]["rain"] == 3.5
