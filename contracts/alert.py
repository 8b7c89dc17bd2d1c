"""``Alert`` (SDM dataModel.Alert): a situation worth notifying, here a river station's
flood stage as the prefecture's flood watch decides it (services/flood_watch).

The SDM attributes (category, subCategory, severity, alertSource, dateIssued, validFrom,
validTo, location, description, name) keep their SDM meaning; the flood figures the
decision was taken on are Renkei terms beside them, so a subscriber sees in one
notification what changed and why. An Alert entity per station is rewritten only when its
``floodStage`` changes, so a subscription on ``Alert`` is notified once per change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from contracts.base import Contract, Point, attr, ordered, ref

__all__ = ["Alert", "AlertSeverity", "FloodStage"]

AlertSeverity = Literal["informational", "low", "medium", "high", "critical"]
"""SDM Alert ``severity`` values."""
FloodStage = Literal["normal", "standby", "warning", "evacuation", "danger"]
"""The stage of the four Japanese 基準水位 the level has reached (FloodMonitoring)."""


class Alert(Contract):
    """A flood-stage alert of one river station (SDM Alert + Renkei flood figures)."""

    rules = (ordered("validFrom", "validTo"),)

    type: Literal["Alert"] = "Alert"
    category: Literal["weather"] = attr(
        ..., description="SDM Alert category; flood alerts are in `weather`.")
    subCategory: Literal["flood", "floodRisk"] = attr(
        ..., description="SDM Alert subCategory: `floodRisk` below 避難判断水位, `flood` at "
        "or above it.")
    severity: AlertSeverity = attr(..., description="SDM Alert severity of the stage.")
    alertSource: str = attr(
        ..., min_length=1, description="Who raised the alert (the service's name or URI).")
    dateIssued: AwareDatetime = attr(..., description="When this stage was decided.")
    validFrom: AwareDatetime | None = attr(description="From when the stage holds.")
    validTo: AwareDatetime | None = attr(description="Until when it holds, if known.")
    location: Point | None = attr(kind="GeoProperty", description="Where the station is.")
    description: str | None = attr(description="Human-readable summary of the alert.")
    name: str | None = attr(description="Station name.")
    floodStage: FloodStage = attr(
        ..., description="The highest 基準水位 stage the level has reached.")
    refFloodMonitoring: str | None = ref("The station's FloodMonitoring entity.")
    waterLevel: float | None = attr(unit="MTR", description="The level decided on, metres.")
    levelObservedAt: AwareDatetime | None = attr(
        description="When that level was observed.")
    rise1h: float | None = attr(unit="MTR", description="Level change over the last hour.")
    rise3h: float | None = attr(unit="MTR", description="Level change over the last 3 hours.")
    rainfall1h: float | None = attr(
        ge=0, unit="MMT", description="Rain over the last hour at the basin's gauges (max).")
    rainfall3h: float | None = attr(
        ge=0, unit="MMT", description="Rain over the last 3 hours at the basin's gauges (max).")
    rainfall24h: float | None = attr(
        ge=0, unit="MMT", description="Rain over the last 24 hours at the basin's gauges (max).")
    forecastLevel1h: float | None = attr(unit="MTR", description="Forecast level in 1 hour.")
    forecastLevel3h: float | None = attr(unit="MTR", description="Forecast level in 3 hours.")
    forecastModel: str | None = attr(description="The forecasting model used, by name.")
