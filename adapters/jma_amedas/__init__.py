"""JMA AMeDAS map snapshot + station table → WeatherObserved and Device (see README.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from adapters.jma_amedas.mapping import device, station_location, weather_observed
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.base import read_source
from adapters.sdk.dates import JST, iso_jst

__all__ = ["AmedasAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "jma_amedas"
_STAMP = re.compile(r"(\d{14})")
_CODE = re.compile(r"\d{5}")


class AmedasAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {
        "WeatherObserved": ("dateObserved", "location", "refDevice", "name", "quality",
                            "temperature", "relativeHumidity", "atmosphericPressure",
                            "windSpeed", "windDirection", "snowHeight", "precipitation",
                            "precipitationPeriod"),
        "Device": ("name", "serialNumber", "location", "deviceCategory", "controlledProperty"),
    }
    default_source = _FIXTURES / "amedas_map_20250628180000.json"

    def _stations(self) -> dict[str, Any]:
        src = self.options.get("stations", _FIXTURES / "amedastable.json")
        try:
            table = orjson.loads(read_source(src))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SourceError(f"station table {src}: {exc}") from exc
        if not isinstance(table, dict):
            raise SourceError(f"station table {src}: not an object keyed by station code")
        return table

    def _time(self) -> datetime:
        raw = self.options.get("time")
        if raw is None:
            m = _STAMP.search(Path(self.source).name)
            if not m:
                raise SourceError(f"{self.source}: observation time unknown (name the file "
                                  "…YYYYMMDDhhmmss.json or pass the time option)")
            raw = m.group(1)
        return datetime.strptime(str(raw)[:12], "%Y%m%d%H%M").replace(tzinfo=JST)

    def rows(self, text: str) -> Iterator[Outcome]:
        stations_in = _parse(text, self.source)
        if not all(isinstance(v, dict) for _, v in stations_in[:20]):
            raise SourceError(f"{self.source}: not an AMeDAS map (object of station objects)")
        when = self._time()
        observed_at, stamp = iso_jst(when), when.strftime("%Y%m%dT%H%M")
        stations = self._stations()
        prefix = str(self.options.get("prefecture", ""))
        dedup = Dedup()
        for n, (code, elements) in enumerate(stations_in, 1):
            if prefix and not code.startswith(prefix):
                yield Skip(self.source, n, "outside the selected prefecture")
                continue
            raw = f"{code}: {orjson.dumps(elements).decode()}"
            station = stations.get(code)
            if not _CODE.fullmatch(code) or not isinstance(elements, dict):
                yield Quarantine(self.source, n, raw, "not a 5-digit station code with elements")
                continue
            if station is None:
                yield Quarantine(self.source, n, raw, "station not in the station table")
                continue
            try:
                location = station_location(station)
                w = weather_observed(code, elements, station, location, observed_at, stamp)
                d = device(code, station, location, w)
            except (ValueError, KeyError, TypeError) as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            yield dedup.check(Emit(self.source, n, [*w, d], observed_at), raw)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object with a repeated key, as its (key, value) pairs, duplicates kept."""


def _parse(text: str, source: str) -> list[tuple[str, Any]]:
    """The snapshot's (station code, value) pairs in file order, a repeated code kept.

    Objects become dicts as they are parsed; only one with a repeated key is kept as
    ``_Pairs`` (so a station listed twice is seen twice), and only then is the tree walked
    again, to turn nested ``_Pairs`` back into dicts (the last value of a key wins).
    """
    repeated = False

    def hook(items: list[tuple[str, Any]]) -> dict[str, Any] | _Pairs:
        nonlocal repeated
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        repeated = True
        return _Pairs(items)

    try:
        snapshot = json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{source}: not JSON (truncated?): {exc}") from exc
    if not isinstance(snapshot, dict | _Pairs):
        raise SourceError(f"{source}: not an AMeDAS map (object of station objects)")
    pairs = list(snapshot.items()) if isinstance(snapshot, dict) else list(snapshot)
    if repeated:
        pairs = [(code, _as_dict(v)) for code, v in pairs]
    return pairs


def _as_dict(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {k: _as_dict(v) for k, v in value}
    if isinstance(value, dict):
        return {k: _as_dict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_dict(v) for v in value]
    return value
