"""The prefecture's flood watch (issue #16): a service built only on the hub's public API.

For each river station (a ``FloodMonitoring`` entity and its gauge's ``WaterObserved``
readings) it decides the flood stage, the rise over 1 h / 3 h, the rain over 1 h / 3 h /
24 h at the basin's gauges and a forecast, and publishes an SDM ``Alert`` per station when
the stage changes. See docs/flood-watch.md.
"""

from services.flood_watch.client import HubClient, HubError
from services.flood_watch.forecast import (
    DailyPattern,
    Forecaster,
    LinearTrend,
    Persistence,
    Skill,
    skill,
)
from services.flood_watch.levels import SEVERITY, Stage, Thresholds, classify
from services.flood_watch.series import Reading, accumulate, rise
from services.flood_watch.service import Assessment, FloodWatch, Settings, Station, alert_id

__all__ = [
    "SEVERITY",
    "Assessment",
    "DailyPattern",
    "FloodWatch",
    "Forecaster",
    "HubClient",
    "HubError",
    "LinearTrend",
    "Persistence",
    "Reading",
    "Settings",
    "Skill",
    "Stage",
    "Station",
    "Thresholds",
    "accumulate",
    "alert_id",
    "classify",
    "rise",
    "skill",
]
