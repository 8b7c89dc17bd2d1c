"""Traffic counts: ``TrafficFlowObserved`` (SDM dataModel.Transportation), one lane or
direction over one counting period, with Renkei's quality."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from contracts.base import Geometry, Observation, attr, ordered, ref

__all__ = ["TrafficFlowObserved", "VehicleType"]

VehicleType = Literal[
    "agriculturalVehicle",
    "bicycle",
    "bus",
    "minibus",
    "car",
    "caravan",
    "tram",
    "tanker",
    "carWithCaravan",
    "carWithTrailer",
    "lorry",
    "moped",
    "motorcycle",
    "motorcycleWithSideCar",
    "motorscooter",
    "trailer",
    "van",
    "constructionOrMaintenanceVehicle",
    "trolley",
    "binTrolley",
    "sweepingMachine",
    "cleaningTrolley",
]
"""SDM's vehicle types."""


class TrafficFlowObserved(Observation):
    """Vehicles counted over [dateObservedFrom, dateObservedTo]."""

    measured = (
        "intensity",
        "averageVehicleSpeed",
        "occupancy",
        "averageHeadwayTime",
        "averageVehicleLength",
    )
    observed_at = "dateObservedTo"
    rules = (ordered("dateObservedFrom", "dateObservedTo", strict=True),)

    type: Literal["TrafficFlowObserved"] = "TrafficFlowObserved"
    dateObserved: AwareDatetime | None = attr(
        description="Instant the observation was made, if it differs from dateObservedTo."
    )
    dateObservedFrom: AwareDatetime = attr(..., description="Start of the counting period.")
    dateObservedTo: AwareDatetime = attr(..., description="End of the counting period.")
    location: Geometry | None = attr(kind="GeoProperty", description="Counting point or section.")
    refRoadSegment: str | None = ref("The RoadSegment counted.")
    refDevice: str | None = ref("The Device (counter) that counted.")
    laneId: int | None = attr(ge=1, description="Lane number (SDM/OpenStreetMap convention).")
    laneDirection: Literal["forward", "backward"] | None = attr(
        description="Usual direction of travel in the lane."
    )
    vehicleType: VehicleType | None = attr(description="Vehicle class counted; absent: all.")
    intensity: int | None = attr(ge=0, description="Vehicles counted in the period.")
    averageVehicleSpeed: float | None = attr(ge=0, unit="KMH", description="Mean speed, km/h.")
    occupancy: float | None = attr(
        ge=0, le=1, unit="C62", description="Fraction of the period a vehicle occupied the lane."
    )
    averageHeadwayTime: float | None = attr(ge=0, unit="SEC", description="Mean headway, s.")
    averageVehicleLength: float | None = attr(ge=0, unit="MTR", description="Mean length, m.")
    congested: bool | None = attr(description="Whether the lane was congested (渋滞).")
    reversedLane: bool | None = attr(description="Whether the lane was reversed.")
