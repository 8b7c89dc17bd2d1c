"""The contract models: required attributes, ranges, the quality rule, closed library
contracts, cross-attribute rules, and what the catalogue and @context say about them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

import contracts as c

T0 = "2026-11-22T09:00:00+09:00"
T1 = "2026-11-22T10:00:00+09:00"
POINT = {"type": "Point", "coordinates": [138.19, 36.65]}


def weather(**over: Any) -> dict[str, Any]:
    base = {"id": "urn:ngsi-ld:WeatherObserved:nagano", "dateObserved": T0,
            "location": POINT, "precipitation": 12.5, "quality": "normal"}
    return {**base, **over}


def circulation(**over: Any) -> dict[str, Any]:
    base = {"id": "urn:ngsi-ld:LibraryCirculation:ueda-central:2026-10",
            "refLibraryBranch": "urn:ngsi-ld:PointOfInterest:ueda-central",
            "dateObservedFrom": "2026-10-01T00:00:00+09:00",
            "dateObservedTo": "2026-11-01T00:00:00+09:00",
            "loans": 4210, "visitors": 9800, "quality": "normal"}
    return {**base, **over}


def test_weather_observed_keeps_values_and_parses_types() -> None:
    w = c.WeatherObserved(**weather(precipitationPeriod="PT1H"))
    assert w.type == "WeatherObserved"
    assert w.precipitation == 12.5
    assert w.dateObserved == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert w.precipitationPeriod == timedelta(hours=1)


@pytest.mark.parametrize(("field", "value"), [
    ("precipitation", -0.5),        # rain is never negative
    ("relativeHumidity", 1.2),      # a fraction
    ("windDirection", 361),
    ("dateObserved", "2026-11-22T09:00:00"),  # no time zone
    ("location", {"type": "Point", "coordinates": [200, 36]}),
    ("quality", "good"),
    ("refDevice", "not a uri"),
])
def test_weather_observed_refuses_out_of_contract_values(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as err:
        c.WeatherObserved(**weather(**{field: value}))
    assert field in str(err.value)


def test_quality_is_mandatory_on_observations() -> None:
    data = weather()
    del data["quality"]
    with pytest.raises(ValidationError, match="quality"):
        c.WeatherObserved(**data)


def test_missing_reading_has_no_value_and_quality_missing() -> None:
    w = c.WeatherObserved(**weather(precipitation=None, quality="missing"))
    assert w.precipitation is None and w.quality == "missing"


def test_value_together_with_quality_missing_is_refused() -> None:
    with pytest.raises(ValidationError, match="missing observation"):
        c.WeatherObserved(**weather(precipitation=0.0, quality="missing"))


@pytest.mark.parametrize("quality", ["normal", "provisional", "estimated", "questionable"])
def test_no_value_without_quality_missing_is_refused(quality: str) -> None:
    with pytest.raises(ValidationError, match="quality missing"):
        c.WeatherObserved(**weather(precipitation=None, quality=quality))


def test_extra_attributes_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        c.WeatherObserved(**weather(rainfall=3))


def test_library_contracts_have_no_place_for_borrowers() -> None:
    for field in ("borrower", "borrowerId", "userName", "patron", "cardNumber"):
        with pytest.raises(ValidationError, match="extra"):
            c.LibraryCirculation(**circulation(**{field: "x"}))
    for info in c.CONTRACTS.values():
        if info.name.startswith("Library") or info.name == "PointOfInterest":
            assert info.model.closed
            assert info.json_schema["additionalProperties"] is False


def test_circulation_period_must_be_ordered_and_ndc_within_loans() -> None:
    with pytest.raises(ValidationError, match="dateObservedTo"):
        c.LibraryCirculation(**circulation(dateObservedTo="2026-09-01T00:00:00+09:00"))
    with pytest.raises(ValidationError, match="add up to more than loans"):
        c.LibraryCirculation(**circulation(loans=10, loansByNdc={"9": 8, "4": 5}))
    with pytest.raises(ValidationError, match="loansByNdc"):
        c.LibraryCirculation(**circulation(loansByNdc={"X": 12}))
    ok = c.LibraryCirculation(**circulation(loansByNdc={"9": 1200, "4": 300}))
    assert ok.loansByNdc == {"9": 1200, "4": 300}


def test_ranking_normalises_isbn_10_to_13() -> None:
    r = c.LibraryLoanRanking(
        id="urn:ngsi-ld:LibraryLoanRanking:ueda:2026-10:1", dateObservedFrom=T0,
        dateObservedTo=T1, rank=1, loans=42, title="吾輩は猫である", ndc="913.6",
        isbn="0-306-40615-2")
    assert r.isbn == "9780306406157"
    with pytest.raises(ValidationError, match="check digit"):
        c.LibraryLoanRanking(**{**r.model_dump(), "isbn": "0-306-40615-3"})
    with pytest.raises(ValidationError, match="ndc"):
        c.LibraryLoanRanking(**{**r.model_dump(), "ndc": "novel"})


def test_flood_thresholds_must_rise_in_order() -> None:
    levels = {"standbyLevel": 3.0, "alertLevel": 5.0, "evacuationDecisionLevel": 6.5,
              "dangerLevel": 7.2}
    f = c.FloodMonitoring(id="urn:ngsi-ld:FloodMonitoring:tategahana", stationID="x",
                          **levels)
    assert f.dangerLevel == 7.2
    with pytest.raises(ValidationError, match="dangerLevel must not be before"):
        c.FloodMonitoring(id="urn:ngsi-ld:FloodMonitoring:t", stationID="x",
                          **{**levels, "dangerLevel": 6.0})


def test_traffic_period_must_not_be_empty() -> None:
    base = {"id": "urn:ngsi-ld:TrafficFlowObserved:r18:1", "dateObservedFrom": T0,
            "dateObservedTo": T1, "intensity": 118, "laneDirection": "forward",
            "vehicleType": "car", "quality": "provisional"}
    assert c.TrafficFlowObserved(**base).intensity == 118
    with pytest.raises(ValidationError, match="at or before"):
        c.TrafficFlowObserved(**{**base, "dateObservedTo": T0})
    with pytest.raises(ValidationError, match="laneDirection"):
        c.TrafficFlowObserved(**{**base, "laneDirection": "north"})
    with pytest.raises(ValidationError, match="occupancy"):
        c.TrafficFlowObserved(**{**base, "occupancy": 1.5})


def test_device_needs_what_it_measures() -> None:
    d = c.Device(id="urn:ngsi-ld:Device:gauge-1", controlledProperty=["precipitation"])
    assert d.controlledProperty == ["precipitation"]
    with pytest.raises(ValidationError):
        c.Device(id="urn:ngsi-ld:Device:gauge-1", controlledProperty=[])


def test_catalogue_versions_type_iris_and_units() -> None:
    assert set(c.CONTRACTS) == {
        "WeatherObserved", "Device", "WaterObserved", "FloodMonitoring",
        "TrafficFlowObserved", "PointOfInterest", "LibraryCirculation", "LibraryLoanRanking",
        "Alert"}
    for info in c.CONTRACTS.values():
        assert info.version.count(".") == 2
        assert info.json_schema["$id"] == c.schema_id(info.name, info.version)
        assert c.contract_for_type(info.type_iri) is info
        assert c.contract(info.name) is info
    assert c.contract("WeatherObserved").type_iri == (
        "https://smartdatamodels.org/dataModel.Weather/WeatherObserved")
    props = c.contract("WaterObserved").json_schema["properties"]
    assert props["waterLevel"]["x-ngsi-ld"] == {"type": "Property", "unitCode": "MTR"}
    assert c.contract("WeatherObserved").json_schema["properties"]["precipitation"][
        "x-ngsi-ld"]["unitCode"] == "MMT"
    assert c.contract_for_type("https://example.org/Other") is None


def test_context_maps_every_contract_term_except_core_ones() -> None:
    ctx = c.context_document()["@context"]
    for info in c.CONTRACTS.values():
        for term, term_iri in info.terms.items():
            if term in ("location", "title", "description"):
                assert term not in ctx  # the core context defines them, with precedence
            else:
                assert ctx[term] == term_iri, term
    assert ctx["waterLevel"] == "https://smartdatamodels.org/dataModel.Environment/waterLevel"
    assert ctx["quality"].startswith(c.RENKEI)
    ctx["quality"] = "tampered"
    assert c.context_document()["@context"]["quality"].startswith(c.RENKEI)
