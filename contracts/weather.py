"""Rain gauges and weather stations: ``Device`` and ``WeatherObserved`` (SDM
dataModel.Device and dataModel.Weather), with Renkei's quality and precipitation period."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AwareDatetime

from contracts.base import Contract, Observation, Point, attr, ref

__all__ = ["ControlledProperty", "Device", "DeviceCategory", "WeatherObserved"]

ControlledProperty = Literal[
    "atmosphericPressure",
    "depth",
    "humidity",
    "location",
    "occupancy",
    "precipitation",
    "snowHeight",
    "solarRadiation",
    "speed",
    "temperature",
    "trafficFlow",
    "waterFlow",
    "waterLevel",
    "weatherConditions",
    "windDirection",
    "windSpeed",
]
"""The SDM ``controlledProperty`` values a Renkei source measures (a subset of SDM's)."""
DeviceCategory = Literal["sensor", "meter", "actuator", "network", "multimedia"]


class Device(Contract):
    """A measuring instrument (rain gauge, water-level gauge, traffic counter), SDM Device."""

    type: Literal["Device"] = "Device"
    controlledProperty: list[ControlledProperty] = attr(
        ..., min_length=1, description="What the device measures (SDM enumeration)."
    )
    deviceCategory: list[DeviceCategory] | None = attr(
        description="Kind of device (SDM enumeration), e.g. sensor."
    )
    name: str | None = attr(description="Name of the device or its station, e.g. 観測所名.")
    serialNumber: str | None = attr(description="Manufacturer's serial number.")
    location: Point | None = attr(kind="GeoProperty", description="Where the device is.")
    dateInstalled: AwareDatetime | None = attr(description="When the device was installed.")
    deviceState: str | None = attr(description="Operational state, e.g. ok, maintenance.")
    batteryLevel: float | None = attr(
        ge=0, le=1, unit="C62", description="Battery level, 0 (empty) to 1 (full)."
    )


class WeatherObserved(Observation):
    """An observation of weather at one place and instant, SDM WeatherObserved."""

    measured = (
        "precipitation",
        "temperature",
        "relativeHumidity",
        "windSpeed",
        "windDirection",
        "atmosphericPressure",
        "snowHeight",
    )

    type: Literal["WeatherObserved"] = "WeatherObserved"
    dateObserved: AwareDatetime = attr(
        ..., description="Instant of the observation (end of the period for amounts)."
    )
    location: Point = attr(..., kind="GeoProperty", description="Where it was observed.")
    refDevice: str | None = ref("The Device (gauge) that made the observation.")
    name: str | None = attr(description="Station name, e.g. 長野.")
    precipitation: float | None = attr(
        ge=0, unit="MMT", description="Amount of rain over precipitationPeriod, millimetres."
    )
    precipitationPeriod: timedelta | None = attr(
        description="Period the precipitation amount covers, ending at dateObserved "
        "(ISO 8601 duration, e.g. PT10M, PT1H)."
    )
    temperature: float | None = attr(unit="CEL", description="Air temperature, °C.")
    relativeHumidity: float | None = attr(
        ge=0, le=1, unit="C62", description="Relative humidity as a fraction, 0 to 1."
    )
    windSpeed: float | None = attr(ge=0, unit="MTS", description="Wind speed, m/s.")
    windDirection: float | None = attr(
        ge=0, le=360, unit="DD", description="Direction the wind blows from, degrees."
    )
    atmosphericPressure: float | None = attr(ge=0, unit="A97", description="Pressure, hPa.")
    snowHeight: float | None = attr(ge=0, unit="CMT", description="Snow depth, centimetres.")
