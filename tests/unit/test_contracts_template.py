"""``contracts.RowTemplate`` is the full model split by field: for any values, valid or not,
its entities are byte for byte ``to_ngsi_ld`` of the full model, entity by entity, and what
the full model refuses it refuses with the same error (and it takes the full model's path
only when something is refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError, field_validator

import contracts as c
from contracts.template import TemplateRow

_JST = "+09:00"
_NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 500),
                    st.sampled_from([0.0, 0.5, 1.0, 12.5, -1.0, 361.0, "abc", True, "3.5"]))
_WHEN = st.sampled_from([f"2023-01-01T01:00:00{_JST}", f"2023-01-01T02:00:00{_JST}",
                         datetime(2023, 1, 1, 1, tzinfo=UTC), "2023-01-01T01:00:00",
                         "garbage", f"2022-12-31T23:00:00{_JST}"])
_POINT = {"type": "Point", "coordinates": [138.19, 36.65]}
#: values each attribute may take: valid ones more often, invalid ones too; None = left out
_CANDIDATES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["urn:ngsi-ld:X:a", "urn:ngsi-ld:X:b", "urn:ngsi-ld:X:a",
                           "not a uri", "urn:x: y"]),
    "quality": st.sampled_from([*c.Quality, "normal", "missing", "bad"]),
    "location": st.sampled_from([c.Point(coordinates=(138.1, 36.6)), _POINT, _POINT,
                                 {"type": "Point", "coordinates": [200, 36]},
                                 {"type": "LineString", "coordinates": [[138, 36], [138.1, 36]]},
                                 {"type": "Polygon"}, "here"]),
    "name": st.sampled_from(["立ヶ花", "長野", 5]),
    "laneDirection": st.sampled_from(["forward", "backward", "sideways"]),
    "vehicleType": st.sampled_from(["car", "lorry", "spaceship"]),
    "laneId": st.sampled_from([1, 2, 0, "x"]),
    "precipitationPeriod": st.sampled_from([timedelta(hours=1), "PT10M", "bad"]),
    "controlledProperty": st.sampled_from([["waterLevel"], ["temperature", "windSpeed"], [],
                                           ["bogus"]]),
    "deviceCategory": st.sampled_from([["sensor"], ["x"]]),
    "stationID": st.sampled_from(["301011281104010", ""]),
    "type": st.sampled_from(["Wrong"]),
    "congested": st.sampled_from([True, False, "yes"]),
    "reversedLane": st.sampled_from([True, False, "yes"]),
}


def _candidates(name: str) -> st.SearchStrategy[Any]:
    if name in _CANDIDATES:
        value = _CANDIDATES[name]
    elif name.startswith("date"):
        value = _WHEN
    elif name.startswith("ref"):
        value = st.sampled_from(["urn:ngsi-ld:Device:x", "urn:ngsi-ld:Device:x", "bad"])
    elif name in ("serialNumber", "deviceState"):
        value = st.sampled_from(["123", 5])
    else:
        value = _NUMBER
    return st.one_of(st.none(), value, value)


_MODELS = [c.WaterObserved, c.WeatherObserved, c.TrafficFlowObserved, c.Device,
           c.FloodMonitoring, c.LibraryCirculation]


@st.composite
def _cases(draw: st.DrawFn) -> tuple[type[c.Contract], set[str], dict[str, Any],
                                     dict[str, list[Any]]]:
    model = draw(st.sampled_from(_MODELS))
    names = [n for n in model.model_fields if n != "type"]
    varying = set(draw(st.lists(st.sampled_from(names), unique=True)))
    count = draw(st.integers(0, 4))
    shared = {n: draw(_candidates(n)) for n in model.model_fields if n not in varying}
    columns = {n: [draw(_candidates(n)) for _ in range(count)] for n in sorted(varying)}
    return model, varying, shared, columns


def _full(model: type[c.Contract], shared: dict[str, Any],
          columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """What the SDK did before templates: build each entity with the full model."""
    count = len(next(iter(columns.values()))) if columns else 0
    out = []
    for i in range(count):
        values = {**shared, **{n: col[i] for n, col in columns.items()}}
        instance = model.model_validate({k: v for k, v in values.items() if v is not None})
        out.append(c.to_ngsi_ld(instance, include_context=False))
    return out


def _outcome(build: Any) -> tuple[str, Any]:
    try:
        return "entities", orjson.dumps(build())
    except ValidationError as exc:  # what the SDK's quarantine reason is made of
        return "refused", [(e["loc"], e["msg"], e["type"]) for e in exc.errors()]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_template_is_the_full_model(case: Any) -> None:
    model, varying, shared, columns = case
    expected = _outcome(lambda: _full(model, shared, columns))
    if not columns:
        return
    template = c.RowTemplate(model, varying)
    fallback = mock.patch.object(TemplateRow, "_one_by_one", autospec=True,
                                 side_effect=TemplateRow._one_by_one)
    with fallback as one_by_one:
        got = _outcome(lambda: template.row(**shared).entities(**columns))
    assert got == expected
    event(f"{model.__name__}: {expected[0]}")
    if expected[0] == "entities" and expected != ("entities", b"[]"):  # and the split accepted
        one_by_one.assert_not_called()


def _hours(n: int, **over: Any) -> dict[str, list[Any]]:
    columns = {"id": [f"urn:ngsi-ld:WaterObserved:mlit-1:2023010{i}" for i in range(n)],
               "dateObserved": [f"2023-01-01T0{i}:00:00{_JST}" for i in range(n)],
               "waterLevel": [321.5 + i for i in range(n)], "quality": ["normal"] * n}
    return {**columns, **over}


_HOURLY = c.RowTemplate(c.WaterObserved, ("id", "dateObserved", "waterLevel", "quality"))
_STATION = {"location": _POINT, "refDevice": "urn:ngsi-ld:Device:mlit-1", "name": "立ヶ花"}


@pytest.mark.parametrize(("shared", "columns", "message"), [
    ({**_STATION, "location": {"type": "Point", "coordinates": [200, 36]}}, _hours(3),
     "Input should be less than or equal to 180"),
    (_STATION, _hours(3, waterLevel=[1.0, "abc", 2.0]), "waterLevel"),
    (_STATION, _hours(3, quality=["normal", "missing", "normal"]),
     "a missing observation (quality missing) carries no value"),
    (_STATION, _hours(2, waterLevel=[1.0, None]), "a reading that is absent must have quality"),
])
def test_invalid_values_are_refused_as_the_full_model_refuses_them(
        shared: dict[str, Any], columns: dict[str, list[Any]], message: str) -> None:
    with pytest.raises(ValidationError) as full:
        _full(c.WaterObserved, shared, columns)
    with pytest.raises(ValidationError) as split:
        _HOURLY.row(**shared).entities(**columns)
    assert split.value.errors(include_url=False, include_context=False) == \
        full.value.errors(include_url=False, include_context=False)
    assert message in str(split.value)


def test_a_row_of_hours_is_what_the_full_model_makes() -> None:
    got = _HOURLY.row(**_STATION).entities(**_hours(5, waterLevel=[1.0, None, 3.0, 4.0, 5.0],
                                                    quality=["normal", "missing", "provisional",
                                                             "normal", "normal"]))
    assert orjson.dumps(got) == orjson.dumps(_full(c.WaterObserved, _STATION, _hours(
        5, waterLevel=[1.0, None, 3.0, 4.0, 5.0],
        quality=["normal", "missing", "provisional", "normal", "normal"])))
    assert got[0]["waterLevel"]["observedAt"] == "2023-01-01T00:00:00+09:00"
    assert "waterLevel" not in got[1]


def test_what_a_template_refuses_to_split() -> None:
    class Checked(c.Contract):
        type: str = "Checked"
        n: int = 0

        @field_validator("n")
        @classmethod
        def _positive(cls, v: int) -> int:
            return v

    with pytest.raises(TypeError, match="validator"):
        c.RowTemplate(Checked, ("id",))
    with pytest.raises(ValueError, match="no attributes"):
        c.RowTemplate(c.WaterObserved, ("id", "colour"))
    with pytest.raises(ValueError, match="defaults to None"):
        c.RowTemplate(c.WaterObserved, ("type",))
    with pytest.raises(ValueError, match="varying"):
        _HOURLY.row(id="urn:ngsi-ld:X:a", **_STATION)
    with pytest.raises(ValueError, match="not varying"):
        _HOURLY.row(**_STATION).entities(name=["x"])
    with pytest.raises(ValueError, match="lengths"):
        _HOURLY.row(**_STATION).entities(id=["urn:ngsi-ld:X:a"], quality=[])
