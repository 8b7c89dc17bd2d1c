"""Pure mapping of one AMeDAS station's ``[value, flag]`` pairs to contract entities.

Flags (the second element of each pair): 0 normal; 1 準正常 (quasi-normal: a statistic
computed with a few samples missing) → ``estimated``; 4 資料不足 (insufficient data) →
``questionable``. 5 欠測 (always with a null value), 6 (not available; JMA puts a
placeholder 0 beside it) and a null flag (the station does not observe the element; again a
placeholder 0) are not observations: the attribute is left out, so a placeholder never
becomes a zero. An entity's ``quality`` is the worst of its measured values' flags, and
``missing`` when none is left.

The contract has one ``precipitation`` with its ``precipitationPeriod``, so a station
yields one WeatherObserved per precipitation period: the main entity (temperature,
humidity, wind, pressure, snow depth and the 1-hour amount, ``PT1H``) and one each for
the 10-minute, 3-hour and 24-hour amounts (ids ending ``:PT10M``, ``:PT3H``, ``:PT24H``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build
from adapters.sdk.geo import degrees_decimal_minutes
from contracts import Device, Point, WeatherObserved

__all__ = ["ELEMENTS", "PERIODS", "QUALITY", "UNMAPPED", "device", "station_location",
           "weather_observed"]

#: JMA element -> (contract attribute, scale)
ELEMENTS: dict[str, tuple[str, float]] = {
    "temp": ("temperature", 1.0),
    "humidity": ("relativeHumidity", 0.01),
    "pressure": ("atmosphericPressure", 1.0),
    "wind": ("windSpeed", 1.0),
    "windDirection": ("windDirection", 22.5),
    "snow": ("snowHeight", 1.0),
}
#: JMA precipitation element -> period; PT1H goes on the main entity
PERIODS: dict[str, timedelta] = {"precipitation1h": timedelta(hours=1),
                                 "precipitation10m": timedelta(minutes=10),
                                 "precipitation3h": timedelta(hours=3),
                                 "precipitation24h": timedelta(hours=24)}
#: elements without a contract attribute (not written; docs/adapters.md)
UNMAPPED = ("normalPressure", "sun10m", "sun1h", "snow1h", "snow6h", "snow12h", "snow24h",
            "visibility", "weather")
QUALITY = {0: "normal", 1: "estimated", 4: "questionable"}
_RANK = {"normal": 0, "estimated": 1, "questionable": 2}
_CONTROLLED = {"temperature": "temperature", "relativeHumidity": "humidity",
               "atmosphericPressure": "atmosphericPressure", "windSpeed": "windSpeed",
               "windDirection": "windDirection", "snowHeight": "snowHeight",
               "precipitation": "precipitation"}


def _value(key: str, pair: Any) -> tuple[float, str] | None:
    """(value, quality) of a pair, or None when it is not an observation."""
    if not (isinstance(pair, list) and len(pair) == 2):
        raise ValueError(f"{key}: expected [value, flag], got {pair!r}")
    value, flag = pair
    if value is None or flag not in QUALITY:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key}: value is not a number: {value!r}")
    return float(value), QUALITY[flag]


def _worst(qualities: list[str]) -> str:
    return max(qualities, key=_RANK.__getitem__) if qualities else "missing"


def weather_observed(code: str, elements: dict[str, Any], station: dict[str, Any],
                     location: Point, observed_at: str, stamp: str) -> list[dict[str, Any]]:
    """The WeatherObserved entities of one station at one instant (see module docstring);
    ``location`` is ``station_location(station)``.

    Raises ValueError on a malformed pair, so the row is quarantined, not half-written.
    """
    common = {"dateObserved": observed_at, "location": location,
              "refDevice": entity_id("Device", f"jma-amedas-{code}"), "name": station["kjName"]}
    base = entity_id("WeatherObserved", f"jma-amedas-{code}", stamp)
    main: dict[str, Any] = {}
    qualities: list[str] = []
    for key, (attr, scale) in ELEMENTS.items():
        got = _value(key, elements[key]) if key in elements else None
        if got is None:
            continue
        value, quality = got
        if key == "windDirection":
            if value == 0:  # 静穏 (calm): no direction
                continue
            value = (value * scale) % 360
        elif scale != 1.0:
            value = round(value * scale, 4)
        main[attr] = value
        qualities.append(quality)
    out = []
    for key, period, suffix in _PERIODS:
        got = _value(key, elements[key]) if key in elements else None
        main_entity = key == "precipitation1h"
        if not main_entity and got is None:
            continue  # no 10-minute/3-hour/24-hour amount: no entity for that period
        values = main if main_entity else {}  # main and qualities serve this entity only
        q = qualities if main_entity else []
        if got is not None:
            values["precipitation"] = got[0]
            q.append(got[1])
        out.append(build(WeatherObserved, id=base + suffix, **common, **values,
                         precipitationPeriod=period if got is not None else None,
                         quality=_worst(q)))
    return out


def _iso_period(period: timedelta) -> str:
    minutes = int(period.total_seconds() // 60)
    return f"{minutes // 60}H" if minutes % 60 == 0 else f"{minutes}M"


#: (element, period, id suffix): the main entity's id has none, the others ``:PT10M`` …
_PERIODS = tuple((key, period, "" if key == "precipitation1h" else f":PT{_iso_period(period)}")
                 for key, period in PERIODS.items())


def device(code: str, station: dict[str, Any], location: Point,
           observed: list[dict[str, Any]]) -> dict[str, Any]:
    """The station as a Device: name, position, code, what it measures."""
    measured = sorted({_CONTROLLED[a] for e in observed for a in e if a in _CONTROLLED})
    return build(Device, id=entity_id("Device", f"jma-amedas-{code}"), name=station["kjName"],
                 serialNumber=code, location=location, deviceCategory=["sensor"],
                 controlledProperty=measured or ["weatherConditions"])


def station_location(station: dict[str, Any]) -> Point:
    """The station table's position, checked to be in Japan."""
    lat = degrees_decimal_minutes(station["lat"])
    lon = degrees_decimal_minutes(station["lon"])
    if not (20 <= lat <= 46 and 122 <= lon <= 154):
        raise ValueError(f"station position outside Japan: {lat}, {lon}")
    return Point(coordinates=(round(lon, 6), round(lat, 6)))
