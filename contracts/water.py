"""River water levels: ``WaterObserved`` (SDM dataModel.Environment) and ``FloodMonitoring``
for a station's warning thresholds, the four Japanese 基準水位.

The thresholds, lowest first (the MLIT terms; all in metres on the station's gauge datum,
the same datum as ``waterLevel``):

* ``standbyLevel``: 水防団待機水位, flood-fighting teams stand by (Renkei term);
* ``alertLevel``: 氾濫注意水位, flood caution: SDM's alert threshold;
* ``evacuationDecisionLevel``: 避難判断水位, municipalities decide on evacuation (Renkei);
* ``dangerLevel``: 氾濫危険水位, flooding is imminent: SDM's danger threshold.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from contracts.base import Contract, Observation, Point, attr, ordered, ref

__all__ = ["FloodMonitoring", "WaterObserved"]


class WaterObserved(Observation):
    """A river water level (and optionally flow) at one station and instant."""

    measured = ("waterLevel", "flow")

    type: Literal["WaterObserved"] = "WaterObserved"
    dateObserved: AwareDatetime = attr(..., description="Instant of the observation.")
    location: Point = attr(..., kind="GeoProperty", description="Where the gauge is.")
    refDevice: str | None = ref("The Device (water-level gauge).")
    name: str | None = attr(description="Station name, e.g. 立ヶ花.")
    waterLevel: float | None = attr(
        unit="MTR", description="Water level in metres on the gauge datum (may be negative)."
    )
    flow: float | None = attr(ge=0, unit="MQS", description="Discharge, m³/s.")


class FloodMonitoring(Contract):
    """A station's flood warning thresholds (reference data, not an observation)."""

    rules = (ordered("standbyLevel", "alertLevel", "evacuationDecisionLevel", "dangerLevel"),)

    type: Literal["FloodMonitoring"] = "FloodMonitoring"
    stationID: str = attr(
        ..., min_length=1, description="The station's code, e.g. 水位観測所コード."
    )
    name: str | None = attr(description="Station name.")
    location: Point | None = attr(kind="GeoProperty", description="Where the station is.")
    refDevice: str | None = ref("The Device whose waterLevel the levels refer to.")
    standbyLevel: float | None = attr(unit="MTR", description="水防団待機水位, metres.")
    alertLevel: float | None = attr(unit="MTR", description="氾濫注意水位, metres.")
    evacuationDecisionLevel: float | None = attr(unit="MTR", description="避難判断水位, metres.")
    dangerLevel: float | None = attr(unit="MTR", description="氾濫危険水位, metres.")
