"""The model and the stored-form validator agree: a value set the pydantic model accepts
is exactly one ``validate_stored`` accepts, valid and invalid inputs alike (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import contracts as c

# mostly valid choices, so both outcomes are common
QUALITIES = [q.value for q in c.Quality] * 2 + ["good", None]
TIMES = ["2026-11-22T09:00:00Z", "2026-11-22T09:00:00+09:00"] * 3 + [
    "2026-11-22T09:00:00", "soon", None]


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, st.none())


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False)


def stored(info: c.ContractInfo, values: dict[str, Any]) -> dict[str, Any]:
    """The stored form the hub would keep for ``values`` (attribute IRI -> instances)."""
    props = info.json_schema["properties"]
    attrs: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        kind = props[name]["x-ngsi-ld"]["type"]
        member = "object" if kind == "Relationship" else "value"
        attrs[c.iri(name)] = [{"type": kind, member: value}]
    return attrs


def accepted_by_model(info: c.ContractInfo, values: dict[str, Any]) -> bool:
    try:
        info.model(id="urn:ngsi-ld:X:1", **{k: v for k, v in values.items() if v is not None})
    except ValidationError:
        return False
    return True


def agree(name: str, values: dict[str, Any]) -> None:
    info = c.contract(name)
    violations = c.validate_stored([info.type_iri], stored(info, values))
    assert accepted_by_model(info, values) == (violations == []), (values, violations)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "dateObserved": st.sampled_from(TIMES),
    "location": st.sampled_from([{"type": "Point", "coordinates": [138.2, 36.6]}] * 4 + [
        {"type": "LineString", "coordinates": [[138.2, 36.6], [138.3, 36.7]]}, None]),
    "quality": st.sampled_from(QUALITIES),
    "precipitation": maybe(floats(-1, 80)),
    "relativeHumidity": maybe(floats(-0.1, 1.1)),
    "windDirection": maybe(floats(-10, 380)),
    "refDevice": maybe(st.sampled_from(["urn:ngsi-ld:Device:g1"] * 4 + ["gauge 1"])),
    "precipitationPeriod": maybe(st.sampled_from(["PT1H", "PT10M", "P1D"] * 2 + ["1h"])),
}))
def test_weather_observed(values: dict[str, Any]) -> None:
    agree("WeatherObserved", values)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "refLibraryBranch": st.sampled_from(["urn:ngsi-ld:PointOfInterest:ueda"] * 6 + [None]),
    "dateObservedFrom": st.sampled_from(["2026-10-01T00:00:00+09:00"] * 5 + [
        "2026-12-01T00:00:00+09:00", None]),
    "dateObservedTo": st.sampled_from(["2026-11-01T00:00:00+09:00"] * 6 + [None]),
    "quality": st.sampled_from(QUALITIES),
    "loans": maybe(st.integers(-1, 60)),
    "visitors": maybe(st.integers(-1, 60)),
    "loansByNdc": maybe(st.dictionaries(st.sampled_from(["0", "4", "9"] * 3 + ["X"]),
                                        st.integers(-1, 40), max_size=3)),
}))
def test_library_circulation(values: dict[str, Any]) -> None:
    agree("LibraryCirculation", values)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({
    "stationID": maybe(st.sampled_from(["3041", ""])),
    "standbyLevel": maybe(floats(0, 10)),
    "alertLevel": maybe(floats(0, 10)),
    "evacuationDecisionLevel": maybe(floats(0, 10)),
    "dangerLevel": maybe(floats(0, 10)),
}))
def test_flood_monitoring(values: dict[str, Any]) -> None:
    agree("FloodMonitoring", values)
