"""``to_ngsi_ld`` and its round trip through the hub's own JSON-LD processing.

The entity goes through ``build_active_context`` with a loader that has no documents (the
network is unavailable), so the contracts' @context must be built in; ``parse_entity``
turns it into the stored form, which ``validate_stored`` then accepts.
"""

from __future__ import annotations

from typing import Any

import contracts as c
from hub.jsonld.process import build_active_context
from hub.ngsild.entity import parse_entity
from tests.unit.jsonld_fakes import MemoryLoader

NOW = "2026-12-01T00:00:00.000000Z"


def rain() -> c.WeatherObserved:
    return c.WeatherObserved(
        id="urn:ngsi-ld:WeatherObserved:nagano", dateObserved="2026-11-22T09:00:00Z",
        location=c.Point(coordinates=(138.19, 36.65)), precipitation=12.5,
        precipitationPeriod="PT1H", temperature=4.5, quality="provisional",
        refDevice="urn:ngsi-ld:Device:nagano-gauge")


def samples() -> list[c.Contract]:
    return [
        rain(),
        c.Device(id="urn:ngsi-ld:Device:nagano-gauge", controlledProperty=["precipitation"],
                 deviceCategory=["sensor"], batteryLevel=0.8,
                 location=c.Point(coordinates=(138.19, 36.65))),
        c.WaterObserved(id="urn:ngsi-ld:WaterObserved:tategahana",
                        dateObserved="2026-11-22T09:00:00Z", waterLevel=-0.12,
                        location=c.Point(coordinates=(138.3, 36.75)), quality="normal"),
        c.FloodMonitoring(id="urn:ngsi-ld:FloodMonitoring:tategahana", stationID="3041",
                          alertLevel=5.0, evacuationDecisionLevel=6.5, dangerLevel=7.2),
        c.TrafficFlowObserved(
            id="urn:ngsi-ld:TrafficFlowObserved:r18:1",
            dateObservedFrom="2026-11-22T09:00:00Z", dateObservedTo="2026-11-22T10:00:00Z",
            intensity=118, averageVehicleSpeed=41.5, occupancy=0.12, laneDirection="forward",
            refRoadSegment="urn:ngsi-ld:RoadSegment:r18", quality="normal",
            location=c.LineString(coordinates=[(138.1, 36.6), (138.2, 36.7)])),
        c.PointOfInterest(id="urn:ngsi-ld:PointOfInterest:ueda-central", name="上田市立上田図書館",
                          address=c.PostalAddress(postalCode="386-0012",
                                                  addressLocality="上田市"),
                          description="中央館"),
        c.LibraryCirculation(
            id="urn:ngsi-ld:LibraryCirculation:ueda:2026-10",
            refLibraryBranch="urn:ngsi-ld:PointOfInterest:ueda-central",
            dateObservedFrom="2026-10-01T00:00:00+09:00",
            dateObservedTo="2026-11-01T00:00:00+09:00", loans=4210, visitors=9800,
            loansByNdc={"9": 1500, "4": 310}, quality="normal"),
        c.LibraryLoanRanking(
            id="urn:ngsi-ld:LibraryLoanRanking:ueda:2026-10:1",
            dateObservedFrom="2026-10-01T00:00:00+09:00",
            dateObservedTo="2026-11-01T00:00:00+09:00", rank=1, loans=42,
            title="吾輩は猫である", author="夏目漱石", ndc="913.6", isbn="0-8044-2957-X"),
    ]


def test_normalized_form_with_units_observed_at_and_kinds() -> None:
    e = c.to_ngsi_ld(rain())
    assert e["@context"] == [c.CONTEXT_URL]
    assert e["id"] == "urn:ngsi-ld:WeatherObserved:nagano" and e["type"] == "WeatherObserved"
    assert e["precipitation"] == {"type": "Property", "value": 12.5, "unitCode": "MMT",
                                  "observedAt": "2026-11-22T09:00:00Z"}
    assert e["temperature"]["unitCode"] == "CEL"
    assert e["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:nagano-gauge"}
    assert e["location"]["type"] == "GeoProperty"
    assert e["quality"] == {"type": "Property", "value": "provisional"}  # no observedAt
    assert e["precipitationPeriod"]["value"] == "PT1H"
    assert "snowHeight" not in e  # not measured: left out, never a zero
    assert "@context" not in c.to_ngsi_ld(rain(), include_context=False)


def test_missing_observation_has_quality_and_no_measured_attribute() -> None:
    w = c.WeatherObserved(id="urn:ngsi-ld:WeatherObserved:x", dateObserved="2026-11-22T09:00:00Z",
                          location=c.Point(coordinates=(138.0, 36.0)), quality="missing")
    e = c.to_ngsi_ld(w)
    assert e["quality"]["value"] == "missing"
    assert not {"precipitation", "temperature"} & set(e)


def test_period_observations_are_observed_at_the_end_of_the_period() -> None:
    e = c.to_ngsi_ld(samples()[4])
    assert e["intensity"]["observedAt"] == "2026-11-22T10:00:00Z"
    assert "unitCode" not in e["intensity"] and e["averageVehicleSpeed"]["unitCode"] == "KMH"


async def _stored(entity: dict[str, Any], loader: MemoryLoader) -> Any:
    active = await build_active_context(entity.pop("@context"), loader)
    return parse_entity(entity, active, NOW)


async def test_every_contract_round_trips_through_the_hub_offline() -> None:
    loader = MemoryLoader()  # knows no document: any fetch would fail
    for model in samples():
        doc = await _stored(c.to_ngsi_ld(model), loader)
        info = c.contract(model.type)
        assert doc.types == [info.type_iri]
        expected = {c.iri(a) for a in info.attributes if getattr(model, a) is not None}
        assert set(doc.attrs) == expected, info.name
        assert c.validate_stored(doc.types, doc.attrs) == [], info.name
    assert loader.calls == []


async def test_core_terms_keep_their_core_meaning() -> None:
    doc = await _stored(c.to_ngsi_ld(samples()[-1]), MemoryLoader())
    assert "http://purl.org/dc/terms/title" in doc.attrs
    assert c.iri("isbn") in doc.attrs
    assert doc.attrs[c.iri("isbn")][0]["value"] == "9780804429573"
