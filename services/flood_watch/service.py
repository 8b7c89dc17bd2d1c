"""The flood watch: for each river station, its stage against its thresholds, rise, basin
rain and forecast; an ``Alert`` per station written back only when the stage changes.

Everything goes through ``HubClient`` (HTTP as the prefecture's OAuth client): stations
are the ``FloodMonitoring`` entities it may read, levels and rain what its grants show,
and its Alerts land in the prefecture's own dataset like any owner's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

from contracts import Alert, Point, to_ngsi_ld
from contracts.alert import FloodStage
from services.flood_watch.client import NGSI, HubClient, HubError
from services.flood_watch.forecast import DailyPattern, Forecaster
from services.flood_watch.levels import SEVERITY, Stage, Thresholds, classify
from services.flood_watch.readings import level_history, rain_by_gauge
from services.flood_watch.series import accumulate, level_at, rise

__all__ = ["Assessment", "FloodWatch", "Settings", "Station", "alert_id"]

log = logging.getLogger("renkei.flood_watch")
HOUR = timedelta(hours=1)
STAGE_JA = {Stage.normal: "平常", Stage.standby: "水防団待機水位",
            Stage.warning: "氾濫注意水位", Stage.evacuation: "避難判断水位",
            Stage.danger: "氾濫危険水位"}


@dataclass(frozen=True)
class Settings:
    """What the service is told (``renkei flood-watch --help``)."""

    basin_radius_m: float = 10_000.0
    """Rain gauges within this distance of a station count as its basin ..."""
    basins: dict[str, dict[str, Any]] = field(default_factory=dict)
    """... unless the station's code has a configured basin polygon (GeoJSON Polygon)."""
    stale_after: timedelta = timedelta(hours=2)
    """A station whose newest level is older than this gets no decision (stage kept)."""
    interval: float = 600.0
    alert_source: str = "urn:ngsi-ld:Service:renkei-flood-watch"


@dataclass(frozen=True)
class Station:
    """A river station as its ``FloodMonitoring`` entity describes it."""

    monitoring_id: str
    station_id: str
    device: str
    name: str | None
    location: dict[str, Any] | None
    thresholds: Thresholds

    @classmethod
    def from_entity(cls, e: dict[str, Any]) -> Station | None:
        """None for a FloodMonitoring without the gauge its levels refer to."""
        device = e.get("refDevice")
        if not isinstance(device, str) or not isinstance(e.get("stationID"), str):
            return None
        loc = e.get("location")
        return cls(e["id"], e["stationID"], device, e.get("name"),
                   loc if isinstance(loc, dict) else None, Thresholds.from_flood_monitoring(e))


@dataclass(frozen=True)
class Assessment:
    """One station at one instant."""

    station: Station
    at: datetime
    level: float | None
    observed_at: datetime | None
    stage: Stage | None
    rise1h: float | None = None
    rise3h: float | None = None
    rain: dict[str, float] = field(default_factory=dict)  # "1h"/"3h"/"24h" -> mm (max)
    forecast: dict[str, float] = field(default_factory=dict)  # "1h"/"3h" -> m
    written: bool = False


def alert_id(station_id: str) -> str:
    """The one Alert entity of a station."""
    return f"urn:ngsi-ld:Alert:flood-watch:{station_id}"


class FloodWatch:
    """One flood watch over one hub. ``run_once`` is a full cycle; ``run`` repeats it."""

    def __init__(self, hub: HubClient, settings: Settings | None = None,
                 forecaster: Forecaster | None = None) -> None:
        self.hub = hub
        self.settings = settings or Settings()
        self.forecaster: Forecaster = forecaster or DailyPattern()
        self._stages: dict[str, Stage | None] = {}
        self.alerts_written = 0

    async def stations(self) -> list[Station]:
        found = await self.hub.entities({"type": "FloodMonitoring"})
        return [s for e in found if (s := Station.from_entity(e)) is not None]

    def _geo(self, station: Station) -> dict[str, str] | None:
        polygon = self.settings.basins.get(station.station_id)
        if polygon is not None:
            return {"georel": "within", "geometry": "Polygon",
                    "coordinates": _coords(polygon["coordinates"])}
        if station.location is None:
            return None
        return {"georel": f"near;maxDistance=={self.settings.basin_radius_m:g}",
                "geometry": "Point", "coordinates": _coords(station.location["coordinates"])}

    async def assess(self, station: Station, now: datetime) -> Assessment:
        # 27 h: the rise needs 3 h, the daily-pattern forecast yesterday's same hours
        history = await level_history(self.hub, station.device,
                                      now - 27 * HOUR - timedelta(minutes=20), now)
        level = level_at(history, now, self.settings.stale_after)
        if level is None:
            return Assessment(station, now, None, None, None)
        observed = max(r.at for r in history if r.at <= now)
        known = [r for r in history if r.at <= now]
        forecast = {}
        for label, horizon in (("1h", HOUR), ("3h", 3 * HOUR)):
            predicted = self.forecaster.predict(known, horizon)
            if predicted is not None:
                forecast[label] = round(predicted, 3)
        rain: dict[str, float] = {}
        geo = self._geo(station)
        if geo is not None:
            gauges = await rain_by_gauge(self.hub, geo, now - 24 * HOUR, now)
            if gauges:
                for label, hours in (("1h", 1), ("3h", 3), ("24h", 24)):
                    rain[label] = max(accumulate(s, now, hours * HOUR) for s in gauges.values())
        return Assessment(station, now, level, observed, classify(level, station.thresholds),
                          rise(history, now, HOUR), rise(history, now, 3 * HOUR), rain,
                          forecast)

    async def _previous(self, station: Station) -> Stage | None:
        """The stage last published (the hub's Alert, read once per process start)."""
        if station.station_id not in self._stages:
            try:
                _, body = await self.hub.request(
                    "GET", f"{NGSI}/entities/{quote(alert_id(station.station_id), safe='')}",
                    params={"options": "keyValues", "attrs": "floodStage"})
            except HubError as exc:
                if exc.status != 404:
                    raise
                body = None
            stage = body.get("floodStage") if isinstance(body, dict) else None
            self._stages[station.station_id] = (
                Stage[stage] if isinstance(stage, str) and stage in Stage.__members__ else None)
        return self._stages[station.station_id]

    async def run_once(self, now: datetime | None = None) -> list[Assessment]:
        """One cycle at ``now`` (the wall clock by default; tests replay recorded time)."""
        now = now or datetime.now(UTC)
        out = []
        for station in await self.stations():
            a = await self.assess(station, now)
            if a.stage is not None:
                before = await self._previous(station)
                if a.stage != before and not (before is None and a.stage == Stage.normal):
                    await self.hub.upsert([_alert_entity(a, self.settings.alert_source,
                                                         self.forecaster.name)])
                    self._stages[station.station_id] = a.stage
                    self.alerts_written += 1
                    a = Assessment(**{**a.__dict__, "written": True})
                    log.info("flood watch: %s %s -> %s (%.2f m)", station.station_id,
                             before.name if before else "-", a.stage.name if a.stage else "-",
                             a.level or 0)
            out.append(a)
        return out

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Cycle every ``interval`` seconds until ``stop``; a failed cycle is logged and
        retried at the next one (the hub may be restarting)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except (HubError, OSError) as exc:
                log.warning("flood watch cycle failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval)


def _coords(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _alert_entity(a: Assessment, source: str, model: str) -> dict[str, Any]:
    assert a.stage is not None and a.level is not None
    s = a.station
    label = s.name or s.station_id
    rise_text = f", {a.rise1h:+.2f} m in 1 h" if a.rise1h is not None else ""
    text = (f"{label}: {STAGE_JA[a.stage]} ({a.stage.name}), level {a.level:.2f} m"
            f"{rise_text}")
    alert = Alert(
        id=alert_id(s.station_id), category="weather",
        subCategory="flood" if a.stage >= Stage.evacuation else "floodRisk",
        severity=SEVERITY[a.stage], alertSource=source, dateIssued=a.at,
        validFrom=a.observed_at, location=Point(**s.location) if s.location else None,
        description=text, name=s.name, floodStage=cast(FloodStage, a.stage.name),
        refFloodMonitoring=s.monitoring_id, waterLevel=a.level, levelObservedAt=a.observed_at,
        rise1h=a.rise1h, rise3h=a.rise3h, rainfall1h=a.rain.get("1h"),
        rainfall3h=a.rain.get("3h"), rainfall24h=a.rain.get("24h"),
        forecastLevel1h=a.forecast.get("1h"), forecastLevel3h=a.forecast.get("3h"),
        forecastModel=model if a.forecast else None)
    return to_ngsi_ld(alert, include_context=False)
