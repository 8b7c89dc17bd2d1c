"""Flood stages of a river station: the reading against the four Japanese 基準水位.

Pure: no I/O. A stage is decided by the current reading alone (no hysteresis), exactly as
MLIT defines the levels, so the stage a reading gets can be checked against the published
thresholds by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from contracts.alert import AlertSeverity

__all__ = ["SEVERITY", "Stage", "Thresholds", "classify"]


class Stage(IntEnum):
    """Ordered flood stages; the value orders them (a higher stage is more dangerous)."""

    normal = 0
    standby = 1  # 水防団待機水位: flood-fighting teams stand by
    warning = 2  # 氾濫注意水位: flood caution (SDM alertLevel)
    evacuation = 3  # 避難判断水位: municipalities decide on evacuation
    danger = 4  # 氾濫危険水位: flooding imminent (SDM dangerLevel)


SEVERITY: dict[Stage, AlertSeverity] = {
    Stage.normal: "informational",
    Stage.standby: "low",
    Stage.warning: "medium",
    Stage.evacuation: "high",
    Stage.danger: "critical",
}
"""The SDM Alert ``severity`` each stage is published with."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A station's thresholds in metres on its gauge datum; None where not published."""

    standby: float | None = None
    warning: float | None = None
    evacuation: float | None = None
    danger: float | None = None

    @classmethod
    def from_flood_monitoring(cls, entity: dict[str, Any]) -> Thresholds:
        """From a ``FloodMonitoring`` entity in keyValues form (the contract's attribute
        names: standbyLevel, alertLevel, evacuationDecisionLevel, dangerLevel)."""

        def num(name: str) -> float | None:
            value = entity.get(name)
            if isinstance(value, dict):  # normalized form
                value = value.get("value")
            return float(value) if isinstance(value, int | float) else None

        return cls(num("standbyLevel"), num("alertLevel"), num("evacuationDecisionLevel"),
                   num("dangerLevel"))

    def by_stage(self) -> list[tuple[Stage, float]]:
        """The published thresholds, lowest stage first."""
        pairs = [(Stage.standby, self.standby), (Stage.warning, self.warning),
                 (Stage.evacuation, self.evacuation), (Stage.danger, self.danger)]
        return [(s, v) for s, v in pairs if v is not None]


def classify(level: float, thresholds: Thresholds) -> Stage:
    """The highest stage whose threshold the level has reached (``>=``: MLIT's levels are
    reached when the water stands at them)."""
    stage = Stage.normal
    for candidate, threshold in thresholds.by_stage():
        if level >= threshold:
            stage = max(stage, candidate)
    return stage
